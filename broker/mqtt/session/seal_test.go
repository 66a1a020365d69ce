package session

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"os"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/internal/seal"
)

func testKeys(t *testing.T) *seal.Keyring {
	t.Helper()
	k := make([]byte, seal.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	kr, err := seal.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestNoPlaintextAtRest: messages waiting for a persistent session, the
// ones it already received and retained messages are nowhere in the
// database file in the clear — not in its live pages, and not in the pages
// bbolt freed when they were delivered.
func TestNoPlaintextAtRest(t *testing.T) {
	const (
		delivered = "answer: Doudou bites, call 13998765432"
		waiting   = "answer: qr token tok-7f3a9c1e5b2d"
		retained  = "retained: room 2 has Nuomi, owner 13812345678"
	)
	r := &rig{t: t, path: t.TempDir() + "/s.db", max: 100, seal: testKeys(t)}
	r.start()
	t.Cleanup(r.stop)
	tab := r.connect("tablet-1", true, false)
	tab.sub(t, "reply/tablet-1/#")
	pub := r.connect("svc", false, false)
	pub.pub(t, "reply/tablet-1/a", delivered, false)
	waitFor(t, "the first answer", func() bool { return slices.Contains(tab.messages(), delivered) })
	waitFor(t, "the acknowledged answer to leave the queue", func() bool { return keys(t, r.db, bucketMsgs) == 0 })
	r.offline(tab, "tablet-1")
	pub.pub(t, "reply/tablet-1/a", waiting, false)
	pub.pub(t, "rooms/2", retained, true)
	waitFor(t, "the answer to be queued", func() bool { return keys(t, r.db, bucketQueue) == 1 })
	waitFor(t, "the retained message to be stored", func() bool { return keys(t, r.db, bucketRetained) == 1 })
	r.stop()

	raw, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, bucketMsgs) {
		t.Fatal("the search looked at the wrong file")
	}
	for _, m := range []string{delivered, waiting, retained, "13998765432", "tok-7f3a9c1e5b2d", "13812345678"} {
		if i := bytes.Index(raw, []byte(m)); i >= 0 {
			t.Errorf("the database file holds %q in the clear at byte %d", m, i)
		}
	}

	// After a restart the sealed records open: the tablet gets its answer
	// and a new subscriber the retained message.
	r.start()
	tab = r.connect("tablet-1", true, false)
	waitFor(t, "the queued answer after a restart", func() bool { return slices.Contains(tab.messages(), waiting) })
	other := r.connect("console", false, false)
	other.sub(t, "rooms/#")
	waitFor(t, "the retained message after a restart", func() bool { return slices.Contains(other.messages(), retained) })
}

// TestUnsealedRecordsStillRead: a message queued, and a retained message
// stored, by a broker that did not seal them are sealed when the upgraded
// broker starts, and delivered as before.
func TestUnsealedRecordsStillRead(t *testing.T) {
	r := &rig{t: t, path: t.TempDir() + "/s.db", max: 100}
	r.start()
	t.Cleanup(r.stop)
	tab := r.connect("tablet-1", true, false)
	tab.sub(t, "reply/tablet-1/#")
	r.offline(tab, "tablet-1")
	pub := r.connect("svc", false, false)
	pub.pub(t, "reply/tablet-1/a", "old answer", false)
	pub.pub(t, "rooms/1", "old retained", true)
	waitFor(t, "the old answer to be queued", func() bool { return keys(t, r.db, bucketQueue) == 1 })
	waitFor(t, "the old retained message", func() bool { return keys(t, r.db, bucketRetained) == 1 })
	r.stop()

	r.seal = testKeys(t)
	r.start()
	pub = r.connect("svc", false, false)
	pub.pub(t, "reply/tablet-1/a", "new answer", false)
	waitFor(t, "the new answer to be queued", func() bool { return keys(t, r.db, bucketQueue) == 2 })
	versions := map[byte]int{}
	if err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMsgs).ForEach(func(_, v []byte) error { versions[v[0]]++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRetained).ForEach(func(_, v []byte) error { versions[v[0]]++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if versions[recordVersion] != 0 || versions[sealedVersion] != 3 {
		t.Fatalf("stored record versions %v: want all three sealed", versions)
	}
	tab = r.connect("tablet-1", true, false)
	waitFor(t, "both answers", func() bool {
		m := tab.messages()
		return slices.Contains(m, "old answer") && slices.Contains(m, "new answer")
	})
	if m := tab.messages(); m[0] != "old answer" {
		t.Fatalf("order after the upgrade: %q", m)
	}
	other := r.connect("console", false, false)
	other.sub(t, "rooms/#")
	waitFor(t, "the old retained message", func() bool { return slices.Contains(other.messages(), "old retained") })
}

// A sealed record moved to another key does not open.
func TestSealedRecordBoundToKey(t *testing.T) {
	kr := testKeys(t)
	b, err := sealRecord(kr, sample(), bucketMsgs, seqKey(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openRecord(kr, b, bucketMsgs, seqKey(2)); err == nil {
		t.Fatal("a record sealed for seq 1 opened as seq 2")
	}
	if _, err := openRecord(kr, b, bucketRetained, seqKey(1)); err == nil {
		t.Fatal("a queued record opened as a retained one")
	}
	if pk, err := openRecord(kr, b, bucketMsgs, seqKey(1)); err != nil || pk.TopicName != sample().TopicName {
		t.Fatalf("open: %+v %v", pk, err)
	}
}
