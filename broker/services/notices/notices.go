// Package notices keeps the notices and promotions HQ sends the store
// (hq/notice for this store, hq/broadcast/notice for every store; PROTOCOL.md
// "Notices from HQ") and shows them to staff: svc/notices/list, and an
// event on notices/events for each new one, which the staff console shows
// live in its "From HQ" tab.
//
// A notice is stored once by its id, and its acknowledgement for HQ
// (proto.NoticeAck on the local topic notice/ack) is filed in cloudsync's
// outbox in the same transaction, so HQ learns the store has it exactly
// when it is on disk. The store keeps the newest Options.Keep notices;
// expired ones are dropped (a notice that arrives already expired is
// acknowledged and not kept).
//
// Buckets (owned by this package; integers big-endian):
//
//	hq_notices     seq (8 bytes) → stored notice (JSON): seq, received, notice
//	hq_notices_id  notice id     → seq
package notices

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Defaults of Options.
const (
	DefaultKeep     = 200
	DefaultMaxBytes = 16 << 10
	DefaultPageSize = 50
)

// DefaultRoles may list the notices.
var DefaultRoles = []string{"staff", "admin"}

// AckTopic is the local topic acknowledgements are filed under for HQ
// (configs/cloud.yaml maps it to stores/{store}/up/notice/ack).
const AckTopic = proto.TopicNoticeAck

var (
	bNotices = []byte("hq_notices")
	bByID    = []byte("hq_notices_id")
)

// DB is the transactional store (broker/store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Outbox takes an entry for HQ in the transaction that stores the notice
// (cloudsync).
type Outbox interface {
	Put(tx *bolt.Tx, topic string, payload []byte) error
}

// Options configure New.
type Options struct {
	DB DB // required
	// Router serves svc/notices/list and publishes the events; nil: no op
	// and no events (HandleHQ still stores and acknowledges).
	Router *svc.Router
	// Outbox receives the acknowledgements for HQ; nil: none are filed.
	Outbox Outbox
	// Now is the store's clock (default time.Now).
	Now func() time.Time
	// Keep is how many notices are kept; past it the oldest go (default 200).
	Keep int
	// MaxBytes is the largest notice taken, as received (default 16 KiB);
	// a larger one is refused (ErrHQInput).
	MaxBytes int
	// Roles may list the notices (default staff and admin).
	Roles []string
	// Log receives the package's log lines (default slog.Default()).
	Log *slog.Logger
}

// Service keeps HQ's notices.
type Service struct {
	o Options
}

// New checks the options.
func New(o Options) (*Service, error) {
	switch {
	case o.DB == nil:
		return nil, errors.New("notices: Options.DB is required")
	case o.Keep < 0, o.MaxBytes < 0:
		return nil, errors.New("notices: Keep and MaxBytes must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Roles == nil {
		o.Roles = DefaultRoles
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Service{o: o}, nil
}

// ErrHQInput marks a notice from HQ that is not valid; a replay would fail
// the same way.
var ErrHQInput = errors.New("notices: invalid notice from HQ")

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// stored is a notice in the bucket.
type stored struct {
	Seq      uint64       `json:"seq"`
	Received int64        `json:"received"` // Unix ms, the store's clock
	Notice   proto.Notice `json:"notice"`
}

func (st stored) wire() proto.StoreNotice {
	return proto.StoreNotice{Notice: st.Notice, Received: time.UnixMilli(st.Received).UTC()}
}

func check(n proto.Notice) error {
	text := func(what, v string, required bool) error {
		switch {
		case required && strings.TrimSpace(v) == "":
			return fmt.Errorf("%s is empty", what)
		case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
			return fmt.Errorf("%s is not text", what)
		}
		return nil
	}
	switch {
	case n.V != 1:
		return fmt.Errorf("v %d, want 1", n.V)
	case !idPattern.MatchString(n.ID):
		return fmt.Errorf("id %q: 1-64 letters, digits, '.', '_', ':' or '-'", n.ID)
	case n.Kind != proto.NoticePromotion && n.Kind != proto.NoticeNotice:
		return fmt.Errorf("kind %q, want %q or %q", n.Kind, proto.NoticePromotion, proto.NoticeNotice)
	case n.SentAt.IsZero():
		return errors.New("sent_at is missing")
	}
	return errors.Join(text("title", n.Title, true), text("body", n.Body, false), text("from", n.From, false))
}

// HandleHQ stores a notice HQ sent on topic (proto.TopicNotice or
// proto.TopicBroadcastNotice) and files its acknowledgement for HQ in the
// same transaction. A notice stored before (same id) changes nothing. It
// reports whether the notice is new. An error wrapping ErrHQInput is a
// notice the store will never take.
func (s *Service) HandleHQ(ctx context.Context, topic string, payload []byte) (bool, error) {
	if topic != proto.TopicNotice && topic != proto.TopicBroadcastNotice {
		return false, fmt.Errorf("%w: unknown topic %q", ErrHQInput, topic)
	}
	if len(payload) > s.o.MaxBytes {
		return false, fmt.Errorf("%w: %d bytes, at most %d (notices.max_bytes)", ErrHQInput, len(payload), s.o.MaxBytes)
	}
	var n proto.Notice
	if err := strictjson.Decode(payload, &n); err != nil {
		return false, fmt.Errorf("%w: %w", ErrHQInput, err)
	}
	if err := check(n); err != nil {
		return false, fmt.Errorf("%w: %w", ErrHQInput, err)
	}
	now := s.o.Now()
	ack, err := json.Marshal(proto.NoticeAck{V: 1, ID: n.ID, TS: now.UTC()})
	if err != nil {
		return false, fmt.Errorf("notices: encode ack: %w", err)
	}
	var st stored
	var isNew bool
	err = s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		isNew = false
		b, err := tx.CreateBucketIfNotExists(bNotices)
		if err != nil {
			return fmt.Errorf("notices: bucket: %w", err)
		}
		ids, err := tx.CreateBucketIfNotExists(bByID)
		if err != nil {
			return fmt.Errorf("notices: bucket: %w", err)
		}
		if ids.Get([]byte(n.ID)) != nil {
			return nil // stored and acknowledged before
		}
		if n.Expires.IsZero() || n.Expires.After(now) {
			seq, err := b.NextSequence()
			if err != nil {
				return fmt.Errorf("notices: seq: %w", err)
			}
			st = stored{Seq: seq, Received: now.UnixMilli(), Notice: n}
			v, err := json.Marshal(st)
			if err != nil {
				return fmt.Errorf("notices: encode: %w", err)
			}
			if err := b.Put(u64(seq), v); err != nil {
				return fmt.Errorf("notices: put: %w", err)
			}
			if err := ids.Put([]byte(n.ID), u64(seq)); err != nil {
				return fmt.Errorf("notices: put: %w", err)
			}
			isNew = true
			if err := s.prune(b, ids, now); err != nil {
				return err
			}
		}
		if s.o.Outbox != nil {
			if err := s.o.Outbox.Put(tx, AckTopic, ack); err != nil {
				return fmt.Errorf("notices: outbox: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("notices: notice %s: %w", n.ID, err)
	}
	if isNew && s.o.Router != nil {
		// The list is the record; the event only saves the console a reload.
		if err := s.o.Router.Emit(proto.TopicNoticeEvents, proto.NoticeEvent{Type: "notice", Notice: st.wire()}); err != nil {
			s.o.Log.Warn("notices: event not published; the console shows the notice at its next load", "notice", n.ID, "err", err)
		}
	}
	return isNew, nil
}

// prune drops expired notices and the oldest past Keep.
func (s *Service) prune(b, ids *bolt.Bucket, now time.Time) error {
	var all []stored
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var st stored
		if err := json.Unmarshal(v, &st); err != nil {
			return fmt.Errorf("notices: entry %d: %w", binary.BigEndian.Uint64(k), err)
		}
		all = append(all, st)
	}
	var drop []stored
	for _, st := range all { // oldest first
		if len(all)-len(drop) > s.o.Keep || (!st.Notice.Expires.IsZero() && !st.Notice.Expires.After(now)) {
			drop = append(drop, st)
		}
	}
	for _, st := range drop {
		if err := errors.Join(b.Delete(u64(st.Seq)), ids.Delete([]byte(st.Notice.ID))); err != nil {
			return fmt.Errorf("notices: prune: %w", err)
		}
	}
	return nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// List answers the kept notices that have not expired, newest first, at
// most limit (0: all).
func (s *Service) List(limit int) ([]proto.StoreNotice, error) {
	now := s.o.Now()
	out := []proto.StoreNotice{}
	err := s.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bNotices)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && (limit == 0 || len(out) < limit); k, v = c.Prev() {
			var st stored
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("notices: entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if !st.Notice.Expires.IsZero() && !st.Notice.Expires.After(now) {
				continue
			}
			out = append(out, st.wire())
		}
		return nil
	})
	return out, err
}

// Register adds svc/notices/list to the router.
func (s *Service) Register() error {
	if s.o.Router == nil {
		return errors.New("notices: Register without Options.Router")
	}
	if err := s.o.Router.Handle(proto.ServiceNotices, proto.OpNoticesList, s.list); err != nil {
		return fmt.Errorf("notices: register: %w", err)
	}
	return nil
}

type listReq struct {
	proto.Envelope
	proto.NoticesListRequest
}

func (s *Service) list(_ context.Context, req *svc.Request) (any, error) {
	var q listReq
	if err := strictjson.Decode(req.Body, &q); err != nil {
		return nil, svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	if !slices.Contains(s.o.Roles, req.From.Role) || req.From.Customer {
		return nil, svc.Errorf(svc.CodeForbidden, "HQ's notices are for staff")
	}
	if q.Limit < 0 || q.Limit > s.o.Keep {
		return nil, svc.Errorf(svc.CodeBadRequest, `"limit" must be 1-%d (0 = %d)`, s.o.Keep, min(DefaultPageSize, s.o.Keep))
	}
	if q.Limit == 0 {
		q.Limit = min(DefaultPageSize, s.o.Keep)
	}
	list, err := s.List(q.Limit)
	if err != nil {
		return nil, err
	}
	return proto.NoticesList{Notices: list}, nil
}
