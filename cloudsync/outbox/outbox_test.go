package outbox_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

// classify files topics by their first level, like a topic map would.
func classify(topic string) string {
	switch first, _, _ := strings.Cut(topic, "/"); first {
	case "chat", "booking", "media":
		return first
	}
	return outbox.ClassTelemetry
}

func openDB(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newOutbox(t testing.TB, maxBytes int64, clock *testclock.Clock) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.New(outbox.Options{MaxBytes: maxBytes, Classify: classify, Now: clock.Now, Seal: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// put stores one entry in its own transaction; the clock moves a second so
// entries are told apart by their Stored time too.
func put(t *testing.T, db *bolt.DB, ob *outbox.Outbox, clock *testclock.Clock, topic, payload string) error {
	t.Helper()
	clock.Advance(time.Second)
	return db.Update(func(tx *bolt.Tx) error { return ob.Put(tx, topic, []byte(payload)) })
}

func mustPut(t *testing.T, db *bolt.DB, ob *outbox.Outbox, clock *testclock.Clock, topic, payload string) {
	t.Helper()
	if err := put(t, db, ob, clock, topic, payload); err != nil {
		t.Fatalf("put %s: %v", topic, err)
	}
}

func next(t *testing.T, db *bolt.DB, ob *outbox.Outbox, n int, skip func(uint64) bool) []outbox.Entry {
	t.Helper()
	var es []outbox.Entry
	if err := db.View(func(tx *bolt.Tx) (err error) {
		es, err = ob.Next(tx, n, skip)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return es
}

func stats(t *testing.T, db *bolt.DB, ob *outbox.Outbox) outbox.Stats {
	t.Helper()
	var s outbox.Stats
	if err := db.View(func(tx *bolt.Tx) (err error) {
		s, err = ob.Stats(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func ack(t *testing.T, db *bolt.DB, ob *outbox.Outbox, seqs ...uint64) {
	t.Helper()
	if err := db.Update(func(tx *bolt.Tx) error { return ob.Ack(tx, seqs...) }); err != nil {
		t.Fatal(err)
	}
}

// payloads lists the entries as "topic=payload".
func payloads(es []outbox.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Topic+"="+string(e.Payload))
	}
	return out
}

func equal(a, b []string) bool { return strings.Join(a, "|") == strings.Join(b, "|") }

func TestNextOrdersByPriorityThenSeqAndKeepsTopicOrder(t *testing.T) {
	clock := testclock.New(t0)
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	ob := newOutbox(t, 0, clock)
	for _, p := range [][2]string{
		{"devices/a/telemetry", "t1"},
		{"chat/c1/hq", "c1-1"},
		{"media/p/hq", "m1"},
		{"booking/changes", "b1"},
		{"chat/c2/hq", "c2-1"},
		{"chat/c1/hq", "c1-2"},
		{"devices/a/telemetry", "t2"},
		{"booking/changes", "b2"},
		{"chat/c2/hq", "c2-2"},
	} {
		mustPut(t, db, ob, clock, p[0], p[1])
	}
	es := next(t, db, ob, 100, nil)
	want := []string{
		"chat/c1/hq=c1-1", "chat/c2/hq=c2-1", "chat/c1/hq=c1-2", "chat/c2/hq=c2-2",
		"booking/changes=b1", "booking/changes=b2",
		"media/p/hq=m1",
		"devices/a/telemetry=t1", "devices/a/telemetry=t2",
	}
	if got := payloads(es); !equal(got, want) {
		t.Fatalf("order:\n got %v\nwant %v", got, want)
	}
	// Per topic, Seq and Stored rise in the order returned.
	last := map[string]outbox.Entry{}
	for _, e := range es {
		if p, ok := last[e.Topic]; ok && (e.Seq <= p.Seq || !e.Stored.After(p.Stored)) {
			t.Fatalf("topic %s: seq %d (%v) after seq %d (%v)", e.Topic, e.Seq, e.Stored, p.Seq, p.Stored)
		}
		last[e.Topic] = e
		if e.Class != classify(e.Topic) || e.Origin != fmt.Sprint(e.Seq) {
			t.Fatalf("entry %+v: class or origin wrong", e)
		}
	}

	// The sender asks for what is not in flight, a window at a time.
	inflight := map[uint64]bool{es[0].Seq: true, es[1].Seq: true, es[4].Seq: true}
	got := payloads(next(t, db, ob, 3, func(seq uint64) bool { return inflight[seq] }))
	if want := []string{"chat/c1/hq=c1-2", "chat/c2/hq=c2-2", "booking/changes=b2"}; !equal(got, want) {
		t.Fatalf("with skip: got %v want %v", got, want)
	}
}

func TestPutOriginAndEmptyPayload(t *testing.T) {
	clock := testclock.New(t0)
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	ob := newOutbox(t, 0, clock)
	if err := db.Update(func(tx *bolt.Tx) error { return ob.PutOrigin(tx, "chat/c/hq", "c/7", nil) }); err != nil {
		t.Fatal(err)
	}
	es := next(t, db, ob, 10, nil)
	if len(es) != 1 || es[0].Origin != "c/7" || es[0].Payload == nil || len(es[0].Payload) != 0 || !es[0].Stored.Equal(t0) {
		t.Fatalf("got %+v", es)
	}
	if s := stats(t, db, ob); s.Bytes != int64(len("chat/c/hq")+len("c/7")) {
		t.Fatalf("bytes %d", s.Bytes)
	}
}

func TestAckDeletesAndIgnoresMissing(t *testing.T) {
	clock := testclock.New(t0)
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	ob := newOutbox(t, 0, clock)
	mustPut(t, db, ob, clock, "chat/c/hq", "one")
	mustPut(t, db, ob, clock, "devices/d/telemetry", "two")
	mustPut(t, db, ob, clock, "chat/c/hq", "three")
	es := next(t, db, ob, 10, nil)
	ack(t, db, ob, es[0].Seq, es[2].Seq, 999, es[0].Seq) // 999 and a repeat are ignored
	if got := payloads(next(t, db, ob, 10, nil)); !equal(got, []string{"chat/c/hq=three"}) {
		t.Fatalf("after ack: %v", got)
	}
	s := stats(t, db, ob)
	if s.Count != 1 || s.Bytes != int64(len("chat/c/hq")+len("three")) || s.Classes["telemetry"].Count != 0 || s.Classes["chat"].Count != 1 {
		t.Fatalf("stats %+v", s)
	}
	if !s.Oldest.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("oldest %v", s.Oldest)
	}
	ack(t, db, ob, es[1].Seq)
	if s := stats(t, db, ob); s.Count != 0 || s.Bytes != 0 || !s.Oldest.IsZero() {
		t.Fatalf("empty stats %+v", s)
	}
	// Acking before anything was ever Put is fine too.
	fresh := openDB(t, filepath.Join(t.TempDir(), "fresh.db"))
	ack(t, fresh, ob, 1, 2)
	if s := stats(t, fresh, ob); s.Count != 0 || len(s.Classes) != 0 {
		t.Fatalf("fresh stats %+v", s)
	}
}

func TestRestartKeepsEntriesCountersAndSequence(t *testing.T) {
	clock := testclock.New(t0)
	path := filepath.Join(t.TempDir(), "o.db")
	db := openDB(t, path)
	ob := newOutbox(t, 60, clock)
	mustPut(t, db, ob, clock, "devices/d/telemetry", strings.Repeat("x", 20)) // 39 bytes
	mustPut(t, db, ob, clock, "chat/c/hq", strings.Repeat("y", 21))           // 30 bytes: evicts the telemetry
	mustPut(t, db, ob, clock, "booking/changes", "b")                         // 16 bytes
	before := stats(t, db, ob)
	entries := next(t, db, ob, 10, nil)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openDB(t, path)
	ob = newOutbox(t, 60, clock)
	after := stats(t, db, ob)
	if fmt.Sprint(after) != fmt.Sprint(before) || after.Classes["telemetry"].Evicted != 1 || after.Classes["telemetry"].EvictedBytes != 39 {
		t.Fatalf("stats before %+v\nafter %+v", before, after)
	}
	if got := next(t, db, ob, 10, nil); fmt.Sprint(got) != fmt.Sprint(entries) || len(got) != 2 {
		t.Fatalf("entries before %v\nafter %v", entries, got)
	}
	mustPut(t, db, ob, clock, "chat/c/hq", "z")
	es := next(t, db, ob, 10, nil)
	if es[1].Seq != 4 || es[1].Payload[0] != 'z' {
		t.Fatalf("sequence after restart: %+v", es)
	}
}

func TestBudgetEvictsTelemetryThenMediaNeverChat(t *testing.T) {
	clock := testclock.New(t0)
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	// Every entry below is 10 bytes of topic + payload.
	ob := newOutbox(t, 50, clock)
	mustPut(t, db, ob, clock, "tel/a", "t1xxx")
	mustPut(t, db, ob, clock, "media/", "m1xx")
	mustPut(t, db, ob, clock, "tel/b", "t2xxx")
	mustPut(t, db, ob, clock, "chat/", "c1xxx")
	mustPut(t, db, ob, clock, "media/", "m2xx") // 50 bytes: full
	if s := stats(t, db, ob); s.Bytes != 50 || s.Count != 5 {
		t.Fatalf("full: %+v", s)
	}

	// A chat entry evicts the oldest telemetry only.
	mustPut(t, db, ob, clock, "chat/", "c2xxx")
	want := []string{"chat/=c1xxx", "chat/=c2xxx", "media/=m1xx", "media/=m2xx", "tel/b=t2xxx"}
	if got := payloads(next(t, db, ob, 10, nil)); !equal(got, want) {
		t.Fatalf("after one chat: %v", got)
	}
	// A telemetry entry evicts older telemetry, never media.
	mustPut(t, db, ob, clock, "tel/c", "t3xxx")
	want = []string{"chat/=c1xxx", "chat/=c2xxx", "media/=m1xx", "media/=m2xx", "tel/c=t3xxx"}
	if got := payloads(next(t, db, ob, 10, nil)); !equal(got, want) {
		t.Fatalf("after telemetry: %v", got)
	}
	// A chat entry of 20 bytes: the telemetry and then the oldest media go.
	mustPut(t, db, ob, clock, "chat/", "c3xxxxxxxxxxxxx")
	want = []string{"chat/=c1xxx", "chat/=c2xxx", "chat/=c3xxxxxxxxxxxxx", "media/=m2xx"}
	if got := payloads(next(t, db, ob, 10, nil)); !equal(got, want) {
		t.Fatalf("after big chat: %v", got)
	}
	// Two more chat entries: the last media goes, then chat goes over budget.
	mustPut(t, db, ob, clock, "chat/", "c4xxx")
	mustPut(t, db, ob, clock, "chat/", "c5xxx")
	s := stats(t, db, ob)
	if s.Count != 5 || s.Bytes != 60 || s.Over != 10 || s.Classes["chat"].Count != 5 || s.Classes["chat"].Evicted != 0 {
		t.Fatalf("only chat: %+v", s)
	}
	if tel, med := s.Classes["telemetry"], s.Classes["media"]; tel.Evicted != 3 || tel.EvictedBytes != 30 || med.Evicted != 2 || med.EvictedBytes != 20 || tel.Count != 0 || med.Count != 0 {
		t.Fatalf("eviction counters: telemetry %+v media %+v", tel, med)
	}

	// Only chat remains: telemetry and media are refused and nothing moves.
	for _, topic := range []string{"tel/d", "media/"} {
		err := put(t, db, ob, clock, topic, "x")
		if !errors.Is(err, outbox.ErrQuota) {
			t.Fatalf("%s: got %v, want ErrQuota", topic, err)
		}
	}
	if after := stats(t, db, ob); fmt.Sprint(after) != fmt.Sprint(s) {
		t.Fatalf("refusal changed stats:\n%+v\n%+v", s, after)
	}
}

func TestQuotaRefusalDoesNotEvict(t *testing.T) {
	clock := testclock.New(t0)
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	ob := newOutbox(t, 30, clock)
	mustPut(t, db, ob, clock, "chat/", "c1xxx")
	mustPut(t, db, ob, clock, "tel/a", "t1xxx")
	before := stats(t, db, ob)
	// 25 bytes of telemetry fit only if the chat went: refused. The caller
	// swallows the error and commits the rest of its work, which must not
	// have cost the old telemetry entry.
	var putErr error
	if err := db.Update(func(tx *bolt.Tx) error {
		putErr = ob.Put(tx, "tel/b", []byte(strings.Repeat("x", 20)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(putErr, outbox.ErrQuota) {
		t.Fatalf("got %v, want ErrQuota", putErr)
	}
	if after := stats(t, db, ob); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("refusal changed stats:\n%+v\n%+v", before, after)
	}
	// An entry bigger than the whole budget is refused the same way.
	if err := put(t, db, ob, clock, "media/", strings.Repeat("x", 40)); !errors.Is(err, outbox.ErrQuota) {
		t.Fatalf("oversized media: %v", err)
	}
}

func TestPutInFailedTransactionLeavesNothing(t *testing.T) {
	clock := testclock.New(t0)
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	ob := newOutbox(t, 30, clock)
	mustPut(t, db, ob, clock, "tel/a", "t1xxx")
	mustPut(t, db, ob, clock, "tel/b", "t2xxx")
	before, entries := stats(t, db, ob), next(t, db, ob, 10, nil)

	boom := errors.New("boom")
	err := db.Update(func(tx *bolt.Tx) error {
		// A new class, an eviction and a sequence step, all rolled back.
		if err := ob.Put(tx, "chat/", []byte(strings.Repeat("c", 20))); err != nil {
			return err
		}
		if err := ob.Ack(tx, entries[1].Seq); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if after := stats(t, db, ob); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("rolled back tx changed stats:\n%+v\n%+v", before, after)
	}
	if got := next(t, db, ob, 10, nil); fmt.Sprint(got) != fmt.Sprint(entries) {
		t.Fatalf("rolled back tx changed entries: %v", got)
	}
	mustPut(t, db, ob, clock, "chat/", "c")
	if es := next(t, db, ob, 1, nil); es[0].Seq != 3 {
		t.Fatalf("seq after rollback: %d", es[0].Seq)
	}
}

func TestAdmits(t *testing.T) {
	clock := testclock.New(t0)
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	ob := newOutbox(t, 30, clock)
	admits := func(class string, size int) bool {
		var ok bool
		_ = db.View(func(tx *bolt.Tx) error { ok = ob.Admits(tx, class, size); return nil })
		return ok
	}
	if !admits("telemetry", 30) || admits("telemetry", 31) || !admits("chat", 1000) || admits("gossip", 1) {
		t.Fatal("empty outbox")
	}
	mustPut(t, db, ob, clock, "chat/", "c1xxx") // 10
	mustPut(t, db, ob, clock, "tel/a", "t1xxx") // 10
	mustPut(t, db, ob, clock, "media/", "m1xx") // 10
	cases := []struct {
		class string
		size  int
		want  bool
	}{
		{"telemetry", 10, true},  // evicts telemetry
		{"telemetry", 11, false}, // would need media's room
		{"media", 20, true},      // evicts telemetry and media
		{"media", 21, false},     // would need chat's room
		{"chat", 500, true},      // always
		{"booking", 500, true},   // always
	}
	for _, c := range cases {
		if got := admits(c.class, c.size); got != c.want {
			t.Errorf("Admits(%s, %d) = %v, want %v", c.class, c.size, got, c.want)
		}
		// Put agrees with Admits.
		topic := map[string]string{"telemetry": "tel/x", "media": "media/", "chat": "chat/", "booking": "booking/"}[c.class]
		err := db.Update(func(tx *bolt.Tx) error {
			if err := ob.Put(tx, topic, []byte(strings.Repeat("p", c.size-len(topic)))); err != nil {
				return err
			}
			return errors.New("roll back")
		})
		if stored := err != nil && !errors.Is(err, outbox.ErrQuota); stored != c.want {
			t.Errorf("Put(%s, %d): %v", c.class, c.size, err)
		}
	}
	unlimited := newOutbox(t, 0, clock)
	_ = db.View(func(tx *bolt.Tx) error {
		if !unlimited.Admits(tx, "telemetry", 1<<30) {
			t.Error("no budget refuses")
		}
		return nil
	})
}

func TestBadInputAndOptions(t *testing.T) {
	clock := testclock.New(t0)
	db := openDB(t, filepath.Join(t.TempDir(), "o.db"))
	ob, err := outbox.New(outbox.Options{Classify: func(string) string { return "gossip" }, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		ob     *outbox.Outbox
		topic  string
		origin string
	}{
		{"unknown class", ob, "x", ""},
		{"empty topic", newOutbox(t, 0, clock), "", ""},
		{"long topic", newOutbox(t, 0, clock), strings.Repeat("t", 65536), ""},
		{"long origin", newOutbox(t, 0, clock), "chat/", strings.Repeat("o", 65536)},
	} {
		if err := db.Update(func(tx *bolt.Tx) error { return tc.ob.PutOrigin(tx, tc.topic, tc.origin, nil) }); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if s := stats(t, db, ob); s.Count != 0 || len(s.Classes) != 0 {
		t.Fatalf("bad input stored: %+v", s)
	}
	for name, o := range map[string]outbox.Options{
		"no classify":       {},
		"negative budget":   {Classify: classify, MaxBytes: -1},
		"duplicate class":   {Classify: classify, Order: []string{"chat", "chat"}},
		"empty class":       {Classify: classify, Order: []string{""}},
		"evict not ordered": {Classify: classify, Order: []string{"chat"}, Evict: []string{"telemetry"}},
	} {
		if _, err := outbox.New(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestOrderOptionAndChangedOrder(t *testing.T) {
	clock := testclock.New(t0)
	path := filepath.Join(t.TempDir(), "o.db")
	db := openDB(t, path)
	first, err := outbox.New(outbox.Options{Classify: classify, Now: clock.Now,
		Order: []string{"telemetry", "chat", "booking", "media"}})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, first, clock, "chat/", "c1")
	mustPut(t, db, first, clock, "tel/a", "t1")
	if got := payloads(next(t, db, first, 10, nil)); !equal(got, []string{"tel/a=t1", "chat/=c1"}) {
		t.Fatalf("custom order: %v", got)
	}
	// A later release sends chat first and no longer knows telemetry: the
	// old telemetry entry still goes, after the known classes, and new chat
	// entries follow old ones.
	second, err := outbox.New(outbox.Options{Classify: classify, Now: clock.Now, Order: []string{"chat", "booking"}, Evict: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, second, clock, "chat/", "c2")
	if got := payloads(next(t, db, second, 10, nil)); !equal(got, []string{"chat/=c1", "chat/=c2", "tel/a=t1"}) {
		t.Fatalf("changed order: %v", got)
	}
}

// BenchmarkPutAck files entries 256 per transaction and acks them 256 per
// transaction, as the services' group commits and the uplink's PUBACKs do;
// "fsync" is the production setting, "nosync" shows the outbox's own cost.
func BenchmarkPutAck(b *testing.B) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(mode.name, func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), "o.db"), 0o600, &bolt.Options{NoSync: mode.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			ob, err := outbox.New(outbox.Options{Classify: classify, MaxBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			payload := []byte(strings.Repeat("p", 200)) // about a chat entry's size
			const batch = 256
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				n := min(batch, b.N-done)
				if err := db.Update(func(tx *bolt.Tx) error {
					for i := range n {
						if err := ob.Put(tx, "chat/conv"+fmt.Sprint(i%8)+"/hq", payload); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if err := db.Update(func(tx *bolt.Tx) error {
					es, err := ob.Next(tx, n, nil)
					if err != nil {
						return err
					}
					seqs := make([]uint64, len(es))
					for i, e := range es {
						seqs[i] = e.Seq
					}
					return ob.Ack(tx, seqs...)
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
