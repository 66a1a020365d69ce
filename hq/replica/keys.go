package replica

// API keys for HQ's HTTP API and fleet page. A key is shown once, when it
// is made; the database keeps only its SHA-256, so a copy of the database
// does not sign anyone in.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// KeyPrefix starts every API key: "hqk_" + id + "_" + secret.
const KeyPrefix = "hqk_"

// MaxKeyNameLen bounds a key's name (it is the actor in HQ's audit).
const MaxKeyNameLen = 64

// ErrBadKey is CheckKey's answer to a key that is malformed, unknown or
// revoked (one answer for all three).
var ErrBadKey = errors.New("replica: unknown or revoked API key")

// ErrNoKey is the answer about a key id that does not exist.
var ErrNoKey = errors.New("replica: no such API key")

// Key is an API key as listed: never its secret.
type Key struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// AddKey makes a key named name (who uses it: a person or a system) and
// returns it; it is not kept and cannot be shown again. Its id (for Keys
// and RevokeKey) is KeyID(key).
func (r *Replica) AddKey(ctx context.Context, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxKeyNameLen {
		return "", fmt.Errorf("%w: a key's name is 1 to %d characters", ErrInvalid, MaxKeyNameLen)
	}
	var idb [6]byte
	var secret [20]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", fmt.Errorf("replica: add key: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", fmt.Errorf("replica: add key: %w", err)
	}
	id := hex.EncodeToString(idb[:])
	key := KeyPrefix + id + "_" + strings.ToLower(b32.EncodeToString(secret[:]))
	if _, err := r.pool.Exec(ctx, `INSERT INTO api_keys (id, name, hash) VALUES ($1, $2, $3)`,
		id, name, hashKey(key)); err != nil {
		return "", fmt.Errorf("replica: add key: %w", err)
	}
	return key, nil
}

// KeyID is the id of a well-formed key ("" if it is not one).
func KeyID(key string) string {
	id, _ := keyID(key)
	return id
}

// keyID is the id part of a well-formed key.
func keyID(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 12 || secret == "" || len(key) > 128 {
		return "", false
	}
	return id, true
}

// CheckKey answers the key's name if it is a live key, else ErrBadKey.
func (r *Replica) CheckKey(ctx context.Context, key string) (name string, err error) {
	id, ok := keyID(key)
	if !ok {
		return "", ErrBadKey
	}
	var hash []byte
	var revoked *time.Time
	err = r.pool.QueryRow(ctx, `SELECT name, hash, revoked_at FROM api_keys WHERE id = $1`, id).Scan(&name, &hash, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrBadKey
	}
	if err != nil {
		return "", fmt.Errorf("replica: check key: %w", err)
	}
	if subtle.ConstantTimeCompare(hash, hashKey(key)) != 1 || revoked != nil {
		return "", ErrBadKey
	}
	return name, nil
}

// KeyLive answers the name of the key id if it is not revoked, else
// ErrBadKey (a signed-in page's session checks its key at each request).
func (r *Replica) KeyLive(ctx context.Context, id string) (string, error) {
	var name string
	err := r.pool.QueryRow(ctx, `SELECT name FROM api_keys WHERE id = $1 AND revoked_at IS NULL`, id).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrBadKey
	}
	if err != nil {
		return "", fmt.Errorf("replica: key %s: %w", id, err)
	}
	return name, nil
}

// RevokeKey revokes a key by id; the key stops working at once. Revoking a
// revoked key changes nothing.
func (r *Replica) RevokeKey(ctx context.Context, id string) error {
	tag, err := r.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("replica: revoke key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrNoKey, id)
	}
	return nil
}

// Keys lists every key, the oldest first, revoked ones included.
func (r *Replica) Keys(ctx context.Context) ([]Key, error) {
	rows, err := r.pool.Query(ctx, `SELECT id, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("replica: keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Key, error) {
		var k Key
		err := row.Scan(&k.ID, &k.Name, &k.CreatedAt, &k.RevokedAt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("replica: keys: %w", err)
	}
	return keys, nil
}
