package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/proto"
)

var testLabels = []proto.ChatLabel{{ID: "vip", EN: "VIP", ZH: "贵宾"}, {ID: "allergy", EN: "Allergy", ZH: "过敏"}}

// noteCounts is e.counts with the notes and labels buckets.
func noteCounts(t testing.TB, e *env) map[string]int {
	t.Helper()
	n := e.counts(t)
	if err := e.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketNotes, bucketLabels} {
			if b := tx.Bucket(name); b != nil {
				n[string(name)] = b.Stats().KeyN
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func notesAnswer(t testing.TB, a answer) proto.ChatNotesAnswer {
	t.Helper()
	ok(t, a)
	var n proto.ChatNotesAnswer
	if err := json.Unmarshal([]byte(a.raw), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Staff add notes to a conversation and to a customer and label both: the
// notes come back newest first with their author and time, a repeated
// request adds nothing, the text is sealed in the database, and staff's
// list and waiting show the labels. The customer can read none of it:
// every op is forbidden to her, and her answers and events carry no note
// and no label.
func TestNotesAndLabels(t *testing.T) {
	e := newEnv(t, Options{Labels: testLabels, Assistant: testAssistant(t)})
	e.setClock(t, openTime)
	staff := e.connect(t, anna, "")
	tab := e.connect(t, tablet, "")
	cust := e.customerLogin(t, "", "phone")
	custID := devOf(cust)
	ok(t, cust.call(t, "open", "", `{}`))
	cust.subscribe(t, EventTopic(custID))
	sendText(t, cust, custID, "", "我要找人工客服")
	ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, custID)))

	const note1, note2 = "她家狗对鸡肉过敏 chicken allergy", "Prefers calls after 6pm"
	conv := fmt.Sprintf(`"conversation":%q`, custID)
	n := notesAnswer(t, staff.call(t, "note_add", "n-1", fmt.Sprintf(`{%s,"text":%q}`, conv, note1)))
	if len(n.Notes) != 1 || n.Notes[0].Text != note1 || n.Notes[0].Author != "staff-anna" || n.Notes[0].ID != "n-1" ||
		!n.Notes[0].TS.Equal(openTime) || len(n.Available) != 2 || n.Conversation != custID {
		t.Fatalf("note_add: %+v", n)
	}
	e.clock.Advance(time.Minute)
	ok(t, staff.call(t, "note_add", "n-2", fmt.Sprintf(`{%s,"text":%q}`, conv, note2)))
	ok(t, staff.call(t, "note_add", "n-2", fmt.Sprintf(`{%s,"text":%q}`, conv, note2))) // repeated
	ok(t, staff.call(t, "note_add", "n-3", fmt.Sprintf(`{"customer":%q,"text":"Customer note: twins"}`, custID)))
	n = notesAnswer(t, staff.call(t, "notes", "", fmt.Sprintf(`{%s}`, conv)))
	if len(n.Notes) != 2 || n.Notes[0].Text != note2 || n.Notes[1].Text != note1 {
		t.Fatalf("notes of the conversation: %+v", n.Notes)
	}
	n = notesAnswer(t, staff.call(t, "notes", "", fmt.Sprintf(`{"customer":%q}`, custID)))
	if len(n.Notes) != 1 || n.Notes[0].Text != "Customer note: twins" || n.Customer != custID {
		t.Fatalf("notes of the customer: %+v", n)
	}
	// Labels: on the conversation and on the customer; staff's list and
	// waiting show both.
	n = notesAnswer(t, staff.call(t, "labels_set", "", fmt.Sprintf(`{%s,"labels":["vip","vip"]}`, conv)))
	if !slices.Equal(n.Labels, []string{"vip"}) {
		t.Fatalf("labels_set: %+v", n)
	}
	ok(t, staff.call(t, "labels_set", "", fmt.Sprintf(`{"customer":%q,"labels":["allergy"]}`, custID)))
	for _, op := range []string{"list", "waiting"} {
		l := ok(t, staff.call(t, op, "", `{}`))
		i := slices.IndexFunc(l.Conversations, func(v convView) bool { return v.Conversation == custID })
		if i < 0 || !slices.Equal(l.Conversations[i].Labels, []string{"allergy", "vip"}) {
			t.Fatalf("staff's %s: %s", op, l.raw)
		}
	}

	// Without a target: the label list alone.
	if n := notesAnswer(t, staff.call(t, "notes", "", `{}`)); !slices.Equal(n.Available, testLabels) || len(n.Notes) != 0 {
		t.Fatalf("notes without a target: %+v", n)
	}

	// Sealed at rest: no note text in the database file's notes.
	if err := e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNotes).ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte("chicken")) || bytes.Contains(v, []byte("6pm")) || bytes.Contains(v, []byte("twins")) {
				t.Errorf("a note in the clear: %q", v)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}

	// Customers and non-staff devices: forbidden, and nothing changes.
	before := noteCounts(t, e)
	for _, c := range []*client{cust, tab} {
		for _, call := range [][2]string{
			{"notes", fmt.Sprintf(`{%s}`, conv)},
			{"notes", fmt.Sprintf(`{"customer":%q}`, custID)},
			{"notes", `{}`},
			{"note_add", fmt.Sprintf(`{%s,"text":"mine"}`, conv)},
			{"labels_set", fmt.Sprintf(`{%s,"labels":[]}`, conv)},
		} {
			fails(t, c.call(t, call[0], "", call[1]), "forbidden")
		}
	}
	if after := noteCounts(t, e); !maps.Equal(before, after) {
		t.Fatalf("refused calls changed something: %v → %v", before, after)
	}
	// Her own answers carry neither notes nor labels.
	secret := []string{"chicken", "6pm", "twins", "vip", "allergy", "labels"}
	for _, call := range [][2]string{{"list", `{}`}, {"open", `{}`}, {"history", fmt.Sprintf(`{%s}`, conv)}, {"handoff", fmt.Sprintf(`{%s}`, conv)}} {
		a := ok(t, cust.call(t, call[0], "", call[1]))
		for _, w := range secret {
			if strings.Contains(a.raw, w) {
				t.Fatalf("the customer's %s answer shows %q: %s", call[0], w, a.raw)
			}
		}
	}
	// Her events: a staff message is the marker; no event before it is
	// about notes or labels (none has another type than message).
	marker := sendText(t, staff, custID, "", "好的，马上为您安排")
	cust.noEvent(t, func(ev Event) bool {
		b, _ := json.Marshal(ev)
		return ev.Type != EventMessage && ev.Type != EventWaiting && ev.Type != EventRead && ev.Type != EventDelivered ||
			bytes.Contains(b, []byte("chicken")) || bytes.Contains(b, []byte("vip"))
	}, func(ev Event) bool { return ev.Type == EventMessage && ev.Seq == marker.Seq })

	// Bad input changes nothing.
	before = noteCounts(t, e)
	for _, body := range []string{
		`{"text":"no target"}`,
		fmt.Sprintf(`{%s,"customer":%q,"text":"both"}`, conv, custID),
		fmt.Sprintf(`{%s,"text":"  "}`, conv),
	} {
		fails(t, staff.call(t, "note_add", "", body), "bad_request")
	}
	fails(t, staff.call(t, "note_add", "", fmt.Sprintf(`{%s,"text":%q}`, conv, strings.Repeat("长", DefaultMaxBodyBytes))), "too_large")
	fails(t, staff.call(t, "labels_set", "", fmt.Sprintf(`{%s,"labels":["gold"]}`, conv)), "bad_request")
	fails(t, staff.call(t, "note_add", "", `{"customer":"cust-nobody","text":"x"}`), "not_found")
	fails(t, staff.call(t, "notes", "", `{"conversation":"nosuch"}`), "not_found")
	fails(t, staff.call(t, "labels_set", "", fmt.Sprintf(`{%s}`, conv)), "bad_request")
	if after := noteCounts(t, e); !maps.Equal(before, after) {
		t.Fatalf("bad input changed something: %v → %v", before, after)
	}

	// Forgetting the customer deletes her notes and labels.
	if _, err := e.chat.ForgetCustomer(t.Context(), custID); err != nil {
		t.Fatal(err)
	}
	if n := notesAnswer(t, staff.call(t, "notes", "", fmt.Sprintf(`{%s}`, conv))); len(n.Notes) != 0 || len(n.Labels) != 0 {
		t.Fatalf("notes after forgetting: %+v", n)
	}
	if n := notesAnswer(t, staff.call(t, "notes", "", fmt.Sprintf(`{"customer":%q}`, custID))); len(n.Notes) != 0 || len(n.Labels) != 0 {
		t.Fatalf("customer notes after forgetting: %+v", n)
	}
}

// MaxNotes bounds a conversation's notes; past it note_add is too_large.
func TestNotesBounded(t *testing.T) {
	e := newEnv(t, Options{MaxNotes: 2})
	staff := e.connect(t, anna, "")
	ok(t, staff.call(t, "open", "", `{"conversation":"c-1"}`))
	for i := range 2 {
		ok(t, staff.call(t, "note_add", "", fmt.Sprintf(`{"conversation":"c-1","text":"note %d"}`, i)))
	}
	fails(t, staff.call(t, "note_add", "", `{"conversation":"c-1","text":"one too many"}`), "too_large")
}

// A customer at home: notes and labels on her conversation and on her are
// never filed for HQ (the staff reply after them is, without them).
func TestNotesNotToHQ(t *testing.T) {
	e := newEnv(t, Options{Assistant: testAssistant(t), Outbox: outbox{}, Labels: testLabels})
	e.setClock(t, openTime)
	const cust = "hq-c8f2"
	if err := e.chat.HandleHQ(t.Context(), HQMessageTopic,
		[]byte(`{"v":1,"id":"hq-m-1","customer":"hq-c8f2","kind":"text","text":"What time do you open?","lang":"en"}`)); err != nil {
		t.Fatal(err)
	}
	staff := e.connect(t, anna, "")
	ok(t, staff.call(t, "open", "", `{"conversation":"hq-c8f2"}`))
	filed := len(e.outbox(t))
	ok(t, staff.call(t, "note_add", "", `{"conversation":"hq-c8f2","text":"secret-note-1"}`))
	ok(t, staff.call(t, "note_add", "", `{"customer":"hq-c8f2","text":"secret-note-2"}`))
	ok(t, staff.call(t, "labels_set", "", `{"conversation":"hq-c8f2","labels":["allergy"]}`))
	ok(t, staff.call(t, "labels_set", "", `{"customer":"hq-c8f2","labels":["vip"]}`))
	if n := len(e.outbox(t)); n != filed {
		t.Fatalf("notes and labels filed %d entries for HQ", n-filed)
	}
	sendText(t, staff, cust, "", "We open at 9:30")
	if err := e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTestOutbox).ForEach(func(_, v []byte) error {
			for _, w := range []string{"secret-note", "allergy", "vip", "labels"} {
				if bytes.Contains(v, []byte(w)) {
					t.Errorf("outbox entry shows %q: %s", w, v)
				}
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.outbox(t)); n != filed+1 {
		t.Fatalf("the reply after the notes: %d entries filed, want 1", n-filed)
	}
}
