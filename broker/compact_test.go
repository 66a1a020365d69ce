package broker_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestCompactLeavesNoFreedData: what an older version left in the clear
// and was deleted since (bbolt keeps freed pages as they were) is gone from
// the file after `storeedge compact`; the store's data is intact and the
// broker starts on it. A running broker's database is refused.
func TestCompactLeavesNoFreedData(t *testing.T) {
	const old = "an old record: call 13812345678 about the rash"
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev}})
	staff := s.Connect(t, staffDev, "")
	var g struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, staff.Call(t, "chat", "group_create", `{"title":"March babies","members":["staff-anna"]}`)).Decode(t, &g)
	cfg, err := broker.LoadConfig(filepath.Join(s.Dir, "store.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := broker.Compact(cfg); !errors.Is(err, broker.ErrRunning) {
		t.Fatalf("compact while the broker runs: %v, want ErrRunning", err)
	}
	s.Stop()

	path := filepath.Join(cfg.DataDir, broker.DBFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func(*bolt.Tx) error{
		func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("legacy"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), bytes.Repeat([]byte(old), 50))
		},
		func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("legacy")) },
	} {
		if err := db.Update(step); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if raw, _ := os.ReadFile(path); !bytes.Contains(raw, []byte(old)) {
		t.Fatal("the deleted record is not in the file's free pages: the test proves nothing")
	}

	before, after, err := broker.Compact(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(old)) {
		t.Fatal("the deleted record is still in the file after compact")
	}
	if after <= 0 || after > before {
		t.Fatalf("size %d → %d", before, after)
	}
	for _, leftover := range []string{path + ".old", path + ".compact"} {
		if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind: %v", leftover, err)
		}
	}
	s.Up()
	staff.Reconnect(t)
	var l struct {
		Conversations []struct {
			Conversation string `json:"conversation"`
			Title        string `json:"title"`
		} `json:"conversations"`
	}
	storetest.OK(t, staff.Call(t, "chat", "list", `{}`)).Decode(t, &l)
	if len(l.Conversations) != 1 || l.Conversations[0].Conversation != g.Conversation || l.Conversations[0].Title != "March babies" {
		t.Fatalf("the store after compact: %+v", l)
	}
}
