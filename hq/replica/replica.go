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

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/internal/seal"
)

// Options configure Open.
type Options struct {
	// Keys seal message bodies at rest (AES-256-GCM). Required.
	Keys *seal.Keyring
	// MaxConns bounds the pool (0: pgx's default).
	MaxConns int32
}

// Replica is an open replica. It is safe for concurrent use.
type Replica struct {
	pool *pgxpool.Pool
	keys *seal.Keyring
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
	r := &Replica{pool: pool, keys: o.Keys}
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
