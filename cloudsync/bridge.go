package cloudsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session/state"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
)

// DB is the store's database with group commit (broker/store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Options configure New.
type Options struct {
	Config Config
	// StoreID names the store on HQ's broker. Required; a valid topic level.
	StoreID string
	// DB holds the outbox and the downlink's dedup set. Required.
	DB DB
	// Map is the topic map. Required.
	Map *topicmap.Map
	// Deliver hands a message from HQ to the store (the services, or the
	// local broker); it runs one message at a time. Resync requests
	// (hq/sync/resync) are the bridge's own and never reach it. Required.
	Deliver func(context.Context, Inbound) error
	// Status, when set, publishes the retained status (StatusTopic)
	// locally.
	Status func(payload []byte) error
	// Log receives the bridge's log lines (default slog.Default()).
	Log *slog.Logger
	// Now is the clock of entry stamps and dedup expiry (default time.Now).
	Now func() time.Time
	// Seal encrypts the outbox's entries at rest (internal/seal.Keyring);
	// the broker always sets it. Nil stores them in the clear.
	Seal outbox.Sealer
	// Uplink is the uplink section of cloud.yaml (ParseUplink); nil means
	// DefaultUplink.
	Uplink *Uplink
	// Snapshotters file the services' current state for HQ: when the link
	// is made the first time for a database (the backfill) and when HQ
	// asks for a snapshot. More may be added with AddSnapshotter before Run.
	Snapshotters []Snapshotter
	// Version is the software's version, told to HQ in the presence and
	// the hello.
	Version string
	// ClockSynced says whether the box's clock is set from a time source
	// (internal/timesync.Watcher.Synced). Entries filed while it says no
	// go up with user property clock=unsynced, and the status and the
	// presence say clock_synced. Nil: the state is not known (nothing is
	// marked, clock_synced is left out). Call ClockChanged when it changes.
	ClockSynced func() bool
}

// Bridge is cloudsync: the outbox, the uplink that drains it to HQ and
// the downlink that brings HQ's messages in.
type Bridge struct {
	o    Options
	ob   *outbox.Outbox
	up   *uplink
	down *downlink

	connected  atomic.Bool
	reconnects atomic.Uint64
	errMu      sync.Mutex
	lastErr    string
	lastErrAt  time.Time
	since      time.Time

	capture chan captured
	refused atomic.Uint64 // captured entries refused: over budget
	dropped atomic.Uint64 // captured QoS 0 entries dropped: capture queue full
	looped  atomic.Uint64 // HQ's own topics not sent back

	statusMu  sync.Mutex
	publishMu sync.Mutex
	last      statusSnapshot
	burst     map[string]int64 // evictions counted in the current burst, by class

	uplinkCfg    Uplink
	snapMu       sync.Mutex
	snapshotters []Snapshotter
	errCount     atomic.Uint64 // errors since start (presence)
	epochID      atomic.Value  // string: the current epoch, for the presence
	cm           atomic.Pointer[autopaho.ConnectionManager]
	presenceMu   sync.Mutex
	presenceLast atomic.Int64 // backlog in the last presence published
	willAt       atomic.Value // time.Time: the current connection's start, as its Will says
	jobKick      chan struct{}
	jobs         jobCounters
	keptDropped  atomic.Int64 // kept entries dropped, as last logged
}

// captured is a device's publish waiting to be filed.
type captured struct {
	topic   string
	payload []byte
}

// captureQueue bounds the QoS 0 publishes waiting to be filed.
const captureQueue = 4096

// New checks the options and builds the outbox; Run connects.
func New(o Options) (*Bridge, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if !o.Config.Enabled() {
		return nil, errors.New("cloudsync: cloud.url is empty")
	}
	if o.DB == nil || o.Map == nil || o.Deliver == nil {
		return nil, errors.New("cloudsync: Options.DB, Map and Deliver are required")
	}
	if o.StoreID == "" || strings.ContainsAny(o.StoreID, "/+#") {
		return nil, fmt.Errorf("cloudsync: store id %q is not a topic level", o.StoreID)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if _, err := o.Config.tlsConfig(); err != nil {
		return nil, fmt.Errorf("cloudsync: %w", err)
	}
	up := DefaultUplink()
	if o.Uplink != nil {
		up = *o.Uplink
	}
	if err := up.Validate(); err != nil {
		return nil, fmt.Errorf("cloudsync: %w", err)
	}
	b := &Bridge{o: o, capture: make(chan captured, captureQueue), since: o.Now(), burst: map[string]int64{},
		uplinkCfg: up, jobKick: make(chan struct{}, 1)}
	for _, sn := range o.Snapshotters {
		b.AddSnapshotter(sn)
	}
	b.epochID.Store("")
	b.keptDropped.Store(-1)
	ob, err := outbox.New(outbox.Options{
		MaxBytes: o.Config.MaxOutboxBytes, Classify: o.Map.Class, Now: o.Now,
		Committed: func() { b.up.kick() }, Seal: o.Seal,
		KeepFor: up.KeepSentFor, KeepBytes: up.KeepSentBytes, ClockSynced: o.ClockSynced,
	})
	if err != nil {
		return nil, fmt.Errorf("cloudsync: %w", err)
	}
	b.ob = ob
	b.up = newUplink(o.DB, ob, o.Map, o.StoreID, o.Config.Inflight, o.Config.Rate, o.Log, o.Now, b.setErr)
	b.up.onAcked = b.backlogMaybeEmpty
	b.down = &downlink{db: o.DB, deliver: b.deliver, down: "stores/" + o.StoreID + "/down/", ttl: o.Config.DedupTTL,
		log: o.Log, now: o.Now, lastErr: b.setErr}
	return b, nil
}

// Uplink is the uplink section the bridge runs with (its limits, such as
// MaxMediaBytes, are also the services').
func (b *Bridge) Uplink() Uplink { return b.uplinkCfg }

// Outbox is where services file what HQ must see, inside their own
// transactions (broker/services/chat and broker/services/booking take it as their Outbox).
func (b *Bridge) Outbox() *outbox.Outbox { return b.ob }

func (b *Bridge) setErr(err error) {
	b.errCount.Add(1)
	b.errMu.Lock()
	defer b.errMu.Unlock()
	b.lastErr, b.lastErrAt = err.Error(), b.o.Now()
}

// ErrQuota is returned by Capture when the outbox has no room for a
// low-priority entry: the device's QoS 1 publish is refused with "quota
// exceeded".
var ErrQuota = outbox.ErrQuota

// Capture files a device's publish for HQ when the topic map takes its
// topic; wait says the publisher waits for its PUBACK, so the entry is on
// disk first. A topic under hq/ came from HQ and never goes back (no
// loops). Without wait the entry is queued and filed with others in one
// commit; when that queue is full it is dropped and counted.
func (b *Bridge) Capture(ctx context.Context, topic string, payload []byte, wait bool) error {
	if strings.HasPrefix(topic, LocalPrefix) {
		b.looped.Add(1)
		return nil
	}
	if _, ok := b.o.Map.Match(topic); !ok {
		return nil
	}
	if !wait {
		select {
		case b.capture <- captured{topic: topic, payload: payload}:
		default:
			b.dropped.Add(1)
		}
		return nil
	}
	err := b.o.DB.Update(ctx, func(tx *bolt.Tx) error { return b.ob.Put(tx, topic, payload) })
	if errors.Is(err, outbox.ErrQuota) {
		b.refused.Add(1)
	}
	return err
}

// runCapture files queued captures, many per commit.
func (b *Bridge) runCapture(ctx context.Context) {
	for {
		var group []captured
		select {
		case <-ctx.Done():
			return
		case c := <-b.capture:
			group = append(group, c)
		}
	fill:
		for len(group) < 256 {
			select {
			case c := <-b.capture:
				group = append(group, c)
			default:
				break fill
			}
		}
		refused, err := b.putAll(ctx, group)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.dropped.Add(uint64(len(group)))
			b.setErr(fmt.Errorf("file device messages for HQ: %w", err))
			continue
		}
		b.refused.Add(uint64(refused))
	}
}

// putAll files entries in the outbox in one transaction. An evictable
// entry the budget has no room for is refused (counted in the answer, not
// an error); any other failure files none of them.
func (b *Bridge) putAll(ctx context.Context, entries []captured) (refused int, err error) {
	err = b.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		refused = 0 // group commit may run the function again
		for _, e := range entries {
			switch err := b.ob.Put(tx, e.topic, e.payload); {
			case errors.Is(err, outbox.ErrQuota):
				refused++
			case err != nil:
				return err
			}
		}
		return nil
	})
	return refused, err
}

// StatusTopic is the local retained topic of the bridge's status.
const StatusTopic = "cloudsync/status"

// Run connects to HQ and keeps the bridge going until ctx ends.
func (b *Bridge) Run(ctx context.Context) error {
	c := b.o.Config
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("cloudsync: cloud.url: %w", err)
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return fmt.Errorf("cloudsync: %w", err)
	}
	clientID := c.ClientID
	if clientID == "" {
		clientID = "store-" + b.o.StoreID
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.down.ctx = ctx
	var sealed int
	if err := b.o.DB.Update(ctx, func(tx *bolt.Tx) (err error) {
		sealed, err = b.ob.SealOld(tx)
		return err
	}); err != nil {
		return fmt.Errorf("cloudsync: seal old outbox entries: %w", err)
	}
	if sealed > 0 {
		b.o.Log.Info("cloudsync: outbox entries filed by an older version are rewritten (sealed, with their epoch)", "entries", sealed)
	}
	if err := b.announce(ctx, u); err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { b.up.runAcks(ctx) })
	wg.Go(func() { b.runCapture(ctx) })
	wg.Go(func() { b.runStatus(ctx) })
	wg.Go(func() { b.runJobs(ctx) })
	wg.Go(func() { b.runPresence(ctx) })

	sess := &sessionState{State: state.NewInMemory(), u: b.up}
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        tlsCfg,
		KeepAlive:                     uint16(c.KeepAlive / time.Second),
		ConnectTimeout:                c.ConnectTimeout,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         uint32(c.SessionExpiry / time.Second),
		ReconnectBackoff:              backoff(c.ReconnectMin, c.ReconnectMax),
		Queue:                         b.up,
		ConnectUsername:               c.Username,
		ConnectPassword:               []byte(c.password()),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
			b.connected.Store(true)
			b.reconnects.Add(1)
			b.markChange()
			b.o.Log.Info("cloudsync: connected to HQ", "url", c.URL, "session_present", ca.SessionPresent)
			go b.subscribe(ctx, cm)
			go b.publishPresence(ctx, cm, true)
		},
		ConnectPacketBuilder: b.withWill,
		OnConnectionDown: func() bool {
			b.connected.Store(false)
			b.markChange()
			b.o.Log.Info("cloudsync: link to HQ down")
			return true
		},
		OnConnectError: func(err error) {
			b.setErr(fmt.Errorf("connect: %w", err))
			b.o.Log.Debug("cloudsync: connect failed", "err", err)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   clientID,
			Session:                    sess,
			EnableManualAcknowledgment: true,
			OnPublishReceived:          []func(paho.PublishReceived) (bool, error){b.down.handle},
			OnClientError:              func(err error) { b.setErr(err) },
			OnServerDisconnect: func(d *paho.Disconnect) {
				b.setErr(fmt.Errorf("HQ's broker disconnected: reason 0x%02x %s", d.ReasonCode, d.Properties.ReasonString))
			},
		},
	}
	// The connection outlives ctx a moment, to say the store goes offline.
	connCtx, connCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer connCancel()
	cm, err := autopaho.NewConnection(connCtx, cfg)
	if err != nil {
		return fmt.Errorf("cloudsync: %w", err)
	}
	b.cm.Store(cm)
	wg.Go(func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := b.down.sweep(ctx); err != nil && ctx.Err() == nil {
					b.setErr(err)
				}
			}
		}
	})
	wg.Go(func() { b.runTrimKept(ctx) })
	<-ctx.Done()
	// A clean stop says so: HQ's broker discards the Will on a normal
	// DISCONNECT.
	if b.connected.Load() {
		pctx, pcancel := context.WithTimeout(context.Background(), time.Second)
		b.publishPresence(pctx, cm, false)
		pcancel()
	}
	dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
	defer dcancel()
	_ = cm.Disconnect(dctx) // the session stays at HQ; nothing to do if this fails
	connCancel()
	<-cm.Done()
	b.connected.Store(false)
	b.publishStatus()
	return nil
}

// bucketMeta is cloudsync's own bucket: "linked" (the link a hello was
// filed for), "hello" (the epoch last announced) and "job/{id}" (resyncs
// and snapshots to do). Its "epoch", the database id of an earlier
// version, is adopted by the outbox as its first epoch.
var bucketMeta = []byte("cloud_meta")

// subscribe (re)subscribes the downlink. The session keeps subscriptions
// at HQ's broker, so this matters on the first connection and after a
// lost session; retained messages are sent only for a new subscription.
func (b *Bridge) subscribe(ctx context.Context, cm *autopaho.ConnectionManager) {
	sctx, cancel := context.WithTimeout(ctx, b.o.Config.ConnectTimeout)
	defer cancel()
	_, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "stores/" + b.o.StoreID + "/down/#", QoS: 1, RetainHandling: 1},
		{Topic: BroadcastPrefix + "#", QoS: 1, RetainHandling: 1},
	}})
	if err != nil && ctx.Err() == nil {
		b.setErr(fmt.Errorf("subscribe to HQ's topics: %w", err))
		b.o.Log.Warn("cloudsync: subscribing to HQ's topics failed; retried on the next connection", "err", err)
	}
}

// backoff is exponential from min to max with full jitter above min; the
// first retry after a drop is immediate (autopaho's attempt 0).
func backoff(lo, hi time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		if attempt <= 0 {
			return 0
		}
		ceil := lo << min(attempt-1, 30)
		if ceil > hi || ceil <= 0 {
			ceil = hi
		}
		if ceil <= lo {
			return lo
		}
		return lo + rand.N(ceil-lo)
	}
}
