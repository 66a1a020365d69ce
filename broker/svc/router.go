package svc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
)

// DB is the transactional store the router keeps answers in (broker/store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Defaults of Options.
const (
	DefaultMaxRequestBytes = 64 << 10
	DefaultAnswerTTL       = 24 * time.Hour
	DefaultSweepInterval   = 10 * time.Minute
	DefaultHandlerTimeout  = 30 * time.Second
	// DefaultWorkers is many for a small box on purpose: most of a
	// handler's time is waiting for its fsync, and the workers waiting share
	// one group commit (configs/store.yaml, services).
	DefaultWorkers   = 64
	DefaultQueueSize = 1024
)

// Sealer encrypts data at rest (internal/seal.Keyring); additionalData is
// authenticated, not stored.
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Options configure New.
type Options struct {
	// Server is the broker; it must have been created with
	// Options.InlineClient (broker.go does). Required.
	Server *mqtt.Server
	// DB keeps the answers of Mutating ops. Required.
	DB DB
	// Identify tells who a client is (auth.Hook.Identity). Required. Clients
	// it does not identify are answered forbidden.
	Identify func(cl *mqtt.Client) (auth.Identity, bool)
	// Workers is how many requests are handled at once (default 64).
	Workers int
	// QueueSize is how many requests wait for a worker (default 1024).
	// When it is full a request is answered unavailable at once; past a
	// second queue of the same size it is dropped unanswered (counted in
	// Stats.Dropped) so the publisher is never blocked.
	QueueSize int
	// MaxRequestBytes is the largest request payload (default 64 KiB); a
	// larger one is answered too_large.
	MaxRequestBytes int
	// AnswerTTL is how long a Mutating op's answer is remembered (default 24 h).
	AnswerTTL time.Duration
	// SweepInterval is how often expired answers are deleted (default 10 min).
	SweepInterval time.Duration
	// HandlerTimeout bounds one handler call through its context (default 30 s).
	HandlerTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Seal, when set, encrypts the stored answers of Mutating ops: they
	// may hold personal data (a booking's notes, a profile).
	Seal Sealer
	// Log receives the router's log lines (default slog.Default()).
	Log *slog.Logger
}

// Handler handles one request. It returns the result, which must marshal to
// a JSON object (its fields are merged into the answer; nil adds none), or an
// error: an *Error (see Errorf) is answered with its code, any other error
// with unavailable.
type Handler func(ctx context.Context, req *Request) (any, error)

// Request is one decoded request.
type Request struct {
	Service, Op string
	// ID is the client-made request id.
	ID string
	// V is the envelope version (always 1 today).
	V int
	// Body is the whole request object, id and v included; the handler
	// decodes its op's fields from it.
	Body json.RawMessage
	// From is the caller.
	From auth.Identity
	// Received is when the broker received the request.
	Received time.Time

	keep *keeper // set for a Mutating op's request (see Keep)
}

// OpOption configures one op in Handle.
type OpOption func(*op)

// Roles limits who may call the op to clients with one of the roles; others
// are answered forbidden. Without it any identified client may call it.
func Roles(roles ...string) OpOption {
	return func(o *op) { o.roles = append(o.roles, roles...) }
}

// Mutating marks an op that changes state: its answers are remembered for
// Options.AnswerTTL and a repeated request id gets the first answer without
// calling the handler again. Read-only ops (the default) run every time.
func Mutating() OpOption {
	return func(o *op) { o.mutating = true }
}

type op struct {
	service, name string
	h             Handler
	roles         []string
	mutating      bool
}

// Router receives the requests of every service and answers them.
type Router struct {
	o   Options
	log *slog.Logger
	cl  *mqtt.Client // the inline client answers and events are published from

	opsMu sync.RWMutex
	ops   map[string]*op // "service/op"

	// publish sends one message; tests of the decode path replace it.
	publish func(topic string, corr, payload []byte) error

	mu        sync.RWMutex // guards started, stopped and sends on the queues
	started   bool
	stopped   bool
	queue     chan *job
	overflow  chan *job
	replaying atomic.Bool // Start is subscribing: retained requests are being replayed
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	flightMu sync.Mutex
	flights  map[string]*flight // Mutating requests being handled, by answer key

	stats counters
}

// subscriptionID identifies the router's inline subscription.
const subscriptionID = 0x5e7c

// requestFilter is what the router subscribes to.
const requestFilter = "svc/#"

// New validates the options and returns a router; register ops with Handle,
// then call Start.
func New(o Options) (*Router, error) {
	switch {
	case o.Server == nil:
		return nil, errors.New("svc: Options.Server is required")
	case !o.Server.Options.InlineClient:
		return nil, errors.New("svc: the server needs Options.InlineClient")
	case o.DB == nil:
		return nil, errors.New("svc: Options.DB is required")
	case o.Identify == nil:
		return nil, errors.New("svc: Options.Identify is required")
	case o.Workers < 0, o.QueueSize < 0, o.MaxRequestBytes < 0, o.AnswerTTL < 0, o.SweepInterval < 0, o.HandlerTimeout < 0:
		return nil, errors.New("svc: limits must not be negative (0 = default)")
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.AnswerTTL == 0 {
		o.AnswerTTL = DefaultAnswerTTL
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = min(DefaultSweepInterval, o.AnswerTTL)
	}
	if o.HandlerTimeout == 0 {
		o.HandlerTimeout = DefaultHandlerTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	r := &Router{
		o:        o,
		log:      o.Log,
		ops:      map[string]*op{},
		flights:  map[string]*flight{},
		queue:    make(chan *job, o.QueueSize),
		overflow: make(chan *job, o.QueueSize),
	}
	r.cl = o.Server.NewClient(nil, "local", "storeedge-svc", true)
	r.publish = r.inject
	return r, nil
}

// Handle registers h for requests on svc/{service}/{op}. service and op are
// single topic levels of letters, digits, '_', '.' or '-'. Registering the
// same op twice replaces the handler.
func (r *Router) Handle(service, opName string, h Handler, opts ...OpOption) error {
	if !validLevel(service) || !validLevel(opName) {
		return fmt.Errorf("svc: Handle %q/%q: service and op must be 1-64 letters, digits, '_', '.' or '-'", service, opName)
	}
	if h == nil {
		return fmt.Errorf("svc: Handle %s/%s: nil handler", service, opName)
	}
	o := &op{service: service, name: opName, h: h}
	for _, f := range opts {
		f(o)
	}
	r.opsMu.Lock()
	r.ops[service+"/"+opName] = o
	r.opsMu.Unlock()
	return nil
}

func validLevel(s string) bool {
	return validID(s) && !containsByte(s, ':')
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

func (r *Router) lookup(service, opName string) *op {
	r.opsMu.RLock()
	defer r.opsMu.RUnlock()
	return r.ops[service+"/"+opName]
}

// Start creates the router's buckets, starts the workers and the sweeper and
// subscribes to svc/#. The workers and the sweeper run until ctx ends or Stop.
func (r *Router) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("svc: already started")
	}
	r.started = true
	r.mu.Unlock()
	if err := r.initBuckets(ctx); err != nil {
		return err
	}
	ctx, r.cancel = context.WithCancel(ctx)
	for range r.o.Workers {
		r.wg.Go(func() {
			for j := range r.queue {
				r.serve(ctx, j, false)
			}
		})
	}
	r.wg.Go(func() {
		for j := range r.overflow {
			r.serve(ctx, j, true)
		}
	})
	r.wg.Go(func() { r.sweepLoop(ctx) })
	// Subscribe hands retained messages on svc/# to the handler at once:
	// those are old requests and must not run again.
	r.replaying.Store(true)
	err := r.o.Server.Subscribe(requestFilter, subscriptionID, r.onPublish)
	r.replaying.Store(false)
	if err != nil {
		r.Stop()
		return fmt.Errorf("svc: subscribe %s: %w", requestFilter, err)
	}
	return nil
}

// Stop unsubscribes, lets the workers finish the requests already queued
// (their handlers' context is cancelled, so most answer unavailable) and
// returns when they are done. Requests arriving meanwhile get no answer.
func (r *Router) Stop() {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.stopped = true
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	_ = r.o.Server.Unsubscribe(requestFilter, subscriptionID) // fails only for an invalid filter
	if r.cancel != nil {
		r.cancel()
	}
	r.mu.Lock()
	close(r.queue)
	close(r.overflow)
	r.mu.Unlock()
	r.wg.Wait()
}

// Stats are the router's counters since New.
type Stats struct {
	Requests      uint64 // requests taken off the queues
	Answered      uint64 // answers published
	Overloaded    uint64 // answered unavailable because the worker queue was full
	Dropped       uint64 // dropped unanswered: both queues full, or the router stopping
	BadReplyTo    uint64 // dropped unanswered: the reply address was not the requester's own
	Duplicates    uint64 // answered from a stored or in-flight answer, handler not called
	HandlerErrors uint64 // handler errors that were not an *Error, and panics
	StoreErrors   uint64 // answers that could not be stored (or looked up) for idempotency
	PublishErrors uint64 // answers the broker refused to publish
}

type counters struct {
	requests, answered, overloaded, dropped, badReplyTo, duplicates,
	handlerErrors, storeErrors, publishErrors atomic.Uint64
}

// Stats returns the router's counters.
func (r *Router) Stats() Stats {
	c := &r.stats
	return Stats{
		Requests: c.requests.Load(), Answered: c.answered.Load(), Overloaded: c.overloaded.Load(),
		Dropped: c.dropped.Load(), BadReplyTo: c.badReplyTo.Load(), Duplicates: c.duplicates.Load(),
		HandlerErrors: c.handlerErrors.Load(), StoreErrors: c.storeErrors.Load(), PublishErrors: c.publishErrors.Load(),
	}
}

func allowed(o *op, role string) bool {
	return len(o.roles) == 0 || slices.Contains(o.roles, role)
}
