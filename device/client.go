package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/proto"
)

// Client is one device's connection to the store broker. It is safe for
// concurrent use. Create it with New or Connect; Close it when done.
type Client struct {
	cfg      Config
	clientID string
	reply    string // the response topic: reply/{client id}/a
	cm       *autopaho.ConnectionManager
	disk     *diskQueue // nil: the queue is in memory only
	started  time.Time

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	puts   sync.WaitGroup // requests admitted and still being written to disk: Close waits for them
	kick   chan struct{}  // wakes the sender

	mu         sync.Mutex
	link       uint64          // counts connection ups and downs
	gen        uint64          // the link value of the connection in use; 0 while down
	connCtx    context.Context // ends with the current connection
	connCancel context.CancelFunc
	refused    chan error    // the first CONNACK refusal, for Connect
	readyCh    chan struct{} // closed and replaced when the client becomes ready or closes
	pending    []*entry      // queued requests, in the order they were made
	byID       map[string]*entry
	order      uint64
	subs       []*subscription
	removals   []uint64 // disk sequence numbers to delete
	closed     bool
	stats      Stats
}

// Stats are the client's counters.
type Stats struct {
	Connects  int // connections made
	Sent      int // request publishes, repeats included
	Resent    int // requests sent again with the same id (reconnect, ResendAfter, retry)
	Answered  int // answers delivered (to a caller or OnAnswer)
	Repeats   int // answers dropped because the request was answered already
	Queued    int // requests waiting now
	Heartbeat int // heartbeats published
}

// New starts a client: it connects in the background and keeps
// reconnecting; requests queue meanwhile. Requests left in Config.QueueDir
// by an earlier run are sent again; their answers go to Config.OnAnswer.
func New(cfg Config) (*Client, error) {
	cfg, urls, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, clientID: cfg.clientID(), started: time.Now(),
		kick: make(chan struct{}, 1), byID: map[string]*entry{}, refused: make(chan error, 1), readyCh: make(chan struct{})}
	c.reply = proto.ReplyTopic(c.clientID, "a")
	if cfg.QueueDir != "" {
		if c.disk, err = openDiskQueue(cfg.QueueDir); err != nil {
			return nil, err
		}
		if err := c.loadQueue(); err != nil {
			c.disk.close()
			return nil, err
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())

	pc := autopaho.ClientConfig{
		ServerUrls:                    urls,
		TlsCfg:                        cfg.TLS,
		KeepAlive:                     uint16(cfg.KeepAlive / time.Second),
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         uint32(cfg.SessionExpiry / time.Second),
		ReconnectBackoff:              autopaho.NewExponentialBackoff(cfg.ReconnectMin, cfg.ReconnectMax, cfg.ReconnectMin, 2),
		ConnectTimeout:                cfg.ConnectTimeout,
		ConnectUsername:               cfg.username(),
		ConnectPassword:               []byte(cfg.Password),
		OnConnectionUp:                c.up,
		OnConnectionDown:              c.down,
		OnConnectError:                c.connectError,
		ClientConfig: paho.ClientConfig{
			ClientID:          c.clientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){c.received},
		},
	}
	if cfg.Dial != nil {
		dial := cfg.Dial
		pc.AttemptConnection = func(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			return dial(ctx, u)
		}
	}
	if !cfg.NoPresence {
		pc.WillMessage = &paho.WillMessage{Retain: true, QoS: 1, Topic: c.statusTopic(),
			Payload: offlineWill}
	}
	cm, err := autopaho.NewConnection(c.ctx, pc)
	if err != nil {
		c.cancel()
		if c.disk != nil {
			c.disk.close()
		}
		return nil, fmt.Errorf("device: %w", err)
	}
	c.mu.Lock()
	c.cm = cm // up may have set it already: the same value
	c.mu.Unlock()
	c.wg.Add(2)
	go c.sendLoop()
	go c.removeLoop()
	if !cfg.NoPresence && cfg.Heartbeat > 0 {
		c.wg.Add(1)
		go c.heartbeatLoop()
	}
	return c, nil
}

// ErrRefused: the broker refused the login (CONNACK reason code ≥ 0x80:
// bad credentials, a client id that is not the device's, not authorised).
var ErrRefused = errors.New("device: the broker refused the connection")

// Connect is New, then waits until the first connection is up. It fails
// at once when the broker refuses the credentials (ErrRefused, wrapping
// autopaho's ConnackError with the reason code), and when ctx ends first.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.AwaitConnection(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(cctx)
		return nil, err
	}
	return c, nil
}

// AwaitConnection waits until the client is connected and subscribed to
// its answers; ErrRefused when the broker refuses the credentials.
func (c *Client) AwaitConnection(ctx context.Context) error {
	for {
		c.mu.Lock()
		up, closed := c.gen != 0, c.closed
		c.mu.Unlock()
		if up {
			return nil
		}
		if closed {
			return ErrClosed
		}
		select {
		case err := <-c.refused:
			return err
		case <-ctx.Done():
			return fmt.Errorf("device: not connected: %w", ctx.Err())
		case <-c.changed():
		}
	}
}

// Connected reports whether the client is connected now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen != 0
}

// ClientID is the MQTT client id ({DeviceID} or {DeviceID}:{suffix}).
func (c *Client) ClientID() string { return c.clientID }

// DeviceID is the device's id in the store's registry (Config.DeviceID).
func (c *Client) DeviceID() string { return c.cfg.DeviceID }

// Link tells connections apart: id is a number that changes with every
// connection (0 while down), and next is closed when the client next
// becomes connected or closes. What must be redone once per connection —
// a camera registers again after every reconnect — waits on next and
// compares ids; taking both at once misses no reconnect in between.
func (c *Client) Link() (id uint64, next <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.readyCh
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Queued = len(c.pending)
	return s
}

func (c *Client) statusTopic() string    { return proto.DeviceStatusTopic(c.cfg.DeviceID) }
func (c *Client) telemetryTopic() string { return proto.DeviceTelemetryTopic(c.cfg.DeviceID) }

func (c *Client) connectError(err error) {
	c.cfg.Log.Warn("device: connection attempt failed", "err", err)
	var ce *autopaho.ConnackError
	if errors.As(err, &ce) {
		select {
		case c.refused <- fmt.Errorf("%w: %w", ErrRefused, err):
		default:
		}
	}
	if c.cfg.OnConnection != nil {
		c.cfg.OnConnection(false, err)
	}
}

// up runs on autopaho's goroutine and must not block: the subscriptions
// and the status go out from their own goroutine, and requests are sent
// only once the answers' subscription is in place.
func (c *Client) up(cm *autopaho.ConnectionManager, _ *paho.Connack) {
	c.mu.Lock()
	c.cm = cm
	c.link++
	link := c.link
	ctx, cancel := context.WithCancel(c.ctx)
	if c.connCancel != nil {
		c.connCancel()
	}
	c.connCtx, c.connCancel = ctx, cancel
	c.stats.Connects++
	subs := append([]*subscription(nil), c.subs...)
	c.mu.Unlock()
	go c.ready(ctx, link, subs)
}

func (c *Client) ready(ctx context.Context, link uint64, subs []*subscription) {
	s := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: proto.ReplyFilter(c.clientID), QoS: 1}}}
	for _, sub := range subs {
		// Retain handling 1: retained messages only for a subscription
		// the session did not have yet.
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: sub.filter, QoS: 1, RetainHandling: 1})
	}
	ack, err := c.conn().Subscribe(ctx, s)
	if ack == nil {
		c.cfg.Log.Warn("device: subscribe after connecting failed", "err", err)
		return
	}
	for i, r := range ack.Reasons {
		if r >= 0x80 && i == 0 {
			c.cfg.Log.Error("device: the broker refused the subscription to this client's answers", "reason", r)
			return
		}
		if r >= 0x80 {
			c.cfg.Log.Warn("device: subscription refused", "filter", s.Subscriptions[i].Topic, "reason", r)
		}
	}
	if !c.cfg.NoPresence {
		c.publishStatus(ctx, proto.StateOnline)
	}
	c.mu.Lock()
	if c.link != link || ctx.Err() != nil {
		c.mu.Unlock()
		return
	}
	c.gen = link
	c.signalLocked()
	c.mu.Unlock()
	c.wake()
	c.cfg.Log.Info("device: connected", "client", c.clientID)
	if c.cfg.OnConnection != nil {
		c.cfg.OnConnection(true, nil)
	}
}

func (c *Client) down() bool {
	c.mu.Lock()
	c.link++
	c.gen = 0
	if c.connCancel != nil {
		c.connCancel()
		c.connCancel = nil
	}
	closed := c.closed
	c.mu.Unlock()
	if c.cfg.OnConnection != nil && !closed {
		c.cfg.OnConnection(false, nil)
	}
	return !closed
}

func (c *Client) publishStatus(ctx context.Context, state string) {
	p, _ := json.Marshal(proto.DeviceStatus{V: 1, State: state, TS: time.Now().UTC().Format(time.RFC3339Nano), App: c.cfg.AppVersion}) // plain fields: cannot fail
	if _, err := c.conn().Publish(ctx, &paho.Publish{QoS: 1, Retain: true, Topic: c.statusTopic(), Payload: p}); err != nil {
		c.cfg.Log.Warn("device: status not published", "state", state, "err", err)
	}
}

func (c *Client) heartbeatLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if !c.Connected() {
			continue
		}
		m := map[string]any{}
		if c.cfg.Telemetry != nil {
			for k, v := range c.cfg.Telemetry() {
				m[k] = v
			}
		}
		s := c.Stats()
		m["v"], m["ts"] = 1, time.Now().UTC().Format(time.RFC3339Nano)
		m["uptime_s"], m["queued"] = int(time.Since(c.started).Seconds()), s.Queued
		p, err := json.Marshal(m)
		if err != nil {
			c.cfg.Log.Warn("device: telemetry not encodable", "err", err)
			continue
		}
		if _, err := c.conn().Publish(c.ctx, &paho.Publish{QoS: 0, Topic: c.telemetryTopic(), Payload: p}); err == nil {
			c.mu.Lock()
			c.stats.Heartbeat++
			c.mu.Unlock()
		}
	}
}

// Close publishes the device's "offline" status, disconnects and stops the
// client. Requests still queued stay on disk (Config.QueueDir) for the next
// run; callers waiting for them get ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.signalLocked()
	up := c.gen != 0
	waiting := c.pending
	c.mu.Unlock()
	if up && !c.cfg.NoPresence {
		c.publishStatus(ctx, proto.StateOffline)
	}
	err := c.conn().Disconnect(ctx)
	if errors.Is(err, autopaho.ConnectionDownError) {
		err = nil
	}
	c.cancel()
	<-c.conn().Done()
	c.wg.Wait()
	for _, e := range waiting {
		if e.waiter != nil {
			select {
			case e.waiter <- result{err: ErrClosed}:
			default:
			}
		}
	}
	c.puts.Wait() // a request admitted before Close is on disk for the next run
	if c.disk != nil {
		c.mu.Lock()
		rm := c.removals
		c.removals = nil
		c.mu.Unlock()
		err = errors.Join(err, c.disk.remove(rm), c.disk.close())
	}
	if err != nil {
		return fmt.Errorf("device: close: %w", err)
	}
	return nil
}

func (c *Client) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// changed is closed when the client next becomes ready or closes.
func (c *Client) changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readyCh
}

// signalLocked wakes AwaitConnection; c.mu is held.
func (c *Client) signalLocked() {
	close(c.readyCh)
	c.readyCh = make(chan struct{})
}

// conn is the connection manager (set by New, and by the first up, which
// may run before New returns).
func (c *Client) conn() *autopaho.ConnectionManager {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cm
}

// offlineWill is the Last Will every device leaves: proto.DeviceStatus
// offline, without a time (a will is written at connect time).
var offlineWill = []byte(`{"v":1,"state":"offline"}`)
