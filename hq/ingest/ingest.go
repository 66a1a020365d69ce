// Package ingest is HQ's consumer of the stores' uplink: it takes every
// store's messages from HQ's MQTT 5 broker through shared subscriptions
// ($share/{group}/stores/+/up/# and $share/{group}/stores/+/status), so any
// number of instances split the stores between them, applies each message
// to the replica in its own transaction and acknowledges it only after the
// commit. Messages of one store go through one worker, in the order they
// came; stores on other workers do not wait for it. A message that can
// never apply is acknowledged and counted; a database error is not
// acknowledged: the message is retried with backoff until the database
// takes it (or the instance stops, and the broker gives it again).
//
// It also asks stores to send again what the replica misses (a gap older
// than GapWait: a ResyncRequest on stores/{store}/down/sync/resync) and
// forgets old deduplication keys (SeenKeep).
package ingest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/proto"
)

// Defaults of Options.
const (
	DefaultGroup          = "hq"
	DefaultWorkers        = 16
	DefaultBatch          = 64
	DefaultReceiveMaximum = 1000
	DefaultSessionExpiry  = 24 * time.Hour
	DefaultGapWait        = 2 * time.Minute
	DefaultSeenKeep       = 30 * 24 * time.Hour
	DefaultDrainTimeout   = 10 * time.Second
	DefaultKeepAlive      = 30
)

// PropID is the user property of a downlink message cloudsync deduplicates
// by (cloudsync.PropID).
const PropID = cloudsync.PropID

// Options configure a Consumer.
type Options struct {
	Replica *replica.Replica
	// Brokers are HQ's broker's URLs (mqtt://, mqtts://, tcp://, ssl://,
	// ws://, wss://), tried in turn.
	Brokers []*url.URL
	// ClientID must be stable per instance and unique among instances:
	// the broker keeps its session (and the messages given to it) while
	// it restarts.
	ClientID string
	// Group is the shared subscriptions' group (DefaultGroup).
	Group    string
	Username string
	Password []byte
	TLS      *tls.Config
	// SessionExpiry is how long the broker keeps the session of a
	// stopped instance (DefaultSessionExpiry). Messages given to an
	// instance that does not come back within it are lost at HQ's broker;
	// the gaps they leave are asked again from the stores.
	SessionExpiry time.Duration
	KeepAlive     uint16
	// Workers is how many stores apply at once (DefaultWorkers).
	Workers int
	// Batch is the most messages a worker applies in one transaction
	// (DefaultBatch): those waiting in its queue when it starts one.
	Batch int
	// ReceiveMaximum bounds the messages the broker gives this instance
	// before it acknowledges them (DefaultReceiveMaximum): a store whose
	// messages wait (retries) holds back at most this many.
	ReceiveMaximum uint16
	// GapWait is how long a gap waits before its store is asked for the
	// range again (DefaultGapWait).
	GapWait time.Duration
	// SeenKeep is how long (store, origin) keys are kept for
	// deduplication (DefaultSeenKeep); 0 is the default, negative never
	// prunes.
	SeenKeep time.Duration
	// DrainTimeout bounds how long Run, when its context ends, still
	// applies and acknowledges the messages it holds (DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Registerer takes the metrics (nil: not registered).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (o *Options) setDefaults() error {
	if o.Replica == nil {
		return errors.New("ingest: no replica")
	}
	if len(o.Brokers) == 0 {
		return errors.New("ingest: no broker URL (mqtt.url)")
	}
	if o.ClientID == "" {
		return errors.New("ingest: no client id (mqtt.client_id)")
	}
	if o.Group == "" {
		o.Group = DefaultGroup
	}
	if strings.ContainsAny(o.Group, "/+#") {
		return fmt.Errorf("ingest: group %q: no /, + or #", o.Group)
	}
	if o.SessionExpiry == 0 {
		o.SessionExpiry = DefaultSessionExpiry
	}
	if o.SessionExpiry < 0 || o.SessionExpiry/time.Second > 0xFFFFFFFE {
		return fmt.Errorf("ingest: session expiry %v out of range", o.SessionExpiry)
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.Workers < 0 {
		return fmt.Errorf("ingest: workers %d", o.Workers)
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.Batch < 0 {
		return fmt.Errorf("ingest: batch %d", o.Batch)
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = DefaultReceiveMaximum
	}
	if o.GapWait == 0 {
		o.GapWait = DefaultGapWait
	}
	if o.GapWait < 0 {
		return fmt.Errorf("ingest: gap wait %v", o.GapWait)
	}
	if o.SeenKeep == 0 {
		o.SeenKeep = DefaultSeenKeep
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Filters are the shared subscriptions of a group.
func Filters(group string) []string {
	return []string{"$share/" + group + "/stores/+/up/#", "$share/" + group + "/stores/+/status"}
}

// Stats are a consumer's counts since it started.
type Stats struct {
	Applied, Duplicates, Parked, Stale, Drained, Bad, Unhandled, Statuses, DBErrors, Acked uint64
	ResyncsSent                                                                            uint64
	// Dropped counts QoS 0 messages dropped because their worker's queue
	// was full.
	Dropped uint64
	// Deferred counts messages parked because another instance was
	// applying their stream (drained in the background).
	Deferred uint64
}

// Consumer is one instance of HQ's ingest.
type Consumer struct {
	o   Options
	log *slog.Logger
	m   *metrics

	queues []chan job

	heldMu   sync.Mutex
	stopped  bool          // no new messages taken
	held     int           // messages routed and not yet done
	released chan struct{} // closed when stopped and nothing is held
	poke     chan struct{} // wakes the resync sweeper
	cm       atomic.Pointer[autopaho.ConnectionManager]
	up       atomic.Bool // connected and subscribed

	applied, duplicates, parked, stale, drained, badN, unhandled, statuses, dbErrors, acked, resyncs, dropped, deferred atomic.Uint64

	badLog burstLog

	nudgeMu   sync.Mutex
	nudges    map[replica.StreamKey]struct{} // streams to drain
	nudgeWake chan struct{}
}

// job is one message held by a worker until it is applied and acknowledged.
type job struct {
	pr       paho.PublishReceived
	received time.Time
}

// New checks o and makes a consumer; Run connects it.
func New(o Options) (*Consumer, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	c := &Consumer{o: o, log: o.Logger, poke: make(chan struct{}, 1), released: make(chan struct{}),
		nudges: map[replica.StreamKey]struct{}{}, nudgeWake: make(chan struct{}, 1)}
	c.badLog.log = o.Logger
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	c.m = m
	c.queues = make([]chan job, o.Workers)
	for i := range c.queues {
		// Never full: the broker gives at most ReceiveMaximum unacknowledged
		// messages, and the router must not block (pings go through it).
		c.queues[i] = make(chan job, int(o.ReceiveMaximum)+1)
	}
	return c, nil
}

// Stats returns the counts so far.
func (c *Consumer) Stats() Stats {
	return Stats{Applied: c.applied.Load(), Duplicates: c.duplicates.Load(), Parked: c.parked.Load(),
		Stale: c.stale.Load(), Drained: c.drained.Load(), Bad: c.badN.Load(), Unhandled: c.unhandled.Load(),
		Statuses: c.statuses.Load(), DBErrors: c.dbErrors.Load(), Acked: c.acked.Load(), ResyncsSent: c.resyncs.Load(),
		Dropped: c.dropped.Load(), Deferred: c.deferred.Load()}
}

// Ready reports whether the consumer is connected to HQ's broker and
// subscribed.
func (c *Consumer) Ready() bool { return c.up.Load() }

// Run (once per Consumer) connects to HQ's broker and consumes until ctx
// ends; then it stops
// taking messages, applies and acknowledges those it holds (for at most
// DrainTimeout), and disconnects, keeping its session at the broker.
func (c *Consumer) Run(ctx context.Context) error {
	connCtx, cancelConn := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelConn()
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var workers sync.WaitGroup
	for range max(1, c.o.Workers/4) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			c.nudger(workCtx)
		}()
	}
	for i := range c.queues {
		workers.Add(1)
		go func() {
			defer workers.Done()
			c.work(workCtx, c.queues[i])
		}()
	}
	expiry := uint32(c.o.SessionExpiry / time.Second)
	recvMax := c.o.ReceiveMaximum
	cfg := autopaho.ClientConfig{
		ServerUrls:                    c.o.Brokers,
		TlsCfg:                        c.o.TLS,
		KeepAlive:                     c.o.KeepAlive,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         expiry,
		ConnectUsername:               c.o.Username,
		ConnectPassword:               c.o.Password,
		ReconnectBackoff:              backoff(250*time.Millisecond, 5*time.Second),
		ConnectTimeout:                10 * time.Second,
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			cp.Properties.ReceiveMaximum = &recvMax
			return cp, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go c.subscribe(connCtx, cm)
		},
		OnConnectionDown: func() bool {
			c.up.Store(false)
			c.m.connected.Set(0)
			return true
		},
		OnConnectError: func(err error) {
			c.log.Warn("ingest: connect to HQ's broker", "err", err)
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   c.o.ClientID,
			EnableManualAcknowledgment: true,
			SendAcksInterval:           10 * time.Millisecond,
			OnPublishReceived:          []func(paho.PublishReceived) (bool, error){c.route},
			OnClientError: func(err error) {
				c.log.Warn("ingest: HQ's broker connection", "err", err)
			},
			OnServerDisconnect: func(d *paho.Disconnect) {
				c.log.Warn("ingest: HQ's broker disconnected us", "reason", d.ReasonCode)
			},
		},
	}
	if dial, ok := dialBuffered(c.o.Brokers); ok {
		cfg.AttemptConnection = dial
	}
	cm, err := autopaho.NewConnection(connCtx, cfg)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	c.cm.Store(cm)

	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		c.sweep(ctx, cm)
	}()

	<-ctx.Done()
	// Stop taking messages: those arriving now are left unacknowledged
	// for the broker to give again.
	c.heldMu.Lock()
	c.stopped = true
	if c.held == 0 {
		close(c.released)
	}
	c.heldMu.Unlock()
	bg.Wait()
	select {
	case <-c.released:
	case <-time.After(c.o.DrainTimeout):
		c.log.Warn("ingest: messages still held at shutdown; left to the broker to give again")
	}
	cancelWork()
	workers.Wait()
	// Acknowledgements go out on paho's ticker (SendAcksInterval); give
	// it a few turns before the connection closes.
	time.Sleep(5 * 10 * time.Millisecond)
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cm.Disconnect(dctx)
	c.up.Store(false)
	return nil
}

func (c *Consumer) subscribe(ctx context.Context, cm *autopaho.ConnectionManager) {
	var subs []paho.SubscribeOptions
	for _, f := range Filters(c.o.Group) {
		subs = append(subs, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	for attempt := 0; ; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		sa, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs})
		cancel()
		if err == nil {
			ok := true
			for _, rc := range sa.Reasons {
				if rc >= 0x80 {
					ok = false
				}
			}
			if ok {
				c.up.Store(true)
				c.m.connected.Set(1)
				c.log.Info("ingest: subscribed", "filters", Filters(c.o.Group), "client", c.o.ClientID)
				return
			}
			err = fmt.Errorf("refused: reason codes %v", sa.Reasons)
		}
		c.log.Warn("ingest: subscribe", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff(250*time.Millisecond, 5*time.Second)(attempt)):
		}
	}
}

// route hands a message to its store's worker. It does not block for
// QoS 1 messages (the broker gives at most ReceiveMaximum of them before
// they are acknowledged, and each queue holds that many); a QoS 0 message
// (at most once: device telemetry) that finds its worker's queue full is
// dropped and counted.
func (c *Consumer) route(pr paho.PublishReceived) (bool, error) {
	c.heldMu.Lock()
	if c.stopped {
		c.heldMu.Unlock()
		return true, nil // not acknowledged: the broker gives it again
	}
	c.held++
	c.heldMu.Unlock()
	store := storeOf(pr.Packet.Topic)
	h := fnv.New32a()
	_, _ = h.Write([]byte(store))
	q := c.queues[int(h.Sum32()%uint32(len(c.queues)))]
	j := job{pr: pr, received: time.Now()}
	if pr.Packet.QoS > 0 {
		q <- j
		return true, nil
	}
	select {
	case q <- j:
	default:
		c.m.messages.WithLabelValues("dropped").Inc()
		c.dropped.Add(1)
		c.done(1)
	}
	return true, nil
}

// done marks n routed messages as finished.
func (c *Consumer) done(n int) {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	c.held -= n
	if c.held == 0 && c.stopped {
		close(c.released)
	}
}

// storeOf is the {store} of stores/{store}/…, or "".
func storeOf(topic string) string {
	rest, ok := strings.CutPrefix(topic, "stores/")
	if !ok {
		return ""
	}
	s, _, _ := strings.Cut(rest, "/")
	return s
}

func (c *Consumer) work(ctx context.Context, q chan job) {
	batch := make([]job, 0, c.o.Batch)
	for {
		select {
		case <-ctx.Done():
			// Held messages stay unacknowledged; the broker gives them again.
			for {
				select {
				case <-q:
					c.done(1)
				default:
					return
				}
			}
		case j := <-q:
			// Whatever else waits in the queue goes in the same
			// transaction, up to Batch messages.
			batch = append(batch[:0], j)
		more:
			for len(batch) < c.o.Batch {
				select {
				case j := <-q:
					batch = append(batch, j)
				default:
					break more
				}
			}
			if c.handle(ctx, batch) {
				for _, j := range batch {
					if err := j.pr.Client.Ack(j.pr.Packet); err == nil {
						c.acked.Add(1)
					}
				}
			}
			c.done(len(batch))
		}
	}
}

// handle applies a batch of messages, retrying database errors with
// backoff. It reports whether the messages may be acknowledged (all of
// them: one transaction took them, or they can never apply).
func (c *Consumer) handle(ctx context.Context, batch []job) bool {
	for attempt := 0; ; attempt++ {
		deferred, err := c.apply(ctx, batch)
		if err == nil {
			c.nudgeLater(deferred)
			return true
		}
		c.dbErrors.Add(1)
		c.m.dbErrors.Inc()
		if attempt == 0 || attempt%20 == 0 {
			c.log.Warn("ingest: database; the messages wait unacknowledged and are tried again",
				"messages", len(batch), "err", err, "attempt", attempt+1)
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff(50*time.Millisecond, 5*time.Second)(attempt)):
		}
	}
}

// nudgeLater queues streams whose messages were parked while another
// instance applied them, to be drained in the background: the worker goes
// on (and the messages are already acknowledged: they are committed).
func (c *Consumer) nudgeLater(keys []replica.StreamKey) {
	if len(keys) == 0 {
		return
	}
	c.nudgeMu.Lock()
	for _, k := range keys {
		c.nudges[k] = struct{}{}
	}
	c.nudgeMu.Unlock()
	select {
	case c.nudgeWake <- struct{}{}:
	default:
	}
}

// nudger drains queued streams one at a time (each waits for the
// transaction applying its stream to end). What it has not drained when
// the instance stops is drained by the next resync planning (Stuck).
func (c *Consumer) nudger(ctx context.Context) {
	for {
		c.nudgeMu.Lock()
		var k replica.StreamKey
		found := false
		for k = range c.nudges {
			delete(c.nudges, k)
			found = true
			break
		}
		more := len(c.nudges) > 0
		c.nudgeMu.Unlock()
		if more {
			select {
			case c.nudgeWake <- struct{}{}:
			default:
			}
		}
		if !found {
			select {
			case <-ctx.Done():
				return
			case <-c.nudgeWake:
				continue
			}
		}
		outs, err := c.o.Replica.Nudge(ctx, k)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("ingest: drain a stream after another instance; left to the next planning", "store", k.Store, "stream", k.Stream, "err", err)
			continue
		}
		for _, o := range outs {
			c.drained.Add(uint64(o.Drained))
			c.m.drained.Add(float64(o.Drained))
			for _, e := range o.Rejected {
				c.bad(k.Store, e)
			}
		}
	}
}

// bad counts and logs a message that can never apply.
func (c *Consumer) bad(topic string, err error) {
	c.badN.Add(1)
	c.m.messages.WithLabelValues("bad").Inc()
	c.badLog.note("ingest: message that can never apply; acknowledged and dropped", "topic", topic, "err", err)
}

// apply applies a batch: statuses one by one, uplink messages in one
// transaction. An error is the database's (nothing may be acknowledged).
func (c *Consumer) apply(ctx context.Context, batch []job) ([]replica.StreamKey, error) {
	var ms []hq.Message
	var received []time.Time
	for _, j := range batch {
		p := j.pr.Packet
		if store, ok := statusStore(p.Topic); ok {
			var st proto.StoreStatus
			if err := json.Unmarshal(p.Payload, &st); err != nil {
				c.bad(p.Topic, err)
				continue
			}
			err := c.o.Replica.ApplyStatus(ctx, store, st, j.received)
			if errors.Is(err, replica.ErrBadMessage) {
				c.bad(p.Topic, err)
				continue
			}
			if err != nil {
				return nil, err
			}
			c.statuses.Add(1)
			c.m.messages.WithLabelValues("status").Inc()
			continue
		}
		m, err := hq.Parse(p)
		if err != nil {
			c.bad(p.Topic, err)
			continue
		}
		ms = append(ms, m)
		received = append(received, j.received)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	res, deferred, err := c.o.Replica.ApplyBatchLater(ctx, ms)
	if err != nil {
		return nil, err
	}
	for i, r := range res {
		if r.Err != nil {
			c.bad(ms[i].Topic, r.Err)
		}
		c.count(ms[i], r.Outcome, received[i])
	}
	return deferred, nil
}

func statusStore(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, "stores/")
	if !ok {
		return "", false
	}
	s, ok := strings.CutSuffix(rest, "/status")
	if !ok || s == "" || strings.Contains(s, "/") {
		return "", false
	}
	return s, true
}

func (c *Consumer) count(m hq.Message, out replica.Outcome, received time.Time) {
	switch {
	case out.Duplicate:
		c.duplicates.Add(1)
		c.m.messages.WithLabelValues("duplicate").Inc()
	case out.Stale:
		c.stale.Add(1)
		c.m.messages.WithLabelValues("stale").Inc()
	case out.Deferred:
		c.deferred.Add(1)
		c.m.messages.WithLabelValues("deferred").Inc()
	case out.Parked:
		c.parked.Add(1)
		c.m.messages.WithLabelValues("parked").Inc()
	case out.Applied:
		c.applied.Add(1)
		c.m.messages.WithLabelValues("applied").Inc()
		if !m.Stored.IsZero() {
			c.m.lag.Observe(received.Sub(m.Stored).Seconds())
			c.m.applyLag.Observe(time.Since(m.Stored).Seconds())
		}
	}
	if out.Drained > 0 {
		c.drained.Add(uint64(out.Drained))
		c.m.drained.Add(float64(out.Drained))
	}
	for _, e := range out.Rejected {
		c.badN.Add(1)
		c.m.messages.WithLabelValues("bad").Inc()
		c.badLog.note("ingest: parked message that can never apply; skipped", "store", m.Store, "err", e)
	}
	if n := len(out.Unhandled); n > 0 {
		c.unhandled.Add(uint64(n))
		for _, t := range out.Unhandled {
			c.m.unhandled.WithLabelValues(t).Inc()
		}
	}
	if out.Snapshot {
		select {
		case c.poke <- struct{}{}:
		default:
		}
	}
}

// sweep asks for the ranges of old gaps (and snapshots) and prunes old
// dedup keys, until ctx ends.
func (c *Consumer) sweep(ctx context.Context, cm *autopaho.ConnectionManager) {
	every := max(c.o.GapWait/4, time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.poke:
		}
		if !c.up.Load() {
			continue
		}
		reqs, err := c.o.Replica.PlanResyncs(ctx, c.o.GapWait)
		if err != nil {
			c.log.Warn("ingest: plan resync requests", "err", err)
			continue
		}
		for _, q := range reqs {
			if err := c.sendResync(ctx, cm, q); err != nil {
				c.log.Warn("ingest: send resync request", "store", q.Store, "err", err)
				_ = c.o.Replica.Unsend(context.WithoutCancel(ctx), q.ID)
				continue
			}
			c.resyncs.Add(1)
			c.m.resyncs.Inc()
			c.log.Info("ingest: asked a store to send again", "store", q.Store, "stream", q.Stream,
				"from", q.From, "to", q.To, "snapshot", q.Snapshot, "id", q.ID)
		}
		if c.o.SeenKeep > 0 && time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if n, err := c.o.Replica.PruneSeen(ctx, c.o.SeenKeep); err != nil {
				c.log.Warn("ingest: prune dedup keys", "err", err)
			} else if n > 0 {
				c.log.Info("ingest: pruned dedup keys", "n", n, "older_than", c.o.SeenKeep)
			}
		}
	}
}

func (c *Consumer) sendResync(ctx context.Context, cm *autopaho.ConnectionManager, q replica.Resync) error {
	b, err := json.Marshal(q.ResyncRequest)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = cm.Publish(pctx, &paho.Publish{QoS: 1, Topic: proto.CloudDownTopic(q.Store, "sync/resync"), Payload: b,
		Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: PropID, Value: q.ID}}}})
	return err
}

// backoff doubles from base up to limit.
func backoff(base, limit time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for range min(attempt, 30) {
			d *= 2
			if d >= limit {
				return limit
			}
		}
		return d
	}
}

// burstLog logs the first of a burst of like events and then, at most once
// a minute, how many followed.
type burstLog struct {
	log        *slog.Logger
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (b *burstLog) note(msg string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.last) < time.Minute {
		b.suppressed++
		return
	}
	if b.suppressed > 0 {
		args = append(args, "more_since_last_line", b.suppressed)
	}
	b.log.Warn(msg, args...)
	b.last, b.suppressed = time.Now(), 0
}
