// Package mqtttest is the one place tests build a bare mochi server: the
// MQTT layer alone (the hooks a test gives it, listeners on loopback), for
// the tests of hooks, listeners and services below the whole store broker
// (which internal/testkit/storetest runs). Besides mochi and paho it imports
// broker/mqtt/mochisafe only, so that the tests of every broker package can
// use it.
package mqtttest

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/storeedge/storeedge/broker/mqtt/mochisafe"
)

// Options configure a server.
type Options struct {
	// Hooks are added in order by Start (New leaves them to the caller,
	// whose hooks often need the server first).
	Hooks []mqtt.Hook
	// InlineClient lets the server publish itself (svc answers, events).
	InlineClient bool
	// Capabilities replace mochi's defaults when set.
	Capabilities *mqtt.Capabilities
	// Logger is the server's log (default: discarded).
	Logger *slog.Logger
	// TCP is the address of the MQTT over TCP listener ("" = 127.0.0.1:0;
	// the address of a stopped server to start again where its clients
	// reconnect).
	TCP string
	// TLS, when set, makes the TCP listener TLS.
	TLS *tls.Config
	// NoTCP leaves the TCP listener out (Listeners are then the only ones).
	NoTCP bool
	// Listeners are added after the TCP listener (a websocket listener,
	// say).
	Listeners []listeners.Listener
}

// Server is a mochi server of a test, closed when the test ends.
type Server struct {
	*mqtt.Server
	// Addr is the TCP listener's address once it serves ("" with NoTCP).
	Addr string

	o    Options
	tcp  *listeners.TCP
	once sync.Once
	err  error
}

// NewServer returns a mochi server that is never started: for tests that
// call hooks directly on clients they add themselves (see Client).
func NewServer(o Options) *mqtt.Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return mqtt.New(&mqtt.Options{InlineClient: o.InlineClient, Capabilities: o.Capabilities, Logger: log})
}

// New returns a server that does not serve yet: add hooks to it, then call
// Serve. It is closed when the test ends (Close closes it before).
func New(tb testing.TB, o Options) *Server {
	tb.Helper()
	s := &Server{Server: NewServer(o), o: o}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("mqtttest: close: %v", err)
		}
	})
	return s
}

// Start is New with Options.Hooks added, then Serve.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	s := New(tb, o)
	s.Add(tb, o.Hooks...)
	s.Serve(tb)
	return s
}

// Add adds hooks (without configuration) in order and fails the test when
// mochi refuses one.
func (s *Server) Add(tb testing.TB, hooks ...mqtt.Hook) {
	tb.Helper()
	for _, h := range hooks {
		if err := s.AddHook(h, nil); err != nil {
			tb.Fatalf("mqtttest: add hook %s: %v", h.ID(), err)
		}
	}
}

// Serve adds the listeners and starts serving.
func (s *Server) Serve(tb testing.TB) {
	tb.Helper()
	if !s.o.NoTCP {
		addr := s.o.TCP
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		s.tcp = listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr, TLSConfig: s.o.TLS})
		if err := s.AddListener(s.tcp); err != nil {
			tb.Fatalf("mqtttest: listen on %s: %v", addr, err)
		}
	}
	for _, l := range s.o.Listeners {
		if err := s.AddListener(l); err != nil {
			tb.Fatalf("mqtttest: add listener %s: %v", l.ID(), err)
		}
	}
	if err := s.Server.Serve(); err != nil {
		tb.Fatalf("mqtttest: serve: %v", err)
	}
	if s.tcp != nil {
		s.Addr = s.tcp.Address()
	}
}

// Close stops the server with mochisafe.Close, once (mochi's own Close
// panics when called twice); later calls return the first one's error.
func (s *Server) Close() error {
	s.once.Do(func() { s.err = mochisafe.Close(s.Server) })
	return s.err
}

// Client adds to srv a client as mochi holds one for a connected or
// restored session (no connection: id and username only), to ask hooks
// about it.
func Client(srv *mqtt.Server, id, username string) *mqtt.Client {
	cl := srv.NewClient(nil, "t", id, false)
	cl.Properties.Username = []byte(username)
	srv.Clients.Add(cl)
	return cl
}

// Dial connects a paho MQTT 5 client over TCP to addr with cp (within 10 s)
// and disconnects it when the test ends; onPublish (may be nil) gets every
// PUBLISH it receives. It returns the CONNACK and Connect's error; the
// client is nil when the connection failed.
func Dial(tb testing.TB, addr string, cp *paho.Connect, onPublish func(*paho.Publish)) (*paho.Client, *paho.Connack, error) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("mqtttest: dial %s: %w", addr, err)
	}
	cfg := paho.ClientConfig{Conn: conn, PacketTimeout: 10 * time.Second, OnClientError: func(error) {}}
	if onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			onPublish(pr.Packet)
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		return nil, ca, err
	}
	tb.Cleanup(func() { disconnect(c) })
	return c, ca, nil
}

// disconnect sends DISCONNECT (again: harmless) and waits, 5 s at most, for
// the client to stop.
func disconnect(c *paho.Client) {
	_ = c.Disconnect(&paho.Disconnect{})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
	}
}

// Requester is a paho MQTT 5 client that sends requests as the store's
// devices do, with the Response Topic reply/{client id}/r and fresh
// correlation data, and matches the answers to them.
type Requester struct {
	*paho.Client
	ID string // client id

	n    atomic.Int64
	mu   sync.Mutex
	wait map[string]chan []byte
}

// Connect dials addr as cp (its ClientID is the requester's id) and
// subscribes to reply/{id}/#, failing the test when either is refused.
// other (may be nil) gets every PUBLISH that is not on reply/.
func Connect(tb testing.TB, addr string, cp *paho.Connect, other func(*paho.Publish)) *Requester {
	tb.Helper()
	r := &Requester{ID: cp.ClientID, wait: map[string]chan []byte{}}
	c, ca, err := Dial(tb, addr, cp, func(p *paho.Publish) {
		if !strings.HasPrefix(p.Topic, "reply/") {
			if other != nil {
				other(p)
			}
			return
		}
		if p.Properties == nil {
			return
		}
		r.mu.Lock()
		ch := r.wait[string(p.Properties.CorrelationData)]
		r.mu.Unlock()
		if ch != nil {
			select {
			case ch <- p.Payload:
			default: // a second answer to one request
			}
		}
	})
	if err != nil {
		tb.Fatalf("mqtttest: connect %s: %v (%+v)", cp.ClientID, err, ca)
	}
	r.Client = c
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	filter := "reply/" + r.ID + "/#"
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 1 || sa.Reasons[0] >= 0x80 { // paho also returns an error for a refusal
		tb.Fatalf("mqtttest: %s subscribe %s: %v %+v", r.ID, filter, err, sa)
	}
	return r
}

// Seq returns the next number of the requester's counter, for request ids.
func (r *Requester) Seq() int64 { return r.n.Add(1) }

// Request publishes payload at QoS 1 on topic and waits, until ctx ends,
// for the answer.
func (r *Requester) Request(ctx context.Context, topic string, payload []byte) ([]byte, error) {
	corr := fmt.Sprint(r.Seq())
	ch := make(chan []byte, 1)
	r.mu.Lock()
	r.wait[corr] = ch
	r.mu.Unlock()
	defer func() { r.mu.Lock(); delete(r.wait, corr); r.mu.Unlock() }()
	_, err := r.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload,
		Properties: &paho.PublishProperties{ResponseTopic: "reply/" + r.ID + "/r", CorrelationData: []byte(corr)}})
	if err != nil {
		return nil, fmt.Errorf("%s publish %s: %w", r.ID, topic, err)
	}
	select {
	case raw := <-ch:
		return raw, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: no answer on %s to %.200s: %w", r.ID, topic, payload, ctx.Err())
	}
}
