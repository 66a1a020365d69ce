package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// Defaults of Options.
const (
	DefaultRecallWindow = 2 * time.Minute
	DefaultMaxBodyBytes = 4 << 10
	DefaultPageSize     = 100
	DefaultMaxMembers   = 50
)

// DefaultStaffRoles are the roles that may open and read any conversation.
var DefaultStaffRoles = []string{"staff", "admin"}

// Sealer encrypts bodies at rest (internal/seal.Keyring implements it).
// additionalData is authenticated, not stored; the sealed record names its key.
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// DB is the transactional store (broker/store.DB). Update returns once the
// transaction is on disk; its function may run twice (see store.DB.Update).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Options configure New.
type Options struct {
	// DB holds the chat buckets. Required.
	DB DB
	// Router serves the ops and publishes the events. Required.
	Router *svc.Router
	// Seal encrypts message bodies at rest. Required.
	Seal Sealer
	// Now is the clock (default time.Now); recall windows and timestamps use it.
	Now func() time.Time
	// RecallWindow is how long after sending a sender may recall (default 2 min).
	RecallWindow time.Duration
	// MaxBodyBytes bounds a message body: the text's UTF-8 bytes, or the
	// card's compact JSON (default 4 KiB). Larger sends are answered too_large.
	MaxBodyBytes int
	// PageSize is the most messages (history) or conversations (list) one
	// answer carries (default 100); a request may ask for fewer.
	PageSize int
	// MaxMembers bounds a conversation's members (default 50); more are
	// answered too_large.
	MaxMembers int
	// StaffRoles may open, join and read any conversation (default staff, admin).
	StaffRoles []string
	// Log receives the service's log lines (default slog.Default()).
	Log *slog.Logger
}

// Service is the chat service.
type Service struct {
	o   Options
	log *slog.Logger
}

// New validates the options and returns the service; call Register before
// the router starts.
func New(o Options) (*Service, error) {
	switch {
	case o.DB == nil:
		return nil, errors.New("chat: Options.DB is required")
	case o.Router == nil:
		return nil, errors.New("chat: Options.Router is required")
	case o.Seal == nil:
		return nil, errors.New("chat: Options.Seal is required")
	case o.RecallWindow < 0, o.MaxBodyBytes < 0, o.PageSize < 0, o.MaxMembers < 0:
		return nil, errors.New("chat: limits must not be negative (0 = default)")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RecallWindow == 0 {
		o.RecallWindow = DefaultRecallWindow
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.MaxMembers == 0 {
		o.MaxMembers = DefaultMaxMembers
	}
	if o.StaffRoles == nil {
		o.StaffRoles = DefaultStaffRoles
	}
	o.StaffRoles = slices.Clone(o.StaffRoles)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Service{o: o, log: o.Log}, nil
}

// ServiceName is the service's topic level: requests go to svc/chat/{op}.
const ServiceName = "chat"

// Register adds the ops to the router (before or after it starts). It does no
// I/O: the buckets are created by the first write.
func (s *Service) Register() error {
	ops := []struct {
		name     string
		h        svc.Handler
		mutating bool
	}{
		{"open", s.open, true},
		{"send", s.send, true},
		{"history", s.history, false},
		{"read", s.read, true},
		{"recall", s.recall, true},
		{"list", s.list, false},
	}
	for _, op := range ops {
		var opts []svc.OpOption
		if op.mutating {
			opts = append(opts, svc.Mutating())
		}
		if err := s.o.Router.Handle(ServiceName, op.name, op.h, opts...); err != nil {
			return fmt.Errorf("chat: register %s: %w", op.name, err)
		}
	}
	return nil
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

func (s *Service) staff(role string) bool { return slices.Contains(s.o.StaffRoles, role) }
