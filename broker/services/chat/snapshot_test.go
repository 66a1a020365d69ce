package chat

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// A snapshot hands HQ every stored message of every conversation as it was
// filed live (same topic, origin, body, customer), a recalled one with its
// recall, in batches that each read a bounded number of messages.
func TestSnapshot(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), Outbox: outbox{}})
	e.setClock(t, openTime)
	for i := range 3 {
		if err := e.chat.HandleHQ(t.Context(), HQMessageTopic, []byte(fmt.Sprintf(`{"v":1,"id":"m-%d","customer":"hq-s1","kind":"text","text":"What time do you open? (%d)"}`, i, i))); err != nil {
			t.Fatal(err)
		}
	}
	staff, cl := e.connect(t, anna, ""), e.connect(t, tablet, "")
	ok(t, cl.call(t, "open", "", `{"conversation":"local","members":["staff-anna"]}`))
	sendText(t, cl, "local", "", "Is the grooming table free?")
	r := sendText(t, staff, "local", "", "Yes, from 3 pm")
	e.clock.Advance(10 * time.Second)
	ok(t, staff.call(t, "recall", "", fmt.Sprintf(`{"conversation":"local","seq":%d}`, r.Seq)))

	live := map[string]outboxEntry{}
	for _, en := range e.outbox(t) {
		if en.Type == "message" {
			live[en.Origin] = en
		}
	}
	old := snapshotBatch
	snapshotBatch = 2
	t.Cleanup(func() { snapshotBatch = old })
	var got []outboxEntry
	calls := 0
	err := e.chat.Snapshot(t.Context(), func(topic string, payload []byte) error {
		calls++
		var en outboxEntry
		if err := json.Unmarshal(payload, &en.HQEntry); err != nil {
			return err
		}
		en.Topic = topic
		got = append(got, en)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var msgs int
	for i, en := range got {
		switch en.Type {
		case "message":
			msgs++
			want, ok := live[en.Origin]
			if !ok {
				t.Fatalf("snapshot entry %d has an origin never filed live: %+v", i, en)
			}
			if en.Origin == fmt.Sprintf("local/%d", r.Seq) {
				// Recalled since: no body, and its recall follows.
				if en.Text != "" || i+1 >= len(got) || got[i+1].Type != "recall" || got[i+1].Origin != fmt.Sprintf("local/%d/recall", r.Seq) {
					t.Fatalf("the recalled message in the snapshot: %+v", got[i:])
				}
				continue
			}
			if en.Topic != want.Topic || en.Text != want.Text || en.From != want.From || en.Seq != want.Seq || en.Customer != want.Customer || en.V != 1 || !en.TS.Equal(want.TS) {
				t.Fatalf("snapshot entry %+v, live %+v", en, want)
			}
		case "recall":
		default:
			t.Fatalf("snapshot entry of type %q", en.Type)
		}
	}
	if msgs != len(live) || len(live) < 8 {
		t.Fatalf("snapshot has %d messages, %d were filed live", msgs, len(live))
	}
	if calls != len(got) {
		t.Fatalf("put called %d times for %d entries", calls, len(got))
	}
}
