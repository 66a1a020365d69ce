// Package replica is HQ's copy of every store in PostgreSQL: it opens the
// pool, applies the embedded schema migrations, applies uplink messages
// (in per-store stream order, each once) and answers the queries of the
// fleet page and the API. It owns every table of HQ's database; other
// packages reach them through its methods.
package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/internal/seal"
)

// Options configure Open.
type Options struct {
	// Keys seal message bodies at rest (AES-256-GCM). Required.
	Keys *seal.Keyring
	// MaxConns bounds the pool (0: pgx's default).
	MaxConns int32
	// Handlers apply the uplink topics the replica does not apply itself
	// (config/ack and notice/ack belong to HQ's downlink), keyed by local
	// topic. They run in the message's transaction, in stream order.
	Handlers map[string]TopicHandler
	// Logger receives the one line per topic nobody handles (nil: none).
	Logger *slog.Logger
}

// Replica is an open replica. It is safe for concurrent use.
type Replica struct {
	pool     *pgxpool.Pool
	keys     *seal.Keyring
	handlers map[string]TopicHandler
	log      *slog.Logger

	mu        sync.Mutex
	unhandled map[string]uint64 // local topic → messages applied without a handler
}

// noteUnhandled counts topics nobody handles and logs each topic once.
func (r *Replica) noteUnhandled(topics []string) {
	if len(topics) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range topics {
		if r.unhandled[t] == 0 && r.log != nil {
			r.log.Warn("replica: uplink topic nobody handles; its stream moves on without it", "topic", t)
		}
		r.unhandled[t]++
	}
}

// Unhandled counts, per local topic, the messages that arrived with no
// handler for their topic (each was recorded as seen and its stream moved
// on).
func (r *Replica) Unhandled() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.unhandled))
	for k, v := range r.unhandled {
		out[k] = v
	}
	return out
}

// Pool is the replica's connection pool, for the packages that own tables
// of their own in the same database (their own migrations, their own
// names).
func (r *Replica) Pool() *pgxpool.Pool { return r.pool }

// Close closes the pool.
func (r *Replica) Close() { r.pool.Close() }

// bodyAAD binds a sealed body to its table, so a body copied to another
// column does not open.
var bodyAAD = []byte("hq/messages.body")

// sealBody seals a message body (its JSON) for the messages table.
func (r *Replica) sealBody(plain []byte) ([]byte, error) {
	b, err := r.keys.Seal(plain, bodyAAD)
	if err != nil {
		return nil, fmt.Errorf("replica: seal body: %w", err)
	}
	return b, nil
}

// openBody opens a sealed message body; nil stays nil.
func (r *Replica) openBody(sealed []byte) (json.RawMessage, error) {
	if sealed == nil {
		return nil, nil
	}
	b, err := r.keys.Open(sealed, bodyAAD)
	if err != nil {
		return nil, fmt.Errorf("replica: open body: %w", err)
	}
	return b, nil
}

// errNoKeys is Open's answer without Options.Keys.
var errNoKeys = errors.New("replica: no keys to seal message bodies (hq.yaml: seal_keys)")

// Open connects to url and applies the schema migrations.
func Open(ctx context.Context, url string, o Options) (*Replica, error) {
	if o.Keys == nil {
		return nil, errNoKeys
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("replica: connect: %w", err)
	}
	r := &Replica{pool: pool, keys: o.Keys, handlers: o.Handlers, log: o.Logger, unhandled: map[string]uint64{}}
	if err := r.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return r, nil
}

// migrate applies the embedded migrations not yet applied (migrate.go).
func (r *Replica) migrate(ctx context.Context) error {
	return migrate(ctx, r.pool)
}
