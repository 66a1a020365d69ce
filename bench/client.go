package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"
)

// bufConn gives paho buffered reads: packets.ReadPacket reads the fixed
// header a byte at a time, which costs a syscall per byte on a bare socket.
// Writes go to the embedded *net.TCPConn unchanged, so net.Buffers still
// becomes a single writev.
type bufConn struct {
	*net.TCPConn
	r    *bufio.Reader
	gate *readGate // nil: reads are never held
}

func (c *bufConn) Read(p []byte) (int, error) {
	if c.gate != nil {
		c.gate.wait()
	}
	return c.r.Read(p)
}

// Close opens the gate first, so that paho's reader, if it is held in Read,
// sees the closed socket and paho can shut down.
func (c *bufConn) Close() error {
	if c.gate != nil {
		c.gate.reopen()
	}
	return c.TCPConn.Close()
}

// readGate, while shut, holds every Read of a connection before it takes
// anything, from the socket or from the read buffer: the client stops
// reading, the kernel's receive and send buffers fill and the broker's
// writes to it back up, as with a device whose program hangs. At most what
// paho's reader had already taken (one read buffer) is handled after the
// gate shuts.
type readGate struct {
	mu   sync.Mutex
	open chan struct{} // closed while reads pass
}

func newReadGate() *readGate {
	g := &readGate{open: make(chan struct{})}
	close(g.open)
	return g
}

// shut holds reads from now on.
func (g *readGate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default: // shut already
	}
}

// reopen lets reads pass again, the held ones included.
func (g *readGate) reopen() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open: // open already
	default:
		close(g.open)
	}
}

// wait returns once the gate is open.
func (g *readGate) wait() {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	<-open
}

// clientCfg describes one benchmark MQTT v5 connection.
type clientCfg struct {
	id            string
	cleanStart    bool
	sessionExpiry uint32 // seconds; 0 = session ends with the connection
	keepAlive     uint16
	receiveMax    uint16 // announced Receive Maximum (also sizes paho's channel)
	// username and password log in as a device of the registry (the chat
	// scenarios); without a username the client is anonymous.
	username, password string
	// onPublish, when set, gets every PUBLISH the client receives, on paho's
	// single routing goroutine; QoS 1 is acknowledged after it returns.
	onPublish func(*paho.Publish)
	// acks, when set, receives the PUBACK of every QoS 1 publish sent with
	// PublishMethod_AsyncSend; onSent is called (on the publishing goroutine)
	// once the packet id is assigned and before the packet is written.
	acks   chan packets.ControlPacket
	onSent func(*packets.Publish)
	// readGate, when set, can hold the connection's reads (the stalled
	// subscriber).
	readGate *readGate
	// onServerDisconnect and onClientError, when set, are paho's: the
	// broker sent DISCONNECT, or the connection failed (which paho also
	// reports after the bench's own close; see connEnd).
	onServerDisconnect func(*paho.Disconnect)
	onClientError      func(error)
}

// mqttClient is a connected paho client.
type mqttClient struct {
	*paho.Client
	sess session.SessionManager
}

// ackSession routes the PUBACKs of QoS 1 publishes to one channel, so that a
// single goroutine per publisher can keep a window of messages outstanding
// and still see each acknowledgement (paho's AsyncSend otherwise discards it).
type ackSession struct {
	*state.State
	acks   chan<- packets.ControlPacket
	onSent func(*packets.Publish)
}

func (s *ackSession) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	pb, ok := p.(*packets.Publish)
	if !ok {
		return s.State.AddToSession(ctx, p, resp)
	}
	if err := s.State.AddToSession(ctx, p, s.acks); err != nil {
		return err
	}
	s.onSent(pb)
	return nil
}

// connectClient dials addr and completes the MQTT v5 handshake.
func connectClient(ctx context.Context, addr string, cfg clientCfg) (*mqttClient, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := &bufConn{TCPConn: nc.(*net.TCPConn), r: bufio.NewReaderSize(nc, 16<<10), gate: cfg.readGate}

	var sess session.SessionManager = state.NewInMemory()
	if cfg.acks != nil {
		sess = &ackSession{State: state.NewInMemory(), acks: cfg.acks, onSent: cfg.onSent}
	}
	pc := paho.ClientConfig{
		ClientID:      cfg.id,
		Conn:          conn,
		Session:       sess,
		PacketTimeout: 30 * time.Second,

		OnServerDisconnect: cfg.onServerDisconnect,
		OnClientError:      cfg.onClientError,
	}
	if cfg.onPublish != nil {
		h := cfg.onPublish
		pc.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { h(pr.Packet); return true, nil },
		}
	} else {
		// Without any handler paho installs a router that logs; count nothing.
		pc.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(paho.PublishReceived) (bool, error) { return true, nil },
		}
	}
	c := paho.NewClient(pc)

	rm := cfg.receiveMax
	if rm == 0 {
		rm = 16
	}
	props := &paho.ConnectProperties{ReceiveMaximum: &rm}
	if cfg.sessionExpiry > 0 {
		se := cfg.sessionExpiry
		props.SessionExpiryInterval = &se
	}
	ka := cfg.keepAlive
	if ka == 0 {
		ka = 60
	}
	cp := &paho.Connect{
		ClientID:   cfg.id,
		KeepAlive:  ka,
		CleanStart: cfg.cleanStart,
		Properties: props,
	}
	if cfg.username != "" {
		cp.Username, cp.UsernameFlag = cfg.username, true
		cp.Password, cp.PasswordFlag = []byte(cfg.password), true
	}
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		_ = nc.Close()
		if ca != nil {
			return nil, fmt.Errorf("connect %s: CONNACK reason 0x%02x: %w", cfg.id, ca.ReasonCode, err)
		}
		return nil, fmt.Errorf("connect %s: %w", cfg.id, err)
	}
	return &mqttClient{Client: c, sess: sess}, nil
}

// subscribe subscribes to filters at qos and checks every SUBACK reason code.
func (c *mqttClient) subscribe(ctx context.Context, qos byte, filters ...string) error {
	s := &paho.Subscribe{}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: qos})
	}
	sa, err := c.Subscribe(ctx, s)
	if err != nil {
		return fmt.Errorf("subscribe %v: %w", filters, err)
	}
	for i, r := range sa.Reasons {
		if r >= 0x80 {
			return fmt.Errorf("subscribe %q: SUBACK reason 0x%02x", filters[i], r)
		}
	}
	return nil
}

// close sends DISCONNECT (normal) and waits for paho to shut down.
func (c *mqttClient) close() {
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
	}
	_ = c.sess.Close()
}

// connectAll runs connect for 0..n-1 with at most par in parallel and
// returns the first error.
func connectAll(n, par int, connect func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, par)
	)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := connect(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// closeAll closes clients in parallel; nil entries are skipped.
func closeAll(cs []*mqttClient) {
	var wg sync.WaitGroup
	for _, c := range cs {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.close() }()
	}
	wg.Wait()
}
