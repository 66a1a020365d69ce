package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/internal/seal"
)

// Closing and reopening the store and router on the same file keeps
// conversations, messages, read pointers and recalls; the next seq follows.
func TestRestart(t *testing.T) {
	e := newEnv(t, Options{})
	cust := e.connect(t, tablet, "")
	staff := e.connect(t, anna, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"r","members":["staff-anna"]}`))
	for i := 1; i <= 5; i++ {
		ok(t, cust.call(t, "send", fmt.Sprintf("m%d", i), fmt.Sprintf(`{"conversation":"r","kind":"text","text":"before %d"}`, i)))
	}
	ok(t, staff.call(t, "read", "", `{"conversation":"r","up_to":4}`))
	ok(t, cust.call(t, "recall", "", `{"conversation":"r","seq":3}`))

	e.stop()
	e.start(t)
	cust = e.connect(t, tablet, "")
	staff = e.connect(t, anna, "")

	h := ok(t, staff.call(t, "history", "", `{"conversation":"r"}`))
	if len(h.Messages) != 5 || h.ReadUpTo != 4 || h.Unread != 1 || h.Messages[2].Recalled == nil || h.Messages[4].Text != "before 5" {
		t.Fatalf("history after restart: %s", h.raw)
	}
	// A repeat of a send from before the restart still finds its seq.
	if a := ok(t, cust.call(t, "send", "m2", `{"conversation":"r","kind":"text","text":"before 2"}`)); a.Seq != 2 {
		t.Fatalf("repeat after restart: %s", a.raw)
	}
	if a := ok(t, cust.call(t, "send", "", `{"conversation":"r","kind":"text","text":"after"}`)); a.Seq != 6 {
		t.Fatalf("first send after restart: %s", a.raw)
	}
}

// Bodies are sealed at rest: the raw database file holds no plaintext of a
// text or a card, and each record names its key.
func TestNoPlaintextAtRest(t *testing.T) {
	const sentence = "My two-month-old has a red bumpy rash on her cheeks"
	const cardText = "Hypoallergenic-Oatmeal-Shampoo-77"
	const title = "Sunflower Babies born in March"
	e := newEnv(t, Options{})
	cust := e.connect(t, tablet, "")
	staff := e.connect(t, anna, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"private","members":["staff-anna"]}`))
	g := ok(t, staff.call(t, "group_create", "", `{"title":"`+title+`","members":["tablet-01"]}`)).Conversation
	ok(t, staff.call(t, "send", "", `{"conversation":"`+g+`","kind":"text","text":"welcome"}`))
	ok(t, cust.call(t, "send", "", `{"conversation":"private","kind":"text","text":"`+sentence+`"}`))
	ok(t, staff.call(t, "send", "", `{"conversation":"private","kind":"card","card":{"type":"product","name":"`+cardText+`"}}`))
	if h := ok(t, staff.call(t, "history", "", `{"conversation":"private"}`)); h.Messages[0].Text != sentence {
		t.Fatalf("history: %s", h.raw)
	}
	e.stop()

	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sentence, "red bumpy rash", cardText, title} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("the database file contains %q in plaintext", s)
		}
	}
	if !bytes.Contains(raw, []byte("chat_msgs")) {
		t.Fatal("the search looked at the wrong file")
	}

	db, err := bolt.Open(e.path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMsgs).ForEach(func(k, v []byte) error {
			m, err := decodeMsg(v)
			if err != nil {
				return err
			}
			if id, err := seal.KeyID(m.Body); err != nil || id != "k1" {
				t.Errorf("record %q: key id %q, %v", k, id, err)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
}

// A group title stored in the clear (before titles were sealed) still
// reads, is sealed by SealOldTitles, and a sealed title does not open under
// another conversation.
func TestOldGroupTitles(t *testing.T) {
	const title = "Owners of Golden Retrievers"
	e := newEnv(t, Options{})
	staff := e.connect(t, anna, "")
	g := ok(t, staff.call(t, "group_create", "", `{"title":"`+title+`","members":["tablet-01"]}`)).Conversation
	e.stop()

	// Rewrite the record the way an older broker stored it.
	db, err := bolt.Open(e.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketConvs)
		var rec map[string]any
		if err := json.Unmarshal(b.Get([]byte(g)), &rec); err != nil {
			return err
		}
		if rec["sealed_title"] == nil || rec["title"] != nil {
			t.Errorf("a new group's record: %v", rec)
		}
		delete(rec, "sealed_title")
		rec["title"] = title
		v, _ := json.Marshal(rec)
		return b.Put([]byte(g), v)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	e.start(t)
	staff = e.connect(t, anna, "")
	if v := ok(t, staff.call(t, "list", "", `{}`)); len(v.Conversations) != 1 || v.Conversations[0].Title != title {
		t.Fatalf("list before sealing: %s", v.raw)
	}
	if n, err := e.chat.SealOldTitles(context.Background()); n != 1 || err != nil {
		t.Fatalf("SealOldTitles = %d, %v; want 1", n, err)
	}
	if n, err := e.chat.SealOldTitles(context.Background()); n != 0 || err != nil {
		t.Fatalf("SealOldTitles again = %d, %v; want 0", n, err)
	}
	if v := ok(t, staff.call(t, "list", "", `{}`)); len(v.Conversations) != 1 || v.Conversations[0].Title != title {
		t.Fatalf("list after sealing: %s", v.raw)
	}
	var sealed []byte
	if err := e.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketConvs).Get([]byte(g))
		if bytes.Contains(v, []byte(title)) {
			t.Errorf("the record still holds the title: %s", v)
		}
		var c conv
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		sealed = c.SealedTitle
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.chat.decodeConv("other", mustJSON(t, conv{ID: "other", SealedTitle: sealed})); err == nil {
		t.Fatal("a sealed title opened under another conversation")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A sealed body moved to another seq does not open.
func TestSealBoundToPlace(t *testing.T) {
	kr := testKeys(t)
	sealed, err := kr.Seal([]byte(`{"text":"x"}`), sealAD("c", 1))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{o: Options{Seal: kr}}
	if _, err := s.openMsg("c", 2, &msg{Body: sealed}); err == nil {
		t.Fatal("a body opened under another seq")
	}
	if m, err := s.openMsg("c", 1, &msg{Body: sealed}); err != nil || m.Text != "x" {
		t.Fatalf("open: %+v %v", m, err)
	}
}
