package cloudsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// wire records every message on HQ's broker under a filter, every copy,
// with its user properties as sent.
type wire struct {
	t  testing.TB
	mu sync.Mutex
	ms []wireMsg
}

type wireMsg struct {
	hq.Message
	Retain bool
	Props  map[string]string
}

func newWire(t testing.TB, addr, id string, filters ...string) *wire {
	t.Helper()
	w := &wire{t: t}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: id,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			m := wireMsg{Retain: p.Retain, Props: map[string]string{}}
			if p.Properties != nil {
				for _, u := range p.Properties.User {
					m.Props[u.Key] = u.Value
				}
			}
			if parsed, err := hq.Parse(p); err == nil {
				m.Message = parsed
			} else {
				m.Message = hq.Message{Topic: p.Topic, Payload: p.Payload}
			}
			w.mu.Lock()
			w.ms = append(w.ms, m)
			w.mu.Unlock()
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: id, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	var subs []paho.SubscribeOptions
	for _, f := range filters {
		subs = append(subs, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return w
}

func (w *wire) all() []wireMsg {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wireMsg(nil), w.ms...)
}

// waitFor polls until pred holds for the messages so far.
func (w *wire) waitFor(what string, within time.Duration, pred func([]wireMsg) bool) []wireMsg {
	w.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ms := w.all()
		if pred(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, m := range ms {
				fmt.Fprintf(&b, "\n  %s %v %s", m.Topic, m.Props, m.Payload)
			}
			w.t.Fatalf("HQ's broker: %s not seen within %s; %d messages:%s", what, within, len(ms), b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func onTopic(local string) func(wireMsg) bool {
	return func(m wireMsg) bool { return m.LocalTopic == local }
}

func count(ms []wireMsg, pred func(wireMsg) bool) int {
	n := 0
	for _, m := range ms {
		if pred(m) {
			n++
		}
	}
	return n
}

// runner runs library bridges over databases of its own, which survive a
// stop, so a test can restart the bridge on the same database.
type runner struct {
	t     *testing.T
	cfg   cloudsync.Config
	up    cloudsync.Uplink
	snaps []cloudsync.Snapshotter
}

type running struct {
	br   *cloudsync.Bridge
	db   *store.DB
	stop func()
}

func (r runner) start(path string) *running {
	r.t.Helper()
	db, err := store.Open(store.Options{Path: path})
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := topicmap.Parse(configs.Cloud)
	if err != nil {
		r.t.Fatal(err)
	}
	up := r.up
	br, err := cloudsync.New(cloudsync.Options{Config: r.cfg, StoreID: "s1", DB: db, Map: m, Uplink: &up, Snapshotters: r.snaps,
		Version: "test-1", Deliver: func(context.Context, cloudsync.Inbound) error { return nil }})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = br.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			_ = db.Close()
		})
	}
	r.t.Cleanup(stop)
	return &running{br: br, db: db, stop: stop}
}

func (rn *running) put(t *testing.T, topics ...string) {
	t.Helper()
	if err := rn.db.Update(context.Background(), func(tx *bolt.Tx) error {
		for i, topic := range topics {
			if err := rn.br.Outbox().Put(tx, topic, fmt.Appendf(nil, `{"i":%d,"pad":%q}`, i, strings.Repeat("x", 100))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (rn *running) waitDrained(t *testing.T) cloudsync.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := rn.br.Status()
		if s.Connected && s.Backlog == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("not drained: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var hexEpoch = regexp.MustCompile(`^[0-9a-f]{16}$`)

// checkStreams asserts, over distinct messages (by origin), that every one
// carries epoch, stream and origin epoch/seq, that chat and booking are
// numbered 1..n without gap or repeat per (epoch, stream) and the others
// carry no number; it returns the last number per epoch/stream.
func checkStreams(t *testing.T, ms []wireMsg) map[string]uint64 {
	t.Helper()
	seen := map[string]bool{}
	nums := map[string]map[uint64]bool{}
	for _, m := range ms {
		if m.Origin == "" || seen[m.Origin] {
			continue
		}
		seen[m.Origin] = true
		ep, stream, sseq := m.Props["epoch"], m.Props["stream"], m.Props["sseq"]
		if !hexEpoch.MatchString(ep) || m.Origin != ep+"/"+m.Props["seq"] {
			t.Fatalf("%s: epoch %q, origin %q, seq %q: want 16 hex chars and origin epoch/seq", m.Topic, ep, m.Origin, m.Props["seq"])
		}
		switch stream {
		case "chat", "booking":
			if sseq == "" {
				t.Fatalf("%s (%s): no sseq", m.Topic, stream)
			}
			k := ep + "/" + stream
			if nums[k] == nil {
				nums[k] = map[uint64]bool{}
			}
			if nums[k][m.SSeq] {
				t.Fatalf("%s: sseq %d of %s twice with different origins", m.Topic, m.SSeq, k)
			}
			nums[k][m.SSeq] = true
		case "media", "telemetry":
			if _, ok := m.Props["sseq"]; ok {
				t.Fatalf("%s (%s): sseq %q on an evictable stream", m.Topic, stream, sseq)
			}
		default:
			t.Fatalf("%s: stream %q", m.Topic, stream)
		}
	}
	last := map[string]uint64{}
	for k, set := range nums {
		for i := uint64(1); i <= uint64(len(set)); i++ {
			if !set[i] {
				t.Fatalf("%s: numbers %v have a gap at %d", k, set, i)
			}
		}
		last[k] = uint64(len(set))
	}
	return last
}

func hellos(ms []wireMsg) []proto.StoreHello {
	var out []proto.StoreHello
	for _, m := range ms {
		if m.LocalTopic == proto.TopicHello {
			var h proto.StoreHello
			if err := json.Unmarshal(m.Payload, &h); err == nil {
				out = append(out, h)
			}
		}
	}
	return out
}

// TestStreamPropertiesOnTheWire: every uplink message carries the epoch
// and its stream; chat and booking are numbered without gaps per stream
// however the classes interleave, across a restart of the bridge; media
// and telemetry carry no number. The hello announces the epoch once. A new
// database is a new epoch whose numbers start again at 1.
func TestStreamPropertiesOnTheWire(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	w := newWire(t, hqb.Addr, "hq-wire", "stores/+/up/#")
	r := runner{t: t, cfg: testCloudConfig("mqtt://" + hqb.Addr), up: cloudsync.DefaultUplink()}
	dir := t.TempDir()
	a := r.start(filepath.Join(dir, "a.db"))
	mix := []string{"chat/c1/hq", "devices/k1/telemetry", "booking/changes", "chat/c2/hq", "media/abc", "booking/hq/outcome",
		"devices/k1/status", "chat/c1/hq", "audit/entries", "shop/info"}
	a.put(t, mix...)
	a.put(t, mix...)
	a.waitDrained(t)
	a.stop()
	a = r.start(filepath.Join(dir, "a.db"))
	a.put(t, mix...)
	a.waitDrained(t)
	a.stop()

	ms := w.waitFor("the entries of both runs", 10*time.Second, func(ms []wireMsg) bool { return len(ms) >= 1+3*len(mix) })
	last := checkStreams(t, ms)
	hs := hellos(ms)
	if len(hs) != 1 || hs[0].Reason != proto.HelloNew || !hexEpoch.MatchString(hs[0].Epoch) || hs[0].Version != "test-1" {
		t.Fatalf("hellos: %+v; want one, reason new, of the epoch", hs)
	}
	ep := hs[0].Epoch
	// chat: 3 per mix; booking: hello + 4 per mix.
	if last[ep+"/chat"] != 9 || last[ep+"/booking"] != 13 || len(last) != 2 {
		t.Fatalf("last numbers %v; want chat 9 and booking 13 in epoch %s", last, ep)
	}
	for _, m := range ms {
		if m.Origin != "" && (m.Epoch != ep || m.Store != "s1") {
			t.Fatalf("%s: epoch %s store %s", m.Topic, m.Epoch, m.Store)
		}
	}

	b := r.start(filepath.Join(dir, "b.db"))
	b.put(t, "chat/c1/hq", "booking/changes")
	b.waitDrained(t)
	ms = w.waitFor("the new database's entries", 10*time.Second, func(ms []wireMsg) bool { return len(hellos(ms)) == 2 && len(ms) >= 1+3*len(mix)+3 })
	hs = hellos(ms)
	if hs[1].Epoch == ep || hs[1].Reason != proto.HelloNew {
		t.Fatalf("second database's hello %+v; first epoch %s", hs[1], ep)
	}
	last = checkStreams(t, ms)
	if last[hs[1].Epoch+"/chat"] != 1 || last[hs[1].Epoch+"/booking"] != 2 {
		t.Fatalf("new epoch's numbers %v", last)
	}
}

// resync has HQ send one resync request.
func resync(t *testing.T, addr string, r proto.ResyncRequest) {
	t.Helper()
	p, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	pub := hqPublisher(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: proto.CloudDownTopic("s1", "sync/resync"), QoS: 1, Payload: p,
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: r.ID}}}}); err != nil {
		t.Fatal(err)
	}
}

func answers(ms []wireMsg) map[string]proto.ResyncAnswer {
	out := map[string]proto.ResyncAnswer{}
	for _, m := range ms {
		if m.LocalTopic == proto.TopicSyncAnswer {
			var a proto.ResyncAnswer
			if err := json.Unmarshal(m.Payload, &a); err == nil {
				out[a.ID] = a
			}
		}
	}
	return out
}

// TestResyncRange: HQ asks for a range of the chat stream; the store files
// the kept entries again with the same origin and number (HQ's dedup drops
// what it had) and answers resent. A range whose start was dropped from
// the kept range (past keep_sent_bytes) is answered gone and nothing is
// sent again; a bad request changes nothing.
func TestResyncRange(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	w := newWire(t, hqb.Addr, "hq-wire", "stores/+/up/#")
	up := cloudsync.DefaultUplink()
	entry := int64(len("chat/c1/hq") + len(`{"i":0,"pad":""}`) + 100)
	up.KeepSentBytes = 4 * entry // chat 3..6 stay; the hello and chat 1..2 are dropped first
	r := runner{t: t, cfg: testCloudConfig("mqtt://" + hqb.Addr), up: up}
	a := r.start(filepath.Join(t.TempDir(), "a.db"))
	// The bridge files its hello once it runs; wait for it, so that the
	// kept range holds the hello before the chat entries (a hello filed
	// after chat 3 pushes chat 3 out too: the range keeps the newest that
	// fit).
	w.waitFor("the hello", 10*time.Second, func(ms []wireMsg) bool { return count(ms, onTopic(proto.TopicHello)) == 1 })
	for range 6 {
		a.put(t, "chat/c1/hq")
	}
	a.waitDrained(t)
	ms := w.waitFor("six chat entries", 10*time.Second, func(ms []wireMsg) bool { return count(ms, onTopic("chat/c1/hq")) == 6 })
	first := map[uint64]wireMsg{}
	for _, m := range ms {
		if m.LocalTopic == "chat/c1/hq" {
			first[m.SSeq] = m
		}
	}
	if s := a.br.Status(); s.Kept.Count != 4 || s.Kept.Dropped != 3 {
		t.Fatalf("kept range: %+v (want chat 3..6 kept; hello, chat 1, 2 dropped)", s.Kept)
	}

	// A job record that does not decode (a damaged file) is dropped and
	// counted; it does not hold up the requests after it.
	if err := a.db.Update(context.Background(), func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("cloud_meta")).Put([]byte("job/aaa"), []byte("not json"))
	}); err != nil {
		t.Fatal(err)
	}
	resync(t, hqb.Addr, proto.ResyncRequest{V: 1, ID: "rs-1", Stream: "chat", From: 4, To: 6})
	ms = w.waitFor("the answer to rs-1", 10*time.Second, func(ms []wireMsg) bool { _, ok := answers(ms)["rs-1"]; return ok })
	ms = w.waitFor("the three entries again", 10*time.Second, func(ms []wireMsg) bool { return count(ms, onTopic("chat/c1/hq")) == 9 })
	if a := answers(ms)["rs-1"]; a.Status != proto.ResyncResent || a.Count != 3 || a.Stream != "chat" || a.From != 4 || a.To != 6 {
		t.Fatalf("answer %+v", a)
	}
	again := ms[len(ms)-4:]
	n := 0
	for _, m := range ms[len(first)+1:] {
		if m.LocalTopic != "chat/c1/hq" {
			continue
		}
		n++
		f := first[m.SSeq]
		if m.SSeq < 4 || m.SSeq > 6 || m.Origin != f.Origin || m.Epoch != f.Epoch || m.Props["ts"] != f.Props["ts"] || string(m.Payload) != string(f.Payload) {
			t.Fatalf("re-sent %v %s, first sent as %v %s", m.Props, m.Payload, f.Props, f.Payload)
		}
	}
	if n != 3 {
		t.Fatalf("%d entries re-sent, want 3 (%v)", n, again)
	}
	checkStreams(t, ms)

	resync(t, hqb.Addr, proto.ResyncRequest{V: 1, ID: "rs-2", Stream: "chat", From: 1, To: 6})
	resync(t, hqb.Addr, proto.ResyncRequest{V: 1, ID: "rs-bad", Stream: "telemetry", From: 1, To: 2})
	resync(t, hqb.Addr, proto.ResyncRequest{V: 1, ID: "rs-3", Stream: "chat", From: 7, To: 9})
	ms = w.waitFor("the answers to rs-2 and rs-3", 10*time.Second, func(ms []wireMsg) bool {
		as := answers(ms)
		_, ok2 := as["rs-2"]
		_, ok3 := as["rs-3"]
		return ok2 && ok3
	})
	as := answers(ms)
	if as["rs-2"].Status != proto.ResyncGone || as["rs-2"].Count != 0 || as["rs-3"].Status != proto.ResyncGone {
		t.Fatalf("answers %+v", as)
	}
	if _, ok := as["rs-bad"]; ok {
		t.Fatalf("a request for telemetry was answered: %+v", as["rs-bad"])
	}
	a.waitDrained(t)
	if c := count(w.all(), onTopic("chat/c1/hq")); c != 9 {
		t.Fatalf("HQ got %d chat copies, want 9: a gone range sends nothing", c)
	}
	s := a.br.Status()
	if s.Resync.Resent != 1 || s.Resync.Gone != 2 || s.Downlink.Failed != 1 || s.Resync.Failed != 1 {
		t.Fatalf("status %+v", s)
	}
	// The answers, acknowledged, were kept too and pushed older entries out.
	if s.Kept.Dropped <= 3 || s.Kept.Bytes > up.KeepSentBytes {
		t.Fatalf("kept %+v within %d bytes", s.Kept, up.KeepSentBytes)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.br.Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			got[name] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{"storeedge_cloud_resync_total/resent": 1, "storeedge_cloud_resync_total/gone": 2,
		"storeedge_cloud_kept_entries": float64(s.Kept.Count), "storeedge_cloud_kept_dropped_total": float64(s.Kept.Dropped)} {
		if got[name] != want {
			t.Errorf("metric %s = %v, want %v", name, got[name], want)
		}
	}
}

// snapshotter files n booking/changes entries, as a service would its
// state, and counts its calls.
type snapshotter struct {
	n     int
	calls int
	mu    sync.Mutex
}

func (s *snapshotter) Snapshot(ctx context.Context, put func(topic string, payload []byte) error) error {
	s.mu.Lock()
	s.calls++
	call := s.calls
	s.mu.Unlock()
	for i := range s.n {
		if err := put("booking/changes", fmt.Appendf(nil, `{"v":1,"type":"snapshot","booking":"bk-%d","call":%d}`, i, call)); err != nil {
			return err
		}
	}
	// Not mapped: skipped.
	return put("booking/events", []byte(`{}`))
}

func (s *snapshotter) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// TestBackfillAndSnapshot: the first link of a database files the hello
// and a snapshot by itself (no answer); a restart on the same database
// files neither again; HQ's snapshot request files the state again, with
// new numbers, and is answered with the count.
func TestBackfillAndSnapshot(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	w := newWire(t, hqb.Addr, "hq-wire", "stores/+/up/#")
	snap := &snapshotter{n: 600}
	up := cloudsync.DefaultUplink()
	up.SnapshotBatch = 100
	// Named twice (the daemon and a service may both add one): run once.
	r := runner{t: t, cfg: testCloudConfig("mqtt://" + hqb.Addr), up: up, snaps: []cloudsync.Snapshotter{snap, snap}}
	path := filepath.Join(t.TempDir(), "a.db")
	a := r.start(path)
	ms := w.waitFor("the backfill", 20*time.Second, func(ms []wireMsg) bool { return count(ms, onTopic("booking/changes")) == 600 })
	a.waitDrained(t)
	if hs := hellos(ms); len(hs) != 1 || hs[0].Reason != proto.HelloNew {
		t.Fatalf("hellos %+v", hs)
	}
	if len(answers(ms)) != 0 {
		t.Fatalf("the backfill was answered: %v", answers(ms))
	}
	if s := a.br.Status(); s.Resync.Snapshots != 1 || s.Resync.SnapshotEntries != 600 || snap.count() != 1 {
		t.Fatalf("status %+v", s.Resync)
	}
	a.stop()
	a = r.start(path)
	a.put(t, "chat/c1/hq")
	a.waitDrained(t)
	w.waitFor("the entry after the restart", 10*time.Second, func(ms []wireMsg) bool { return count(ms, onTopic("chat/c1/hq")) == 1 })
	if snap.count() != 1 || len(hellos(w.all())) != 1 {
		t.Fatalf("after a restart: %d snapshots, %d hellos; want 1 and 1", snap.count(), len(hellos(w.all())))
	}

	resync(t, hqb.Addr, proto.ResyncRequest{V: 1, ID: "snap-1", Snapshot: true})
	ms = w.waitFor("the snapshot's answer", 20*time.Second, func(ms []wireMsg) bool { _, ok := answers(ms)["snap-1"]; return ok })
	if a := answers(ms)["snap-1"]; a.Status != proto.ResyncSnapshot || a.Count != 600 {
		t.Fatalf("answer %+v", a)
	}
	ms = w.waitFor("the snapshot", 10*time.Second, func(ms []wireMsg) bool { return count(ms, onTopic("booking/changes")) == 1200 })
	// The answer comes after the snapshot's entries in the stream.
	var ansSSeq, maxSnap uint64
	for _, m := range ms {
		switch m.LocalTopic {
		case proto.TopicSyncAnswer:
			ansSSeq = m.SSeq
		case "booking/changes":
			maxSnap = max(maxSnap, m.SSeq)
		}
	}
	if ansSSeq != maxSnap+1 {
		t.Fatalf("answer numbered %d, last snapshot entry %d", ansSSeq, maxSnap)
	}
	if last := checkStreams(t, ms); last[hellos(ms)[0].Epoch+"/booking"] != 1+1200+1 {
		t.Fatalf("booking numbers %v; want hello + 1200 + answer", last)
	}
}

// isPresence: a message on stores/{store}/status.
func isPresence(m wireMsg) bool {
	return strings.HasPrefix(m.Topic, "stores/") && strings.HasSuffix(m.Topic, "/status") && strings.Count(m.Topic, "/") == 2
}

// linkLater rewrites a stopped test store's configuration with the cloud
// link on.
func linkLater(t *testing.T, s *st.Store, hqAddr string) {
	t.Helper()
	path := filepath.Join(s.Dir, "store.yaml")
	cfg, err := broker.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	cloudConfig(hqAddr, nil)(&cfg)
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, y, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBackfillOfAStoreLinkedLater: a store that took bookings with no
// link, then is linked, announces itself (hello, reason new: its epoch is
// made now) and runs the backfill snapshot once; a restart files neither
// again. (Which services file their state is theirs: the daemon hands the
// bridge every service that is a cloudsync.Snapshotter.)
func TestBackfillOfAStoreLinkedLater(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	w := newWire(t, hqb.Addr, "hq-wire", "stores/+/up/#")
	s := st.Start(t, st.Options{Devices: []st.Device{staffDev, kioskDev}})
	kiosk := s.Connect(t, kioskDev, "")
	start := s.Now().Add(24 * time.Hour).Truncate(24 * time.Hour).Add(8 * time.Hour)
	book := func(i int) {
		// Request ids of their own: a new connection's would repeat the
		// first's, which the store answers from its memory of requests.
		st.OK(t, kiosk.CallID(t, "booking", "book", fmt.Sprintf("book-%d", i), fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":"cust-%d"}`,
			start.Add(time.Duration(i)*24*time.Hour).Format(time.RFC3339), i)))
	}
	for i := range 3 {
		book(i)
	}
	s.Stop()
	linkLater(t, s, hqb.Addr)
	s.Up()
	ms := w.waitFor("the hello", 20*time.Second, func(ms []wireMsg) bool { return len(hellos(ms)) == 1 })
	h := hellos(ms)[0]
	if h.Reason != proto.HelloNew || !hexEpoch.MatchString(h.Epoch) {
		t.Fatalf("hello %+v", h)
	}
	sw := watchStatus(t, s, staffDev)
	sw.until("the backfill done", 20*time.Second, func(st cloudsync.Status) bool { return st.Resync.Snapshots == 1 && st.Backlog == 0 })
	s.Restart()
	kiosk = s.Connect(t, kioskDev, "")
	book(3)
	ms = w.waitFor("the change after the restart", 20*time.Second, func(ms []wireMsg) bool { return count(ms, onTopic("booking/changes")) >= 1 })
	if n := len(hellos(ms)); n != 1 {
		t.Fatalf("%d hellos after a restart, want 1", n)
	}
	checkStreams(t, ms)
	sw = watchStatus(t, s, staffDev)
	if st := sw.until("a status", 10*time.Second, func(cloudsync.Status) bool { return true }); st.Resync.Snapshots != 0 {
		t.Fatalf("a restart ran the backfill again: %+v", st.Resync)
	}
}

// presence decodes the presence messages seen, oldest first.
func presences(t *testing.T, ms []wireMsg) []proto.StoreStatus {
	t.Helper()
	var out []proto.StoreStatus
	for _, m := range ms {
		if isPresence(m) {
			var p proto.StoreStatus
			if err := json.Unmarshal(m.Payload, &p); err != nil {
				t.Fatalf("presence %s: %v", m.Payload, err)
			}
			out = append(out, p)
		}
	}
	return out
}

// TestPresenceAndWill: the store's presence is retained on HQ's broker
// (online, epoch, version, backlog, the store's clock); a late subscriber
// gets it. When the store is killed (-9) HQ's broker publishes the Will:
// retained, online false. The store back publishes online again, and once
// a backlog it built while cut off is drained it says so at once, without
// waiting for the next period.
func TestPresenceAndWill(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	px := link(t, hqb.Addr)
	// HQ's consumer: chat and booking entries that no consumer takes are
	// kept by the store, and the backlog would never empty.
	newWire(t, hqb.Addr, "hq-consumer", "stores/+/up/#")
	var store string
	mapFile := filepath.Join(t.TempDir(), "cloud.yaml")
	// status_every: an hour, so every presence after the first comes from
	// a connect or an emptied backlog.
	cloudYAML := strings.Replace(string(configs.Cloud), "status_every: 30s", "status_every: 1h", 1)
	if err := os.WriteFile(mapFile, []byte(cloudYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := st.Start(t, st.Options{Devices: []st.Device{staffDev, kioskDev}, Process: true,
		// A slow drain (5 a second) keeps the backlog there when the
		// presence on reconnect is read.
		Config: cloudConfig(px.Addr(), func(c *broker.Config) { store = c.StoreID; c.Cloud.MapFile = mapFile; c.Cloud.Rate = 5 })})
	topic := proto.CloudStatusTopic(store)
	w := newWire(t, hqb.Addr, "hq-presence", "stores/+/status")
	ps := presences(t, w.waitFor("the presence", 20*time.Second, func(ms []wireMsg) bool { return count(ms, isPresence) > 0 }))
	p := ps[len(ps)-1]
	if !p.Online || p.Store != store || !hexEpoch.MatchString(p.Epoch) || p.V != 1 || p.TS.IsZero() {
		t.Fatalf("presence %+v", p)
	}
	again := newWire(t, hqb.Addr, "hq-presence-2", "stores/+/status")
	if all := again.waitFor("the retained presence", 10*time.Second, func(ms []wireMsg) bool { return len(ms) > 0 }); !all[0].Retain || all[0].Topic != topic || !presences(t, all)[0].Online {
		t.Fatalf("first presence seen by a later subscriber: retained %v, topic %s: %s", all[0].Retain, all[0].Topic, all[0].Payload)
	}

	s.Kill()
	ms := w.waitFor("the Will", 20*time.Second, func(ms []wireMsg) bool {
		ps := presences(t, ms)
		return len(ps) > 0 && !ps[len(ps)-1].Online
	})
	will := presences(t, ms)
	if last := will[len(will)-1]; last.Store != store || last.TS.IsZero() || last.Backlog != 0 {
		t.Fatalf("Will %+v", last)
	}
	late := newWire(t, hqb.Addr, "hq-late", "stores/+/status")
	lm := late.waitFor("the retained Will", 10*time.Second, func(ms []wireMsg) bool { return count(ms, isPresence) > 0 })
	if lp := presences(t, lm); lp[0].Online || !lm[0].Retain {
		t.Fatalf("a subscriber after the kill gets %+v (retained %v), want the Will retained", lp[0], lm[0].Retain)
	}

	// Back, but cut off from HQ: a backlog builds.
	px.Down()
	s.Up()
	kiosk := s.Connect(t, kioskDev, "")
	for i := range 20 {
		kiosk.Publish(t, "devices/kiosk-1/status", fmt.Appendf(nil, `{"n":%d}`, i))
	}
	before := len(w.all())
	px.Up()
	ms = w.waitFor("online with a backlog, then online with none", 30*time.Second, func(ms []wireMsg) bool {
		ps := presences(t, ms[before:])
		return len(ps) >= 2 && ps[len(ps)-1].Online && ps[len(ps)-1].Backlog == 0
	})
	ps = presences(t, ms[before:])
	if !ps[0].Online || ps[0].Backlog < 10 || ps[0].OldestAt == nil || ps[0].BacklogBytes == 0 {
		t.Fatalf("presence on reconnect %+v, want online with most of the backlog of 20 and its oldest", ps[0])
	}
}

// TestHelloReasons: a database an earlier version linked keeps its
// database id as its epoch and says "linked" (with the backfill, since
// that version kept no marker); after a restore's NewEpoch the bridge says
// "restored" and the new epoch's streams start again at 1.
func TestHelloReasons(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	w := newWire(t, hqb.Addr, "hq-wire", "stores/+/up/#")
	snap := &snapshotter{n: 2}
	r := runner{t: t, cfg: testCloudConfig("mqtt://" + hqb.Addr), up: cloudsync.DefaultUplink(), snaps: []cloudsync.Snapshotter{snap}}
	path := filepath.Join(t.TempDir(), "a.db")
	const legacyID = "00c0ffee00c0ffee"
	db, err := store.Open(store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists([]byte("cloud_meta"))
		if err != nil {
			return err
		}
		return m.Put([]byte("epoch"), []byte(legacyID))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	a := r.start(path)
	a.put(t, "booking/changes")
	a.waitDrained(t)
	ms := w.waitFor("the hello and the entries", 10*time.Second, func(ms []wireMsg) bool { return count(ms, onTopic("booking/changes")) == 3 })
	if hs := hellos(ms); len(hs) != 1 || hs[0].Reason != proto.HelloLinked || hs[0].Epoch != legacyID || snap.count() != 1 {
		t.Fatalf("hellos %+v, %d snapshots; want one, linked, epoch %s, and the backfill", hs, snap.count(), legacyID)
	}
	a.stop()

	// The restore: a new epoch in the database, as the restore tool does.
	db, err = store.Open(store.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	m, err := topicmap.Parse(configs.Cloud)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := outbox.New(outbox.Options{Classify: m.Class})
	if err != nil {
		t.Fatal(err)
	}
	var fresh outbox.EpochInfo
	if err := db.Update(context.Background(), func(tx *bolt.Tx) (err error) { fresh, err = ob.NewEpoch(tx); return err }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	a = r.start(path)
	a.put(t, "booking/changes", "chat/c1/hq")
	a.waitDrained(t)
	ms = w.waitFor("the restored epoch's hello", 10*time.Second, func(ms []wireMsg) bool { return len(hellos(ms)) == 2 && count(ms, onTopic("chat/c1/hq")) == 1 })
	hs := hellos(ms)
	if hs[1].Reason != proto.HelloRestored || hs[1].Epoch != fresh.ID || snap.count() != 1 {
		t.Fatalf("hello %+v (want restored, epoch %s), %d snapshots (want no second backfill)", hs[1], fresh.ID, snap.count())
	}
	last := checkStreams(t, ms)
	if last[fresh.ID+"/booking"] != 2 || last[fresh.ID+"/chat"] != 1 || last[legacyID+"/booking"] != 4 {
		t.Fatalf("numbers %v", last)
	}
}
