package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

func TestReadGate(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("abcdef"))
		time.Sleep(5 * time.Second) // keep the connection open
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	g := newReadGate()
	c := &bufConn{TCPConn: nc.(*net.TCPConn), r: bufio.NewReader(nc), gate: g}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "abc" {
		t.Fatalf("open gate: %q, %v", buf, err)
	}

	// Shut: a read is held although "def" is buffered.
	g.shut()
	g.shut() // twice is once
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 3)
		_, err := io.ReadFull(c, b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	}()
	select {
	case s := <-got:
		t.Fatalf("read passed a shut gate: %q", s)
	case <-time.After(100 * time.Millisecond):
	}
	g.reopen()
	g.reopen()
	select {
	case s := <-got:
		if s != "def" {
			t.Errorf("after reopen: %q", s)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("read still held after reopen")
	}

	// Close releases a held read, which then fails.
	g.shut()
	errc := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	_ = c.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("read on a closed connection succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not release the held read")
	}
}

func TestConnEnd(t *testing.T) {
	marks := 0
	e := newConnEnd(func() []uint64 { marks++; return []uint64{7} })
	e.clientError(errors.New("read: connection reset by peer"))
	e.clientError(errors.New("again"))
	e.serverDisconnect(&paho.Disconnect{ReasonCode: 0x97, Properties: &paho.DisconnectProperties{ReasonString: "slow"}})
	if !e.close() || e.reason != 0x97 || e.reasonString != "slow" || e.err != "" || marks != 1 || e.mark[0] != 7 {
		t.Errorf("connEnd = %+v, marks %d", e, marks)
	}

	// What paho reports once the bench closes is the bench's own doing.
	e = newConnEnd(nil)
	if e.close() {
		t.Error("ended before anything happened")
	}
	e.clientError(io.EOF)
	if e.hasEnded() {
		t.Error("the bench's own close counted as an end")
	}
}

func TestEndingLabel(t *testing.T) {
	for _, c := range []struct {
		st   stalledResult
		want string
	}{
		{stalledResult{Ended: "connected"}, "connected"},
		{stalledResult{Ended: "disconnected", Reason: "0x97"}, "DISCONNECT 0x97 quota exceeded"},
		{stalledResult{Ended: "disconnected", Reason: "0x89", ReasonString: "busy"}, `DISCONNECT 0x89 server busy "busy"`},
		{stalledResult{Ended: "disconnected", Reason: "0xa2"}, "DISCONNECT 0xa2"},
		{stalledResult{Ended: "closed", ClientError: "EOF"}, "closed without DISCONNECT (EOF)"},
		{stalledResult{Ended: "closed", ClientError: "read tcp 1->2: read: connection reset by peer"}, "closed without DISCONNECT (reset)"},
	} {
		if got := endingLabel(&c.st); got != c.want {
			t.Errorf("endingLabel(%+v) = %q, want %q", c.st, got, c.want)
		}
	}
	if got := endings(map[string]int{"connected": 1, "DISCONNECT 0x97 quota exceeded": 2}); got != "DISCONNECT 0x97 quota exceeded x2, connected x1" {
		t.Errorf("endings = %q", got)
	}
	if got := endings(map[string]int{"connected": 1}); got != "connected" {
		t.Errorf("endings of one rep = %q", got)
	}
}

func TestSummarizeAndPrintStall(t *testing.T) {
	sides := [2]side{{name: "storeedge", kind: kindStoreedge}, {name: "mosquitto", kind: kindMosquitto}}
	sc := scenario{name: scenarioStall, kind: kindStall}
	rep := func(healthyB float64, st *stalledResult, stP *stalledResult) *stallResult {
		return &stallResult{Passes: []*stallPass{
			{Pass: "none", PubRate: 5000, Healthy: 5000, P99Ms: 2, Drained: true},
			{Pass: "clean", PubRate: 5000, Healthy: healthyB, P99Ms: 900, Lost: 3, Drained: true, Stalled: st},
			{Pass: "persistent", PubRate: 4000, Healthy: 4000, P99Ms: 50, Drained: false, Stalled: stP},
		}}
	}
	cut := &stalledResult{Ended: "disconnected", Reason: "0x97", Published: 100000, Received: 60000, Lost: 40000, Skipped: 30000, CutOff: 10000}
	kept := &stalledResult{Ended: "connected", Published: 100000, Received: 100000}
	resumed := &stalledResult{Persistent: true, Ended: "closed", ClientError: "EOF", Published: 100000, Received: 99000, Lost: 1000, CutOff: 1000, Reconnected: true, AfterReconnect: 20000}
	recs := []runRecord{
		{Scenario: sc.name, Broker: "storeedge", Rep: 1, Stall: rep(3000, cut, resumed)},
		{Scenario: sc.name, Broker: "mosquitto", Rep: 1, Stall: rep(5000, kept, kept)},
		{Scenario: sc.name, Broker: "storeedge", Rep: 2, Stall: rep(3500, cut, resumed)},
		{Scenario: sc.name, Broker: "mosquitto", Rep: 2, Stall: rep(4900, kept, kept)},
		{Scenario: sc.name, Broker: "storeedge", Rep: 3, Stall: &stallResult{}, Error: "pass clean: boom"},
	}
	s := summarize(sc, sides, recs)
	a := s.Sides[0]
	if a.Runs != 3 || a.Failed != 1 || a.Undrained != 2 || len(a.Stall) != 3 {
		t.Fatalf("storeedge summary = %+v", a)
	}
	b := a.Stall[1]
	if b.Healthy != 3250 || b.HealthyRatio != 0.65 || b.PubRatio != 1 || b.Lost != 6 ||
		b.Published != 200000 || b.Received != 120000 || b.Skipped != 60000 || b.CutOff != 20000 || b.Endings["DISCONNECT 0x97 quota exceeded"] != 2 {
		t.Errorf("storeedge pass clean = %+v", b)
	}
	if c := a.Stall[2]; c.Reconnected != 2 || c.AfterReconnect != 40000 || c.PubRatio != 0.8 {
		t.Errorf("storeedge pass persistent = %+v", c)
	}
	if !math.IsNaN(a.Stall[0].HealthyRatio) {
		t.Errorf("pass none has a ratio: %v", a.Stall[0].HealthyRatio)
	}
	if math.Abs(s.Ratio-3250.0/4950) > 1e-9 {
		t.Errorf("ratio = %v", s.Ratio)
	}

	var out bytes.Buffer
	opt := options{duration: 5 * time.Second, stall: 15 * time.Second}
	printReport(&out, "hdr", sides, []scenarioSummary{s}, recs, opt)
	got := out.String()
	for _, want := range []string{
		"paced at 5000 publishes/s", "stops reading its socket for 15s, 2.5s into the 20s window",
		"b: stalled, clean session", "0.65", "MISSED", "met", "120000/200000", "60000/20000",
		"DISCONNECT 0x97 quota exceeded x2", "closed without DISCONNECT (EOF) x2", "40000", "(1 failed)",
		"ratio (storeedge/mosquitto, healthy msg/s in pass b): 0.66", "stalled-subscriber storeedge rep 3: pass clean: boom",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if _, err := json.Marshal(nanSafe([]scenarioSummary{s})); err != nil {
		t.Errorf("JSON: %v", err)
	}
	if !math.IsNaN(s.Sides[0].Stall[0].HealthyRatio) {
		t.Error("nanSafe changed the summary it was given")
	}
}

func TestStallOptions(t *testing.T) {
	opt := options{reps: 1, duration: time.Second, window: 16, idleClients: 1, startupMsgs: 1, chatWindow: 1, chatConvs: 1,
		historyMsgs: 1, cameraSessions: 1, cameraViewers: 1, cameraWindow: time.Second, stall: 15 * time.Second}
	if err := opt.validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
	for _, d := range []time.Duration{0, time.Millisecond, 61 * time.Second} {
		o := opt
		o.stall = d
		if o.validate() == nil {
			t.Errorf("-stall %v accepted", d)
		}
	}
	if r := stallRateFor(opt); r != stallRate {
		t.Errorf("default rate %v", r)
	}
	opt.rate = 2000
	if r := stallRateFor(opt); r != 2000 {
		t.Errorf("-rate 2000 gives %v", r)
	}
}
