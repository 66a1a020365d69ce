package chat

import (
	"bytes"
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
	e := newEnv(t, Options{})
	cust := e.connect(t, tablet, "")
	staff := e.connect(t, anna, "")
	ok(t, cust.call(t, "open", "", `{"conversation":"private","members":["staff-anna"]}`))
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
	for _, s := range []string{sentence, "red bumpy rash", cardText} {
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
