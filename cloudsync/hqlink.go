package cloudsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/proto"
)

// Snapshotter files a service's current state for HQ (chat: its
// conversations; booking: its bookings; the shop: its ShopInfo) on the
// normal topics, each through put, which files it in the outbox like any
// entry (a new origin and stream number). cloudsync calls it when the link
// is made the first time for a database and when HQ asks for a snapshot,
// one Snapshotter at a time, never inside a transaction.
//
// put keeps entries in memory and commits them Uplink.SnapshotBatch at a
// time, so a call may wait for a commit: a Snapshotter must not hold a
// transaction of the store's database while it calls put (read a page of
// its state in a View, leave it, put the page, read the next). The state
// filed is therefore not one instant's: an item that changes meanwhile is
// also filed by its own change, and HQ keeps the newer by its revision or
// time. A topic the topic map does not send is skipped (logged).
type Snapshotter interface {
	Snapshot(ctx context.Context, put func(topic string, payload []byte) error) error
}

// AddSnapshotter adds s to the Snapshotters; call it before Run. Adding
// one that is already there (the same comparable value) changes nothing,
// so the daemon and a service may both add a service.
func (b *Bridge) AddSnapshotter(s Snapshotter) {
	if s == nil {
		return
	}
	b.snapMu.Lock()
	defer b.snapMu.Unlock()
	if reflect.TypeOf(s).Comparable() {
		for _, have := range b.snapshotters {
			if reflect.TypeOf(have) == reflect.TypeOf(s) && have == s {
				return
			}
		}
	}
	b.snapshotters = append(b.snapshotters, s)
}

// linkMarker is what bucketMeta's "linked" holds: the link a hello was
// filed for.
type linkMarker struct {
	Store string    `json:"store"`
	URL   string    `json:"url"`
	At    time.Time `json:"at"`
}

// backfillJob is the key of the snapshot the bridge runs by itself when the
// link is made the first time for a database.
const backfillJob = "~backfill"

// announce files, when the bridge starts, the hello HQ needs: for an epoch
// not announced yet (reason new, restored, or linked for a database id an
// earlier version made), or for a link configured anew (another store id
// or HQ address). The first link of a database, or a new store id, also
// queues a snapshot (the backfill), so that what was made before the link
// reaches HQ.
func (b *Bridge) announce(ctx context.Context, hqURL *url.URL) error {
	cur := linkMarker{Store: b.o.StoreID, URL: hqURL.Redacted(), At: b.o.Now()}
	var hello *proto.StoreHello
	var backfill bool
	err := b.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		hello, backfill = nil, false
		ep, err := b.ob.Epoch(tx)
		if err != nil {
			return err
		}
		b.epochID.Store(ep.ID)
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		var prev *linkMarker
		if v := m.Get([]byte("linked")); v != nil {
			prev = new(linkMarker)
			if err := json.Unmarshal(v, prev); err != nil {
				prev = &linkMarker{} // unreadable: treated as another link
			}
		}
		reason := ""
		switch {
		case string(m.Get([]byte("hello"))) != ep.ID && ep.Reason == outbox.EpochNew:
			reason = proto.HelloNew
		case string(m.Get([]byte("hello"))) != ep.ID && ep.Reason == outbox.EpochRestored:
			reason = proto.HelloRestored
		case string(m.Get([]byte("hello"))) != ep.ID, prev == nil, prev.Store != cur.Store, prev.URL != cur.URL:
			reason = proto.HelloLinked
		}
		if reason == "" {
			return nil
		}
		hello = &proto.StoreHello{V: 1, Epoch: ep.ID, Version: b.o.Version, Started: ep.Made.UTC(), Reason: reason, TS: b.o.Now().UTC()}
		p, err := json.Marshal(hello)
		if err != nil {
			return err
		}
		if err := b.ob.Put(tx, proto.TopicHello, p); err != nil {
			return err
		}
		if prev == nil || prev.Store != cur.Store {
			backfill = true
			job, err := json.Marshal(proto.ResyncRequest{V: 1, Snapshot: true})
			if err != nil {
				return err
			}
			if err := m.Put([]byte("job/"+backfillJob), job); err != nil {
				return err
			}
		}
		mv, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		if err := m.Put([]byte("linked"), mv); err != nil {
			return err
		}
		return m.Put([]byte("hello"), []byte(ep.ID))
	})
	if err != nil {
		return fmt.Errorf("cloudsync: announce the epoch: %w", err)
	}
	if hello != nil {
		b.o.Log.Info("cloudsync: hello filed for HQ", "epoch", hello.Epoch, "reason", hello.Reason, "backfill", backfill)
	}
	return nil
}

// withWill sets the connection's Last Will: the presence, retained, with
// online false and the connect time.
func (b *Bridge) withWill(c *paho.Connect, _ *url.URL) (*paho.Connect, error) {
	at := b.o.Now().UTC()
	p, err := json.Marshal(struct {
		V      int       `json:"v"`
		Store  string    `json:"store"`
		Online bool      `json:"online"`
		TS     time.Time `json:"ts"`
	}{1, b.o.StoreID, false, at})
	if err != nil {
		return nil, err
	}
	// The presences of this connection say when it began (Since), which
	// is how HQ tells this connection's Will from an older one's.
	b.willAt.Store(at)
	c.WillMessage = &paho.WillMessage{Topic: proto.CloudStatusTopic(b.o.StoreID), Payload: p, QoS: 1, Retain: true}
	c.WillProperties = &paho.WillProperties{}
	return c, nil
}

// Presence is the store's presence as it would be published now.
func (b *Bridge) Presence(online bool) proto.StoreStatus {
	var st outbox.Stats
	_ = b.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		st, err = b.ob.Stats(tx)
		return err
	})
	s := proto.StoreStatus{V: 1, Store: b.o.StoreID, Online: online, Epoch: b.epochID.Load().(string), Version: b.o.Version,
		Backlog: st.Count, BacklogBytes: st.Bytes, Errors: b.errCount.Load(), TS: b.o.Now().UTC()}
	if !st.Oldest.IsZero() && !st.OldestUnsynced {
		o := st.Oldest.UTC()
		s.OldestAt = &o
	}
	if at, ok := b.willAt.Load().(time.Time); ok && online {
		s.Since = &at
	}
	b.errMu.Lock()
	s.LastError = b.lastErr
	b.errMu.Unlock()
	s.ClockSynced = b.clockSynced()
	return s
}

// clockSynced is Options.ClockSynced as the status fields say it: nil
// when not known.
func (b *Bridge) clockSynced() *bool {
	if b.o.ClockSynced == nil {
		return nil
	}
	v := b.o.ClockSynced()
	return &v
}

// ClockChanged tells HQ (the presence, when connected) and the store (the
// local status) at once that the clock's state changed.
func (b *Bridge) ClockChanged() {
	go b.publish(false)
	if cm := b.cm.Load(); cm != nil && b.connected.Load() && b.down.ctx != nil {
		go b.publishPresence(b.down.ctx, cm, true)
	}
}

// publishPresence publishes the presence on HQ's broker, retained, QoS 1.
// Publishes are one at a time, so the retained one is the latest.
func (b *Bridge) publishPresence(ctx context.Context, cm *autopaho.ConnectionManager, online bool) {
	b.presenceMu.Lock()
	defer b.presenceMu.Unlock()
	s := b.Presence(online)
	p, err := json.Marshal(s)
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, b.o.Config.ConnectTimeout)
	defer cancel()
	if _, err := cm.Publish(pctx, &paho.Publish{Topic: proto.CloudStatusTopic(b.o.StoreID), QoS: 1, Retain: true, Payload: p}); err != nil {
		if ctx.Err() == nil && b.connected.Load() {
			b.o.Log.Debug("cloudsync: presence not published; the next one follows", "err", err)
		}
		return
	}
	b.presenceLast.Store(s.Backlog)
}

// runPresence refreshes the presence every Uplink.StatusEvery while
// connected.
func (b *Bridge) runPresence(ctx context.Context) {
	t := time.NewTicker(b.uplinkCfg.StatusEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if cm := b.cm.Load(); cm != nil && b.connected.Load() {
				b.publishPresence(ctx, cm, true)
			}
		}
	}
}

// backlogMaybeEmpty runs after acknowledged entries were deleted: when the
// last presence showed a backlog and the outbox is empty now, HQ is told.
func (b *Bridge) backlogMaybeEmpty() {
	if b.presenceLast.Load() == 0 {
		return
	}
	var n int64
	_ = b.o.DB.View(func(tx *bolt.Tx) error {
		st, err := b.ob.Stats(tx)
		n = st.Count
		return err
	})
	if cm := b.cm.Load(); n == 0 && cm != nil && b.connected.Load() {
		go b.publishPresence(b.down.ctx, cm, true)
	}
}

// deliver takes HQ's messages: resync requests are cloudsync's own, the
// rest go to Options.Deliver.
func (b *Bridge) deliver(ctx context.Context, in Inbound) error {
	if in.Topic == proto.TopicResync {
		return b.takeResync(ctx, in)
	}
	return b.o.Deliver(ctx, in)
}

// takeResync checks a ResyncRequest and records it as a job (bucketMeta
// "job/{id}"), done by runJobs; the message is acknowledged once the job
// is on disk. A request with the id of a job not done yet is that job.
func (b *Bridge) takeResync(ctx context.Context, in Inbound) error {
	var r proto.ResyncRequest
	dec := json.NewDecoder(bytes.NewReader(in.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("%w: resync request: %w", ErrInvalid, err)
	}
	switch {
	case r.V != 1:
		return fmt.Errorf("%w: resync request: v %d, want 1", ErrInvalid, r.V)
	case r.ID == "" || len(r.ID) > 200 || strings.HasPrefix(r.ID, "~"):
		return fmt.Errorf("%w: resync request: id %q: 1 to 200 bytes, not starting with ~", ErrInvalid, r.ID)
	case !r.Snapshot && !b.ob.Sequenced(r.Stream):
		return fmt.Errorf("%w: resync request %s: stream %q has no numbers (want chat or booking)", ErrInvalid, r.ID, r.Stream)
	case !r.Snapshot && (r.From == 0 || r.To < r.From):
		return fmt.Errorf("%w: resync request %s: range %d..%d, want 1 ≤ from ≤ to", ErrInvalid, r.ID, r.From, r.To)
	}
	p, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := b.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.Put([]byte("job/"+r.ID), p)
	}); err != nil {
		return fmt.Errorf("record resync request %s: %w", r.ID, err)
	}
	b.o.Log.Info("cloudsync: resync request from HQ", "id", r.ID, "stream", r.Stream, "from", r.From, "to", r.To, "snapshot", r.Snapshot)
	b.kickJobs()
	return nil
}

func (b *Bridge) kickJobs() {
	select {
	case b.jobKick <- struct{}{}:
	default:
	}
}

// jobCounters count the jobs done since start (Status).
type jobCounters struct {
	resent, gone, snapshots, snapshotEntries, failed atomic.Uint64
}

// runJobs does the recorded jobs, oldest key first, one at a time; a job
// that fails stays and is tried again after a pause (1 s doubling to 5 min).
func (b *Bridge) runJobs(ctx context.Context) {
	b.kickJobs()
	wait := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.jobKick:
		}
		for {
			key, req, ok, err := b.nextJob()
			if err == nil && ok {
				err = b.doJob(ctx, key, req)
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				b.jobs.failed.Add(1)
				b.setErr(fmt.Errorf("resync job %s (retrying in %s): %w", key, wait, err))
				b.o.Log.Warn("cloudsync: resync job failed; retrying", "job", key, "in", wait, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				wait = min(2*wait, 5*time.Minute)
				continue
			}
			wait = time.Second
			if !ok {
				break
			}
		}
	}
}

func (b *Bridge) nextJob() (key string, req proto.ResyncRequest, ok bool, err error) {
	err = b.o.DB.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return nil
		}
		c := m.Cursor()
		var keys []string
		for k, _ := c.Seek([]byte("job/")); k != nil && bytes.HasPrefix(k, []byte("job/")); k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		if len(keys) == 0 {
			return nil
		}
		sort.Strings(keys)
		key, ok = keys[0], true
		if err := json.Unmarshal(m.Get([]byte(key)), &req); err != nil {
			return fmt.Errorf("%w: %w", errBadJob, err)
		}
		return nil
	})
	if errors.Is(err, errBadJob) {
		// Never done however often tried: dropped, and said so.
		b.o.Log.Error("cloudsync: unreadable resync job dropped", "job", key, "err", err)
		b.jobs.failed.Add(1)
		if derr := b.o.DB.Update(context.Background(), func(tx *bolt.Tx) error {
			if m := tx.Bucket(bucketMeta); m != nil {
				return m.Delete([]byte(key))
			}
			return nil
		}); derr != nil {
			return key, req, false, derr
		}
		return b.nextJob()
	}
	return key, req, ok, err
}

// errBadJob marks a job record that does not decode.
var errBadJob = errors.New("resync job does not decode")

// doJob files what the job asks for and, for a request from HQ, the
// answer; the job's record goes in the answer's transaction.
func (b *Bridge) doJob(ctx context.Context, key string, r proto.ResyncRequest) error {
	answer := proto.ResyncAnswer{V: 1, ID: r.ID, Stream: r.Stream, From: r.From, To: r.To}
	var prepare func(tx *bolt.Tx) error
	if r.Snapshot {
		n, err := b.snapshot(ctx)
		if err != nil {
			return err
		}
		answer.Status, answer.Count = proto.ResyncSnapshot, n
		b.jobs.snapshots.Add(1)
		b.jobs.snapshotEntries.Add(uint64(n))
		b.o.Log.Info("cloudsync: snapshot filed for HQ", "job", key, "entries", n)
	} else {
		prepare = func(tx *bolt.Tx) error {
			res, err := b.ob.Refile(tx, r.Stream, r.From, r.To)
			if err != nil {
				return err
			}
			answer.Status, answer.Count = proto.ResyncGone, 0
			if res.Complete {
				answer.Status, answer.Count = proto.ResyncResent, res.Count
			}
			return nil
		}
	}
	err := b.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		if prepare != nil {
			if err := prepare(tx); err != nil {
				return err
			}
		}
		if r.ID != "" {
			answer.TS = b.o.Now().UTC()
			p, err := json.Marshal(answer)
			if err != nil {
				return err
			}
			if err := b.ob.Put(tx, proto.TopicSyncAnswer, p); err != nil {
				return err
			}
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.Delete([]byte(key))
	})
	if err != nil {
		return err
	}
	if !r.Snapshot {
		if answer.Status == proto.ResyncResent {
			b.jobs.resent.Add(1)
		} else {
			b.jobs.gone.Add(1)
		}
		b.o.Log.Info("cloudsync: resync answered", "id", r.ID, "stream", r.Stream, "from", r.From, "to", r.To, "status", answer.Status, "count", answer.Count)
	}
	return nil
}

// snapshot runs every Snapshotter, filing what they put in transactions of
// Uplink.SnapshotBatch entries; it returns how many entries were filed.
func (b *Bridge) snapshot(ctx context.Context) (int, error) {
	b.snapMu.Lock()
	snaps := slices.Clone(b.snapshotters)
	b.snapMu.Unlock()
	var batch []captured
	filed := 0
	skipped := map[string]bool{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		refused, err := b.putAll(ctx, batch)
		if err != nil {
			return fmt.Errorf("file snapshot entries: %w", err)
		}
		b.refused.Add(uint64(refused))
		filed += len(batch) - refused
		batch = batch[:0]
		return nil
	}
	put := func(topic string, payload []byte) error {
		if strings.HasPrefix(topic, LocalPrefix) {
			return fmt.Errorf("cloudsync: snapshot topic %q: topics under %s come from HQ", topic, LocalPrefix)
		}
		if _, ok := b.o.Map.Match(topic); !ok {
			if !skipped[topic] {
				skipped[topic] = true
				b.o.Log.Warn("cloudsync: snapshot entry on a topic the map does not send; skipped", "topic", topic)
			}
			return nil
		}
		batch = append(batch, captured{topic: topic, payload: bytes.Clone(payload)})
		if len(batch) >= b.uplinkCfg.SnapshotBatch {
			return flush()
		}
		return nil
	}
	for _, s := range snaps {
		if err := s.Snapshot(ctx, put); err != nil {
			return filed, fmt.Errorf("snapshot: %w", err)
		}
	}
	return filed, flush()
}

// runTrimKept drops expired kept entries every minute (acknowledgements
// trim too), and logs drops once per minute they happened.
func (b *Bridge) runTrimKept(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := b.o.DB.Update(ctx, func(tx *bolt.Tx) error {
			_, err := b.ob.TrimKept(tx)
			return err
		}); err != nil {
			if ctx.Err() != nil {
				return
			}
			b.setErr(fmt.Errorf("trim the kept range: %w", err))
			continue
		}
		var ks outbox.KeptStats
		_ = b.o.DB.View(func(tx *bolt.Tx) error {
			st, err := b.ob.Stats(tx)
			ks = st.Kept
			return err
		})
		if prev := b.keptDropped.Swap(ks.Dropped); ks.Dropped > prev && prev >= 0 {
			b.o.Log.Info("cloudsync: acknowledged entries dropped from the kept range (older than keep_sent_for or past keep_sent_bytes); HQ is answered gone for them",
				"dropped", ks.Dropped-prev, "kept", ks.Count, "kept_bytes", ks.Bytes)
		}
	}
}
