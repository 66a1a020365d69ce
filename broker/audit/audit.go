// Package audit keeps the store's activity log: every admin action (who,
// what, on what, when by the store's clock, the thing before and after),
// durable before Audit returns, sealed at rest, bounded to the newest
// Options.Keep entries, listed for admins on svc/admin/audit.list (newest
// first, paged) and sent to HQ through cloudsync's outbox on the local
// topic audit/entries (PROTOCOL.md, "Activity log").
//
// Packages that perform admin actions declare the one method they call,
//
//	type Auditor interface {
//		Audit(ctx context.Context, actor, action, target string, before, after any) error
//	}
//
// and *Log implements it.
//
// Buckets (owned by this package; integers big-endian):
//
//	audit_entries  seq (8 bytes)        → entry (JSON): seq, ts, actor, action, target, sealed
//	audit_meta     "n", "dropped"       → entries kept, entries let go over Keep
//
// sealed is {"before":…,"after":…} sealed with "audit/{seq}" as additional
// data: before and after may be a customer's card or a booking's notes.
package audit

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Defaults of Options.
const (
	DefaultKeep     = 20000
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// DefaultRoles may list the log.
var DefaultRoles = []string{"admin"}

// Topic is the local topic entries are filed under for HQ (configs/cloud.yaml
// maps it to stores/{store}/up/audit/entries).
const Topic = "audit/entries"

// Limits of an entry's fields.
const (
	maxField  = 128       // actor, action, target
	maxChange = 64 * 1024 // before and after, as JSON, together
)

var (
	bEntries = []byte("audit_entries")
	bMeta    = []byte("audit_meta")
	metaN    = []byte("n")
	metaDrop = []byte("dropped")
)

// DB is the transactional store (broker/store.DB): Update returns once the
// transaction is on disk; its function may run twice.
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Sealer encrypts before and after at rest (internal/seal.Keyring).
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Outbox takes an entry for HQ in the transaction that stores it (cloudsync).
type Outbox interface {
	Put(tx *bolt.Tx, topic string, payload []byte) error
}

// Options configure New.
type Options struct {
	DB   DB     // required
	Seal Sealer // required
	// Router serves svc/admin/audit.list; nil = no op (Audit still works).
	Router *svc.Router
	// Outbox, when set, receives every entry for HQ.
	Outbox Outbox
	// Now is the store's clock (default time.Now).
	Now func() time.Time
	// Keep is how many entries are kept; past it the oldest go (default 20000).
	Keep int
	// Roles may list the log (default admin).
	Roles []string
	// PageSize is a list answer's default length (default 50, at most 200).
	PageSize int
	// Log receives the package's log lines (default slog.Default()).
	Log *slog.Logger
}

// Log is the activity log.
type Log struct {
	o           Options
	pruneLogged sync.Once
}

// entry is a stored entry.
type entry struct {
	Seq    uint64 `json:"seq"`
	TS     int64  `json:"ts"` // Unix ms, the store's clock
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Sealed []byte `json:"sealed,omitempty"`
}

// change is the sealed part.
type change struct {
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// New checks the options.
func New(o Options) (*Log, error) {
	switch {
	case o.DB == nil:
		return nil, errors.New("audit: Options.DB is required")
	case o.Seal == nil:
		return nil, errors.New("audit: Options.Seal is required")
	case o.Keep < 0, o.PageSize < 0, o.PageSize > MaxPageSize:
		return nil, fmt.Errorf("audit: Keep must not be negative, PageSize 0-%d", MaxPageSize)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Roles == nil {
		o.Roles = DefaultRoles
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Log{o: o}, nil
}

// ErrInput marks an entry Audit refuses (an empty actor or action, a field
// too long, before/after that do not encode or are too large).
var ErrInput = errors.New("audit: bad entry")

func checkField(name, v string, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("%w: %s is empty", ErrInput, name)
	case len(v) > maxField:
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInput, name, len(v), maxField)
	case !utf8.ValidString(v) || strings.ContainsAny(v, "\x00\n\r"):
		return fmt.Errorf("%w: %s is not one line of text", ErrInput, name)
	}
	return nil
}

func encode(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

// Audit records that actor did action on target, with the thing before and
// after (any JSON-encodable values; nil for none). It returns once the
// entry, and its copy for HQ, are on disk.
func (l *Log) Audit(ctx context.Context, actor, action, target string, before, after any) error {
	if err := errors.Join(checkField("actor", actor, true), checkField("action", action, true), checkField("target", target, false)); err != nil {
		return err
	}
	var c change
	var err error
	if c.Before, err = encode(before); err != nil {
		return err
	}
	if c.After, err = encode(after); err != nil {
		return err
	}
	if len(c.Before)+len(c.After) > maxChange {
		return fmt.Errorf("%w: before and after are %d bytes, at most %d", ErrInput, len(c.Before)+len(c.After), maxChange)
	}
	plain, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("audit: encode: %w", err)
	}
	ts := l.o.Now().UnixMilli()
	pruned := false
	err = l.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		pruned = false
		b, err := tx.CreateBucketIfNotExists(bEntries)
		if err != nil {
			return fmt.Errorf("audit: bucket: %w", err)
		}
		meta, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return fmt.Errorf("audit: bucket: %w", err)
		}
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("audit: seq: %w", err)
		}
		e := entry{Seq: seq, TS: ts, Actor: actor, Action: action, Target: target}
		if e.Sealed, err = l.o.Seal.Seal(plain, ad(seq)); err != nil {
			return fmt.Errorf("audit: seal: %w", err)
		}
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("audit: encode: %w", err)
		}
		if err := b.Put(u64(seq), v); err != nil {
			return fmt.Errorf("audit: put: %w", err)
		}
		n := getU64(meta, metaN) + 1
		var dropped uint64
		cur := b.Cursor()
		for k, _ := cur.First(); k != nil && n > uint64(l.o.Keep); k, _ = cur.First() {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("audit: prune: %w", err)
			}
			n--
			dropped++
		}
		if dropped > 0 {
			pruned = true
			if err := meta.Put(metaDrop, u64(getU64(meta, metaDrop)+dropped)); err != nil {
				return fmt.Errorf("audit: meta: %w", err)
			}
		}
		if err := meta.Put(metaN, u64(n)); err != nil {
			return fmt.Errorf("audit: meta: %w", err)
		}
		if l.o.Outbox != nil {
			p, err := json.Marshal(l.wire(e, c))
			if err != nil {
				return fmt.Errorf("audit: encode: %w", err)
			}
			if err := l.o.Outbox.Put(tx, Topic, p); err != nil {
				return fmt.Errorf("audit: outbox: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: %s by %s: %w", action, actor, err)
	}
	if pruned {
		l.pruneLogged.Do(func() {
			l.o.Log.Info("audit: the activity log is full; the oldest entries are let go as new ones come (audit.keep)", "keep", l.o.Keep)
		})
	}
	return nil
}

// wire is an entry as HQ and admins see it.
func (l *Log) wire(e entry, c change) proto.AuditEntry {
	return proto.AuditEntry{V: 1, Seq: e.Seq, TS: time.UnixMilli(e.TS).UTC(), Actor: e.Actor, Action: e.Action,
		Target: e.Target, Before: c.Before, After: c.After}
}

func ad(seq uint64) []byte { return fmt.Appendf(nil, "audit/%d", seq) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Register adds svc/admin/audit.list to the router.
func (l *Log) Register() error {
	if l.o.Router == nil {
		return errors.New("audit: Register without Options.Router")
	}
	if err := l.o.Router.Handle(proto.ServiceAdmin, proto.OpAuditList, l.list); err != nil {
		return fmt.Errorf("audit: register: %w", err)
	}
	return nil
}

type listReq struct {
	proto.Envelope
	proto.AuditListRequest
}

// list answers entries older than Before (0: the newest), newest first.
func (l *Log) list(_ context.Context, req *svc.Request) (any, error) {
	var q listReq
	if err := strictjson.Decode(req.Body, &q); err != nil {
		return nil, svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	if !slices.Contains(l.o.Roles, req.From.Role) || req.From.Customer {
		return nil, svc.Errorf(svc.CodeForbidden, "the activity log is for admins")
	}
	if q.Limit < 0 || q.Limit > MaxPageSize {
		return nil, svc.Errorf(svc.CodeBadRequest, `"limit" must be 1-%d (0 = %d)`, MaxPageSize, l.o.PageSize)
	}
	if q.Limit == 0 {
		q.Limit = l.o.PageSize
	}
	out := proto.AuditPage{Entries: []proto.AuditEntry{}}
	err := l.o.DB.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bMeta); meta != nil {
			out.Kept, out.Dropped = getU64(meta, metaN), getU64(meta, metaDrop)
		}
		b := tx.Bucket(bEntries)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if q.Before == 0 {
			k, v = c.Last()
		} else if k, v = c.Seek(u64(q.Before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil; k, v = c.Prev() {
			if len(out.Entries) == q.Limit {
				out.More = true
				break
			}
			var e entry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("audit: entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			plain, err := l.o.Seal.Open(e.Sealed, ad(e.Seq))
			if err != nil {
				return fmt.Errorf("audit: open entry %d: %w", e.Seq, err)
			}
			var ch change
			if err := json.Unmarshal(plain, &ch); err != nil {
				return fmt.Errorf("audit: entry %d: %w", e.Seq, err)
			}
			out.Entries = append(out.Entries, l.wire(e, ch))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.More {
		out.Next = out.Entries[len(out.Entries)-1].Seq
	}
	return out, nil
}
