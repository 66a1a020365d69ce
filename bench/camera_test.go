package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseRelayLog(t *testing.T) {
	log := `{"time":"2026-11-21T15:00:00Z","level":"INFO","msg":"camera: watching","camera":"cam-bench-0","session":"w-1","viewer":"v"}
{"time":"2026-11-21T15:00:01Z","level":"INFO","msg":"camera: session ended","camera":"cam-bench-0","session":"w-1","viewer":"v","reason":"closed"}
pion: some plain text that mentions camera: session ended
{"level":"INFO","msg":"camera: session ended","session":"w-2","reason":"timeout"}
{"level":"INFO","msg":"camera: session ended","session":"w-3"`
	ended, used := parseRelayLog([]byte(log))
	if len(ended) != 2 || ended[0].Session != "w-1" || ended[0].Reason != "closed" || ended[1].Session != "w-2" || ended[1].Reason != "timeout" {
		t.Errorf("ended = %+v", ended)
	}
	if rest := log[used:]; !strings.HasPrefix(rest, `{"level":"INFO","msg":"camera: session ended","session":"w-3"`) {
		t.Errorf("left for the next read: %q", rest)
	}
	// The rest of the last line arrives later.
	ended, used2 := parseRelayLog([]byte(log[used:] + `,"reason":"closed"}` + "\n"))
	if len(ended) != 1 || ended[0].Session != "w-3" || used2 != len(log)-used+len(`,"reason":"closed"}`)+1 {
		t.Errorf("second read: %+v, used %d", ended, used2)
	}
	if ended, used := parseRelayLog(nil); len(ended) != 0 || used != 0 {
		t.Errorf("empty: %+v %d", ended, used)
	}
}

func TestParseNetDevTx(t *testing.T) {
	dev := `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 123456789  1000    0    0    0     0          0         0 987654321  2000    0    0    0     0       0          0
  eth0:   5000      50    0    0    0     0          0         0     6000      60    0    0    0     0       0          0
`
	if n, err := parseNetDevTx([]byte(dev), "lo"); err != nil || n != 987654321 {
		t.Errorf("lo tx = %d, %v", n, err)
	}
	if n, err := parseNetDevTx([]byte(dev), "eth0"); err != nil || n != 6000 {
		t.Errorf("eth0 tx = %d, %v", n, err)
	}
	if _, err := parseNetDevTx([]byte(dev), "wlan0"); err == nil {
		t.Error("missing interface accepted")
	}
	if _, err := parseNetDevTx([]byte("  lo: 1 2 3\n"), "lo"); err == nil {
		t.Error("short line accepted")
	}
}

func TestSummarizeTTFF(t *testing.T) {
	var s []ttff
	for i := 1; i <= 20; i++ {
		// first frame at i*10 ms, connected 5 ms before
		s = append(s, ttff{WatchMs: 1, ConnectMs: float64(i*10 - 5), FrameMs: float64(i * 10)})
	}
	got := summarizeTTFF(s)
	if got.N != 20 || got.P50Ms != 100 || got.P95Ms != 190 || got.MaxMs != 200 || got.WatchP50Ms != 1 ||
		got.ConnP50Ms != 95 || got.ConnP95Ms != 185 || got.AfterP50Ms != 5 || got.AfterP95Ms != 5 {
		t.Errorf("summarizeTTFF = %+v", got)
	}
	if z := summarizeTTFF(nil); z != (ttffSum{}) {
		t.Errorf("no sessions: %+v", z)
	}
	if _, err := json.Marshal(summarizeTTFF(nil)); err != nil {
		t.Errorf("JSON of no sessions: %v", err)
	}
}

func TestMergeTTFF(t *testing.T) {
	got := mergeTTFF([]ttffSum{
		{N: 50, P50Ms: 40, P95Ms: 60, MaxMs: 90, ConnP50Ms: 10},
		{},
		{N: 50, P50Ms: 50, P95Ms: 80, MaxMs: 300, ConnP50Ms: 20},
		{N: 50, P50Ms: 45, P95Ms: 70, MaxMs: 100, ConnP50Ms: 15},
	})
	if got.N != 150 || got.P50Ms != 45 || got.P95Ms != 70 || got.MaxMs != 300 || got.ConnP50Ms != 15 {
		t.Errorf("mergeTTFF = %+v", got)
	}
	if none := mergeTTFF([]ttffSum{{}}); none.N != 0 || !math.IsNaN(none.P95Ms) || !math.IsNaN(none.MaxMs) {
		t.Errorf("no sessions: %+v", none)
	}
}

func TestFrameSpreadAndVerdict(t *testing.T) {
	if lo, med := frameSpread([]int{300, 299, 301, 250}); lo != 250 || med != 299.5 {
		t.Errorf("frameSpread = %d, %v", lo, med)
	}
	if lo, med := frameSpread(nil); lo != 0 || med != 0 {
		t.Errorf("frameSpread(nil) = %d, %v", lo, med)
	}
	for p95, want := range map[float64]string{50: "met", 300: "met", 301: "MISSED", math.NaN(): "-"} {
		if got := cameraVerdict(p95); got != want {
			t.Errorf("cameraVerdict(%v) = %q, want %q", p95, got, want)
		}
	}
}

func TestCameraSummaryAndReport(t *testing.T) {
	sides := [2]side{{name: "storeedge", kind: kindStoreedge}, {name: "mosquitto", kind: kindMosquitto}}
	sc := scenario{name: "camera", kind: kindCamera, storeedgeOnly: true}
	win := func(viewers int, cpu, rss float64) *relayWindow {
		f := make([]int, viewers)
		for i := range f {
			f[i] = 300 - i
		}
		lo, med := frameSpread(f)
		return &relayWindow{Viewers: viewers, Seconds: 10, CPUPct: cpu, RSSMB: rss, BenchCPU: 1, Frames: f, FramesMin: lo, FramesMedian: med, PayloadMbps: 0.25 * float64(viewers)}
	}
	res := func(warmP95, cpu20 float64) *cameraResult {
		return &cameraResult{
			Viewers: 20, FirstWatchMs: 40, JoinAllMs: 700,
			One: win(1, 2, 30), Many: win(20, cpu20, 49), PerViewerCPUPct: (cpu20 - 2) / 19, PerViewerRSSMB: 1,
			Warm: &ttffPass{Sessions: 50, Stats: ttffSum{N: 50, P50Ms: 45, P95Ms: warmP95, MaxMs: warmP95 + 10}},
			Cold: &ttffPass{Sessions: 20, Stats: ttffSum{N: 20, P50Ms: 60, P95Ms: 400, MaxMs: 500}},
		}
	}
	failedRun := res(1000, 100)
	failedRun.Warm.Failed = 2
	recs := []runRecord{
		{Scenario: sc.name, Broker: "storeedge", Rep: 1, Camera: res(50, 8)},
		{Scenario: sc.name, Broker: "storeedge", Rep: 2, Camera: res(70, 12)},
		{Scenario: sc.name, Broker: "storeedge", Rep: 3, Camera: failedRun, Error: "warm pass: 2 of 50 sessions without a picture"},
	}
	s := summarize(sc, sides, recs)
	x := s.Sides[0]
	c := x.Camera
	if x.Runs != 3 || x.Failed != 1 || x.Errors != 2 || c == nil {
		t.Fatalf("summary = %+v", x)
	}
	if c.Warm.N != 100 || c.Warm.P95Ms != 60 || c.Warm.MaxMs != 80 || c.Cold.P95Ms != 400 || c.ManyCPUPct != 10 || c.OneCPUPct != 2 ||
		c.ManyFramesMin != 281 || c.OneFramesMed != 300 || c.ManyOutMbps != 5 || c.OneBenchPct != 10 {
		t.Errorf("camera summary = %+v", c)
	}
	if s.Sides[1].Camera != nil || !math.IsNaN(s.Ratio) {
		t.Errorf("mosquitto side %+v, ratio %v", s.Sides[1], s.Ratio)
	}

	var out bytes.Buffer
	printReport(&out, "hdr", sides, []scenarioSummary{s}, recs, options{duration: 5 * time.Second, cameraViewers: 20})
	got := out.String()
	for _, want := range []string{"camera relay: storeedge only", "median of 2 reps (1 failed)", "warm (upstream lingering", "cold (upstream negotiated",
		"p95 <= 300 ms", "met", "MISSED", "281/290", "per extra viewer (1 -> 20)", "2 watch sessions got no picture", "rep 3: warm pass"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "mosquitto msg/s") {
		t.Errorf("camera printed in the side-by-side table:\n%s", got)
	}
	if _, err := json.Marshal(nanSafe([]scenarioSummary{summarize(sc, sides, recs[2:])})); err != nil {
		t.Errorf("JSON summary with no successful rep: %v", err)
	}
	if _, err := json.Marshal(recs); err != nil {
		t.Errorf("JSON runs: %v", err)
	}
}
