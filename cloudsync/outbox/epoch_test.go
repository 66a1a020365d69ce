package outbox_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

func keepingOutbox(t testing.TB, clock *testclock.Clock, keepFor time.Duration, keepBytes int64) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.New(outbox.Options{Classify: classify, Now: clock.Now, Seal: testKeys(t), KeepFor: keepFor, KeepBytes: keepBytes})
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

func epochOf(t *testing.T, db *bolt.DB, ob *outbox.Outbox) outbox.EpochInfo {
	t.Helper()
	var ep outbox.EpochInfo
	if err := db.View(func(tx *bolt.Tx) (err error) { ep, err = ob.Epoch(tx); return err }); err != nil {
		t.Fatal(err)
	}
	return ep
}

// streams lists the entries as "class:sseq".
func streams(es []outbox.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s:%d", e.Class, e.SSeq))
	}
	return out
}

// TestEpochAndStreamNumbers: the first Put makes the epoch (16 hex
// characters); chat and booking entries are numbered 1, 2, 3… per stream
// without gaps however the classes interleave, also across a reopen;
// media and telemetry carry no number. A new database has a new epoch and
// starts again at 1.
func TestEpochAndStreamNumbers(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "a.db"))
	clock := testclock.New(t0)
	ob := newOutbox(t, 0, clock)
	if ep := epochOf(t, db, ob); ep.ID != "" {
		t.Fatalf("epoch before any Put: %+v", ep)
	}
	for _, topic := range []string{"chat/c1/hq", "devices/k1/telemetry", "booking/changes", "chat/c2/hq", "media/x", "booking/changes", "chat/c1/hq"} {
		mustPut(t, db, ob, clock, topic, "x")
	}
	ep := epochOf(t, db, ob)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(ep.ID) || ep.Reason != outbox.EpochNew || !ep.Made.Equal(t0.Add(time.Second)) {
		t.Fatalf("epoch: %+v", ep)
	}
	es := next(t, db, ob, 100, nil)
	if got, want := streams(es), []string{"chat:1", "chat:2", "chat:3", "booking:1", "booking:2", "media:0", "telemetry:0"}; !equal(got, want) {
		t.Fatalf("stream numbers %v, want %v", got, want)
	}
	for _, e := range es {
		if e.Epoch != ep.ID || e.Origin != fmt.Sprint(e.Seq) {
			t.Fatalf("entry %+v: want epoch %s and origin its seq", e, ep.ID)
		}
	}
	// Acknowledged entries do not give their numbers back; a reopened
	// database goes on from the last.
	ack(t, db, ob, es[0].Seq, es[1].Seq, es[3].Seq)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, filepath.Join(dir, "a.db"))
	ob = newOutbox(t, 0, clock)
	mustPut(t, db, ob, clock, "booking/changes", "y")
	mustPut(t, db, ob, clock, "chat/c3/hq", "y")
	if got, want := streams(next(t, db, ob, 100, nil)), []string{"chat:3", "chat:4", "booking:2", "booking:3", "media:0", "telemetry:0"}; !equal(got, want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
	if epochOf(t, db, ob).ID != ep.ID {
		t.Fatal("the epoch changed across a reopen")
	}

	other := openDB(t, filepath.Join(dir, "b.db"))
	mustPut(t, other, ob, clock, "chat/c1/hq", "z")
	if ep2 := epochOf(t, other, ob); ep2.ID == ep.ID || ep2.ID == "" {
		t.Fatalf("a new database has epoch %q, the old one %q", ep2.ID, ep.ID)
	}
	if got := streams(next(t, other, ob, 10, nil)); !equal(got, []string{"chat:1"}) {
		t.Fatalf("new database: %v", got)
	}
}

// TestNewEpochRestartsStreams: a restored box's NewEpoch makes another
// epoch (reason restored) whose streams start at 1; entries still waiting
// keep the epoch and numbers they were filed with.
func TestNewEpochRestartsStreams(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	clock := testclock.New(t0)
	ob := newOutbox(t, 0, clock)
	mustPut(t, db, ob, clock, "chat/c1/hq", "old 1")
	mustPut(t, db, ob, clock, "chat/c1/hq", "old 2")
	old := epochOf(t, db, ob)
	var fresh outbox.EpochInfo
	if err := db.Update(func(tx *bolt.Tx) (err error) { fresh, err = ob.NewEpoch(tx); return err }); err != nil {
		t.Fatal(err)
	}
	if fresh.ID == old.ID || fresh.Reason != outbox.EpochRestored || epochOf(t, db, ob).ID != fresh.ID {
		t.Fatalf("NewEpoch: %+v (old %+v), stored %+v", fresh, old, epochOf(t, db, ob))
	}
	mustPut(t, db, ob, clock, "chat/c1/hq", "new 1")
	es := next(t, db, ob, 10, nil)
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%s:%s:%d", e.Payload, e.Epoch, e.SSeq))
	}
	want := []string{"old 1:" + old.ID + ":1", "old 2:" + old.ID + ":2", "new 1:" + fresh.ID + ":1"}
	if !equal(got, want) {
		t.Fatalf("after NewEpoch: %v, want %v", got, want)
	}
}

// TestEarlierVersionsAdoptedAndRead: a database an earlier version wrote
// (its database id in cloud_meta, an entry of version 1 without epoch or
// number) keeps that id as its epoch, so the waiting entry goes up under
// the origin it always had, without a number; new entries are numbered.
func TestEarlierVersionsAdoptedAndRead(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	const legacyID = "0123456789abcdef"
	if err := db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket([]byte("cloud_meta"))
		if err != nil {
			return err
		}
		if err := m.Put([]byte("epoch"), []byte(legacyID)); err != nil {
			return err
		}
		// A version 1 entry: class id 1 (chat), seq 7.
		e, err := tx.CreateBucket([]byte("cloud_outbox"))
		if err != nil {
			return err
		}
		if _, err := e.NextSequence(); err != nil {
			return err
		}
		if err := e.SetSequence(7); err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64([]byte{1}, 7)
		v := binary.BigEndian.AppendUint64([]byte{1}, uint64(t0.UnixNano()))
		v = binary.AppendUvarint(v, uint64(len("chat/c1/hq")))
		v = append(v, "chat/c1/hq"...)
		v = binary.AppendUvarint(v, 0)
		v = append(v, "before"...)
		if err := e.Put(k, v); err != nil {
			return err
		}
		meta, err := tx.CreateBucket([]byte("cloud_outbox_meta"))
		if err != nil {
			return err
		}
		rec := make([]byte, 33)
		rec[0] = 1
		binary.BigEndian.PutUint64(rec[1:], 1)
		binary.BigEndian.PutUint64(rec[9:], uint64(len("chat/c1/hq")+len("before")))
		return meta.Put([]byte("c/chat"), rec)
	}); err != nil {
		t.Fatal(err)
	}
	clock := testclock.New(t0)
	ob := keepingOutbox(t, clock, time.Hour, 0)
	if ep := epochOf(t, db, ob); ep.ID != legacyID || ep.Reason != outbox.EpochAdopted {
		t.Fatalf("read-only epoch of an earlier database: %+v", ep)
	}
	mustPut(t, db, ob, clock, "chat/c1/hq", "after")
	es := next(t, db, ob, 10, nil)
	if len(es) != 2 || string(es[0].Payload) != "before" || es[0].Epoch != legacyID || es[0].SSeq != 0 || es[0].Origin != "7" ||
		string(es[1].Payload) != "after" || es[1].Epoch != legacyID || es[1].SSeq != 1 || es[1].Seq != 8 {
		t.Fatalf("entries: %+v", es)
	}
	if ep := epochOf(t, db, ob); ep.ID != legacyID || ep.Reason != outbox.EpochAdopted {
		t.Fatalf("epoch after the first Put: %+v", ep)
	}
	var n int
	if err := db.Update(func(tx *bolt.Tx) (err error) { n, err = ob.SealOld(tx); return err }); err != nil || n != 1 {
		t.Fatalf("SealOld = %d, %v", n, err)
	}
	if again := next(t, db, ob, 10, nil); again[0].Origin != "7" || again[0].Epoch != legacyID || string(again[0].Payload) != "before" {
		t.Fatalf("after the rewrite: %+v", again[0])
	}
	// Without a number it is not kept once acknowledged.
	ack(t, db, ob, 7)
	if s := stats(t, db, ob); s.Kept.Count != 0 || s.Count != 1 {
		t.Fatalf("stats: %+v", s)
	}
}

// TestRefileResendsTheSameEntries: acknowledged chat entries are kept
// sealed; Refile files a range again with the same epoch, origin, number
// and stamp; a range partly waiting counts those as there; a range not
// wholly kept (never made, or dropped by age or size) files nothing.
func TestRefileResendsTheSameEntries(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	clock := testclock.New(t0)
	ob := keepingOutbox(t, clock, time.Hour, 0)
	for i := 1; i <= 5; i++ {
		mustPut(t, db, ob, clock, "chat/c1/hq", fmt.Sprintf("m%d", i))
		mustPut(t, db, ob, clock, "devices/k1/telemetry", "t")
	}
	first := next(t, db, ob, 100, nil)
	var seqs []uint64
	for _, e := range first {
		if e.Class == "chat" && e.SSeq <= 4 {
			seqs = append(seqs, e.Seq)
		}
	}
	ack(t, db, ob, seqs...)
	if s := stats(t, db, ob); s.Kept.Count != 4 || s.Kept.Bytes != 4*int64(len("chat/c1/hq")+2) || s.Count != 6 {
		t.Fatalf("stats after ack: %+v", s)
	}
	refile := func(from, to uint64) outbox.Refiled {
		t.Helper()
		var r outbox.Refiled
		if err := db.Update(func(tx *bolt.Tx) (err error) { r, err = ob.Refile(tx, "chat", from, to); return err }); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := refile(2, 5); !r.Complete || r.Count != 3 || r.Waiting != 1 {
		t.Fatalf("refile 2..5: %+v", r)
	}
	again := next(t, db, ob, 100, nil)
	byPayload := map[string]outbox.Entry{}
	for _, e := range first {
		byPayload[string(e.Payload)] = e
	}
	var got []string
	for _, e := range again {
		if e.Class != "chat" {
			continue
		}
		o := byPayload[string(e.Payload)]
		if e.Origin != o.Origin || e.SSeq != o.SSeq || e.Epoch != o.Epoch || !e.Stored.Equal(o.Stored) || e.Topic != o.Topic {
			t.Fatalf("re-filed %+v, first sent as %+v", e, o)
		}
		got = append(got, string(e.Payload))
	}
	if !equal(got, []string{"m5", "m2", "m3", "m4"}) {
		t.Fatalf("chat entries waiting: %v", got)
	}
	// Acknowledged again, each replaces its kept copy.
	var re []uint64
	for _, e := range again {
		if e.Class == "chat" {
			re = append(re, e.Seq)
		}
	}
	ack(t, db, ob, re...)
	if s := stats(t, db, ob); s.Kept.Count != 5 || s.Count != 5 {
		t.Fatalf("stats after the second ack: %+v", s)
	}
	if r := refile(4, 6); r.Complete || r.Count != 0 {
		t.Fatalf("refile past the last number: %+v", r)
	}
	// An hour later the first two are too old: dropped, counted.
	clock.Advance(first[0].Stored.Add(time.Hour + 1500*time.Millisecond).Sub(clock.Now()))
	var dropped int
	if err := db.Update(func(tx *bolt.Tx) (err error) { dropped, err = ob.TrimKept(tx); return err }); err != nil || dropped != 1 {
		t.Fatalf("TrimKept = %d, %v (want the one entry older than an hour)", dropped, err)
	}
	if s := stats(t, db, ob); s.Kept.Count != 4 || s.Kept.Dropped != 1 {
		t.Fatalf("kept after an hour: %+v", s.Kept)
	}
	if r := refile(1, 3); r.Complete || r.Count != 0 {
		t.Fatalf("refile of a range partly dropped: %+v", r)
	}
	if n := len(next(t, db, ob, 100, nil)); n != 5 {
		t.Fatalf("an incomplete refile filed something: %d waiting", n)
	}
	if r := refile(2, 5); !r.Complete || r.Count != 4 {
		t.Fatalf("refile of what is left: %+v", r)
	}
}

// TestKeptBytesDropOldestFirst: past KeepBytes the oldest kept entries go
// first, whatever their stream.
func TestKeptBytesDropOldestFirst(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	clock := testclock.New(t0)
	size := int64(len("chat/c1/hq") + 2)
	ob := keepingOutbox(t, clock, 72*time.Hour, 3*size)
	mustPut(t, db, ob, clock, "chat/c1/hq", "c1")
	mustPut(t, db, ob, clock, "booking/ch", "b1")
	mustPut(t, db, ob, clock, "chat/c1/hq", "c2")
	mustPut(t, db, ob, clock, "booking/ch", "b2")
	var seqs []uint64
	for _, e := range next(t, db, ob, 10, nil) {
		seqs = append(seqs, e.Seq)
	}
	ack(t, db, ob, seqs...)
	s := stats(t, db, ob)
	if s.Kept.Count != 3 || s.Kept.Bytes != 3*size || s.Kept.Dropped != 1 || s.Kept.DroppedBytes != size {
		t.Fatalf("kept: %+v", s.Kept)
	}
	var chat1, booking1 outbox.Refiled
	if err := db.Update(func(tx *bolt.Tx) (err error) {
		if chat1, err = ob.Refile(tx, "chat", 1, 1); err != nil {
			return err
		}
		booking1, err = ob.Refile(tx, "booking", 1, 1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if chat1.Complete || !booking1.Complete {
		t.Fatalf("the oldest (chat 1) should be the one dropped: chat %+v booking %+v", chat1, booking1)
	}
	var bad outbox.Refiled
	err := db.Update(func(tx *bolt.Tx) (err error) { bad, err = ob.Refile(tx, "chat", 3, 2); return err })
	if err == nil || bad.Complete {
		t.Fatalf("refile 3..2: %+v, %v", bad, err)
	}
	if r := func() outbox.Refiled {
		var r outbox.Refiled
		_ = db.Update(func(tx *bolt.Tx) (err error) { r, err = ob.Refile(tx, "telemetry", 1, 1); return err })
		return r
	}(); r.Complete {
		t.Fatal("telemetry has no numbers to refile")
	}
}
