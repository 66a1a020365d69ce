package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestSendBody(t *testing.T) {
	b := sendBody("s-42", "send-007")
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if r["id"] != "s-42" || r["v"] != 1.0 || r["conversation"] != "send-007" || r["kind"] != "text" || r["text"] != chatText || len(r) != 5 {
		t.Errorf("sendBody = %s", b)
	}
	if len(chatText) != chatTextBytes {
		t.Errorf("chatText is %d bytes", len(chatText))
	}
}

func TestConvSeqs(t *testing.T) {
	var s convSeqs
	for _, q := range []uint64{2, 1, 3} {
		s.add(q)
	}
	if s.errors() != 0 {
		t.Errorf("1..3 out of order: %d errors", s.errors())
	}
	s.add(3) // duplicate
	s.add(6) // 4 and 5 missing
	if got := s.errors(); got != 3 {
		t.Errorf("errors = %d, want 1 duplicate + 2 gaps", got)
	}
}

func TestChatVerdict(t *testing.T) {
	for _, c := range []struct {
		rate, p99 float64
		want      string
	}{
		{12000, 30, "met"}, {9000, 30, "MISSED (rate)"}, {12000, 60, "MISSED (p99)"}, {9000, 60, "MISSED (p99, rate)"}, {math.NaN(), 0, "-"},
	} {
		if got := chatVerdict(c.rate, c.p99); got != c.want {
			t.Errorf("chatVerdict(%v, %v) = %q, want %q", c.rate, c.p99, got, c.want)
		}
	}
}

func TestChatSummaryAndReport(t *testing.T) {
	sides := [2]side{{name: "storeedge", kind: kindStoreedge}, {name: "mosquitto", kind: kindMosquitto}}
	send := scenario{name: "chat-send", kind: kindChatSend, storeedgeOnly: true}
	hist := scenario{name: "chat-history", kind: kindChatHistory, storeedgeOnly: true}
	cs := func(rate, p99 float64) *chatSendResult {
		return &chatSendResult{Rate: rate, P50Ms: p99 / 4, P99Ms: p99, Drained: true, chatTally: chatTally{Sent: 10, OK: 10}}
	}
	recs := []runRecord{
		{Scenario: send.name, Broker: "storeedge", Rep: 1, ChatSend: cs(11000, 40)},
		{Scenario: send.name, Broker: "storeedge", Rep: 2, ChatSend: cs(12000, 45)},
		{Scenario: send.name, Broker: "storeedge", Rep: 3, ChatSend: &chatSendResult{Rate: 1, chatTally: chatTally{Sent: 10, OK: 7, Failed: 3}}, Error: "chat-send: boom"},
		{Scenario: hist.name, Broker: "storeedge", Rep: 1, History: &chatHistoryResult{Messages: 10000, SyncMs: 200, Rate: 50000, PageP50Ms: 2, PageP99Ms: 3}},
		{Scenario: hist.name, Broker: "storeedge", Rep: 2, History: &chatHistoryResult{Messages: 10000, SyncMs: 100, Rate: 100000, PageP50Ms: 1, PageP99Ms: 2}},
	}
	a := summarize(send, sides, recs)
	if x := a.Sides[0]; x.Runs != 3 || x.Failed != 1 || x.Rate != 11500 || x.P99Ms != 42.5 || x.Errors != 3 {
		t.Errorf("chat-send summary = %+v", x)
	}
	if a.Sides[1].Runs != 0 || !math.IsNaN(a.Ratio) {
		t.Errorf("chat-send mosquitto side %+v, ratio %v", a.Sides[1], a.Ratio)
	}
	h := summarize(hist, sides, recs)
	if x := h.Sides[0]; x.SyncMs != 150 || x.SyncRate != 75000 || x.HistoryMsgs != 10000 {
		t.Errorf("chat-history summary = %+v", x)
	}

	var out bytes.Buffer
	opt := options{duration: 5 * time.Second, chatWindow: 8, chatConvs: 100}
	printReport(&out, "hdr", sides, []scenarioSummary{a, h}, recs, opt)
	got := out.String()
	for _, want := range []string{"storeedge only", "11500 sends/s", "met", "150.0 ms for 10000 msgs", "75000 msgs/s", "(1 failed)", "3 chat errors", "rep 3: chat-send: boom"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "mosquitto msg/s") {
		t.Errorf("chat scenarios printed in the side-by-side table:\n%s", got)
	}
	if _, err := json.Marshal(nanSafe([]scenarioSummary{a, h})); err != nil {
		t.Errorf("JSON summary: %v", err)
	}
}
