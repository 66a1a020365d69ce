package outbox_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

// testKey is the store's key for the whole test binary: an outbox opened
// again after a restart reads what the first one sealed.
var testKey = func() string {
	k := make([]byte, seal.KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}()

func testKeys(t testing.TB) *seal.Keyring {
	t.Helper()
	kr, err := seal.ParseKeys("k1:" + testKey)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestEntriesSealedAtRest: a chat message for a customer at home, waiting
// for HQ or already acknowledged by it, is nowhere in the database file in
// the clear (bbolt keeps freed pages as they were), and the uplink still
// reads it whole.
func TestEntriesSealedAtRest(t *testing.T) {
	const (
		waiting = `{"text":"Doudou is drying now, call 13998765432"}`
		acked   = `{"text":"I am at home, my address is 88 Lotus Road"}`
	)
	path := filepath.Join(t.TempDir(), "o.db")
	db := openDB(t, path)
	clock := testclock.New(t0)
	ob := newOutbox(t, 0, clock)
	mustPut(t, db, ob, clock, "chat/hq-c1/hq", acked)
	es := next(t, db, ob, 10, nil)
	if len(es) != 1 || string(es[0].Payload) != acked || es[0].Topic != "chat/hq-c1/hq" || !es[0].Stored.Equal(clock.Now()) {
		t.Fatalf("entry read back: %+v", es)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return ob.Ack(tx, es[0].Seq) }); err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, ob, clock, "chat/hq-c1/hq", waiting)
	if s := stats(t, db, ob); s.Count != 1 || s.Bytes != int64(len("chat/hq-c1/hq")+len(waiting)) || !s.Oldest.Equal(clock.Now()) {
		t.Fatalf("stats: %+v", s)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("cloud_outbox")) {
		t.Fatal("the search looked at the wrong file")
	}
	for _, m := range []string{waiting, acked, "13998765432", "88 Lotus Road", "hq-c1"} {
		if i := bytes.Index(raw, []byte(m)); i >= 0 {
			t.Errorf("the database file holds %q in the clear at byte %d", m, i)
		}
	}
}

// TestPlainEntriesStillRead: entries filed in the clear before the
// upgrade are sent, counted and evicted like sealed ones.
func TestPlainEntriesStillRead(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	clock := testclock.New(t0)
	plain, err := outbox.New(outbox.Options{Classify: classify, Now: clock.Now, MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, plain, clock, "devices/k1/telemetry", "old reading")
	mustPut(t, db, plain, clock, "chat/c1/hq", "old message")
	first := clock.Now().Add(-1e9)
	sealed, err := outbox.New(outbox.Options{Classify: classify, Now: clock.Now, MaxBytes: 1000, Seal: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, sealed, clock, "chat/c1/hq", "new message")
	es := next(t, db, sealed, 10, nil)
	if len(es) != 3 || string(es[0].Payload) != "old message" || string(es[1].Payload) != "new message" || string(es[2].Payload) != "old reading" {
		t.Fatalf("entries after the upgrade: %+v", es)
	}
	s := stats(t, db, sealed)
	want := int64(len("devices/k1/telemetry") + len("old reading") + 2*len("chat/c1/hq") + len("old message") + len("new message"))
	if s.Count != 3 || s.Bytes != want || !s.Oldest.Equal(first) {
		t.Fatalf("stats after the upgrade: %+v (want %d bytes, oldest %v)", s, want, first)
	}
	// A telemetry entry too big for what is left evicts the old reading.
	if err := put(t, db, sealed, clock, "devices/k1/telemetry", string(make([]byte, 1000-int(want)+len("old reading")))); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, db, sealed); s.Classes["telemetry"].Evicted != 1 || s.Classes["telemetry"].EvictedBytes != int64(len("devices/k1/telemetry")+len("old reading")) || s.Bytes != 1000 {
		t.Fatalf("eviction of a plain entry: %+v", s)
	}
	// Sealing the old entries keeps what the uplink reads and the counters.
	var n int
	if err := db.Update(func(tx *bolt.Tx) (err error) { n, err = sealed.SealOld(tx); return err }); err != nil || n != 1 {
		t.Fatalf("SealOld = %d, %v; want 1 (the old message; the old reading was evicted)", n, err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("cloud_outbox")).ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte("old")) {
				t.Errorf("entry %x still in the clear: %q", k, v)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if again := next(t, db, sealed, 10, nil); len(again) != 3 || string(again[0].Payload) != "old message" || !again[0].Stored.Equal(es[0].Stored) || again[0].Seq != es[0].Seq {
		t.Fatalf("entries after sealing the old ones: %+v", again)
	}
	if s2 := stats(t, db, sealed); s2.Bytes != 1000 || s2.Count != 3 {
		t.Fatalf("stats after sealing the old ones: %+v", s2)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return sealed.Ack(tx, es[0].Seq, es[1].Seq) }); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, db, sealed); s.Count != 1 || s.Classes["chat"].Count != 0 || s.Classes["chat"].Bytes != 0 {
		t.Fatalf("after acking both chat entries: %+v", s)
	}
}
