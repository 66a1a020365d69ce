package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSummarizeAndPrint(t *testing.T) {
	sides := [2]side{{name: "storeedge", kind: kindStoreedge}, {name: "mosquitto", kind: kindMosquitto}}
	sc := scenario{name: "qos1-fanin", kind: kindLoad}
	load := func(rate float64, lost int64) *loadResult {
		return &loadResult{Rate: rate, P50Ms: rate / 1000, P99Ms: rate / 100, CPUPer100k: 1, Lost: lost, Drained: true}
	}
	recs := []runRecord{
		{Scenario: sc.name, Broker: "storeedge", Rep: 1, Load: load(100, 0)},
		{Scenario: sc.name, Broker: "mosquitto", Rep: 1, Load: load(400, 0)},
		{Scenario: sc.name, Broker: "storeedge", Rep: 2, Load: load(300, 2)},
		{Scenario: sc.name, Broker: "mosquitto", Rep: 2, Load: load(200, 0)},
		{Scenario: sc.name, Broker: "storeedge", Rep: 3, Load: load(200, 1)},
		{Scenario: sc.name, Broker: "mosquitto", Rep: 3, Error: "boom\nmore"},
		{Scenario: "other", Broker: "storeedge", Rep: 1, Load: load(1e9, 99)},
	}
	s := summarize(sc, sides, recs)
	a, b := s.Sides[0], s.Sides[1]
	if a.Runs != 3 || a.Rate != 200 || a.Lost != 3 || a.P50Ms != 0.2 {
		t.Errorf("storeedge summary = %+v", a)
	}
	if b.Runs != 3 || b.Failed != 1 || b.Rate != 300 {
		t.Errorf("mosquitto summary = %+v", b)
	}
	if math.Abs(s.Ratio-200.0/300) > 1e-9 {
		t.Errorf("ratio = %v", s.Ratio)
	}

	var out bytes.Buffer
	printReport(&out, "hdr", sides, []scenarioSummary{s}, recs, options{duration: 5 * time.Second, idleClients: 1000})
	got := out.String()
	for _, want := range []string{"qos1-fanin", "200", "300", "0.67", "3/0/0", "(1 failed)", "mosquitto rep 3: boom …"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}

func TestLossBesideEachOther(t *testing.T) {
	sides := [2]side{{name: "storeedge", kind: kindStoreedge}, {name: "mosquitto", kind: kindMosquitto}}
	fanout := scenario{name: "qos0-fanout", kind: kindLoad}
	publish := scenario{name: "qos1-publish", kind: kindLoad}
	recs := []runRecord{
		{Scenario: fanout.name, Broker: "storeedge", Rep: 1, Load: &loadResult{Rate: 1, Delivered: 999000, Lost: 1000, Drained: true}},
		{Scenario: fanout.name, Broker: "mosquitto", Rep: 1, Load: &loadResult{Rate: 1, Delivered: 1200000, Drained: true}},
		{Scenario: fanout.name, Broker: "storeedge", Rep: 2, Load: &loadResult{Rate: 1, Delivered: 1000000, Lost: 0, Drained: true}},
		{Scenario: publish.name, Broker: "storeedge", Rep: 1, Load: &loadResult{Rate: 1, Lost: -1, Drained: true}},
		{Scenario: publish.name, Broker: "mosquitto", Rep: 1, Load: &loadResult{Rate: 1, Lost: -1, Drained: true}},
	}
	sums := []scenarioSummary{summarize(fanout, sides, recs), summarize(publish, sides, recs)}
	if a := sums[0].Sides[0]; a.Lost != 1000 || a.Delivered != 1999000 {
		t.Errorf("storeedge qos0-fanout = %+v", a)
	}
	var out bytes.Buffer
	printReport(&out, "hdr", sides, sums, recs, options{duration: 5 * time.Second})
	got := out.String()
	want := "  qos0-fanout: storeedge 1000 of 2000000 (0.05 %), mosquitto 0 of 1200000 (0 %)\n"
	if !strings.Contains(got, want) {
		t.Errorf("report lacks %q:\n%s", want, got)
	}
	if strings.Contains(got, "  qos1-publish:") {
		t.Errorf("loss line for a scenario without subscribers:\n%s", got)
	}
	b, err := json.Marshal(nanSafe(sums))
	if err != nil || !strings.Contains(string(b), `"lost":1000,"delivered":1999000`) {
		t.Errorf("JSON summary: %v\n%s", err, b)
	}
}

func TestParseMetrics(t *testing.T) {
	body := []byte(`# HELP storeedge_connections x
storeedge_connections 101
storeedge_messages_dropped_total{reason="slow_subscriber"} 3
storeedge_store_commit_seconds_bucket{le="0.001"} 48
storeedge_store_commit_seconds_sum 0.05
go_goroutines 12
`)
	m := parseMetrics(body, "storeedge_")
	if len(m) != 3 || m["storeedge_connections"] != 101 || m[`storeedge_messages_dropped_total{reason="slow_subscriber"}`] != 3 {
		t.Errorf("parseMetrics = %v", m)
	}
}

func TestSelectScenarios(t *testing.T) {
	got, err := selectScenarios(" startup,qos0-publish ")
	if err != nil || len(got) != 2 || got[0].name != "qos0-publish" || got[1].name != "startup" {
		t.Errorf("selectScenarios = %v, %v", got, err)
	}
	if _, err := selectScenarios("qos2-publish"); err == nil {
		t.Error("unknown scenario accepted")
	}
	all, _ := selectScenarios("")
	if len(all) != 11 {
		t.Errorf("all scenarios = %d", len(all))
	}
}
