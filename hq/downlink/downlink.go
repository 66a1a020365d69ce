// Package downlink is what HQ sends down to the stores and what the
// stores answer: notices and promotions to one store, a list, or every
// store (PROTOCOL.md, "HQ → stores"), and versioned pushes of a store's
// catalogue and FAQ that the store applies with its own rules or refuses
// with a reason.
//
// Every send is first committed to HQ's PostgreSQL, in one transaction
// with its audit row (hq_audit: who, what, to whom), and published on HQ's
// MQTT broker only after that commit, QoS 1 with the user property "id"
// that the store's cloudsync deduplicates on. A send is idempotent by its
// id: the same request again changes nothing and publishes again (which is
// how a send whose publish failed is retried); another request with a
// used id is refused.
//
// The stores' answers (the local topics config/ack and notice/ack) come
// through the replica's consumers, which call ApplyUplink inside the
// message's transaction. The package owns the rows of notices,
// notice_deliveries, config_pushes and hq_audit; the tables are in the
// replica's schema.
package downlink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Publisher publishes one message on HQ's broker: QoS 1, with the user
// property "id" set to id. It returns once the broker acknowledged it.
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, id string) error
}

// Limits bound what a send may carry. Zero fields take the defaults.
type Limits struct {
	// MaxTitle is a notice title's length in characters (default 120).
	MaxTitle int `yaml:"max_title_chars"`
	// MaxBody is a notice body's length in characters (default 4000).
	MaxBody int `yaml:"max_body_chars"`
	// MaxStores is how many stores one notice may name (default 1000;
	// more: send to all).
	MaxStores int `yaml:"max_stores"`
	// MaxConfigBytes is a config push's size as JSON (default 256 KiB; it
	// must fit the stores' cloud.max_packet_size).
	MaxConfigBytes int `yaml:"max_config_bytes"`
	// MaxTTL is how far in the future a notice may expire (default 366 days).
	MaxTTL time.Duration `yaml:"max_ttl"`
	// PageSize is a list answer's default length (default 50, at most 500).
	PageSize int `yaml:"page_size"`
}

// Defaults of Limits.
const (
	DefaultMaxTitle       = 120
	DefaultMaxBody        = 4000
	DefaultMaxStores      = 1000
	DefaultMaxConfigBytes = 256 << 10
	DefaultMaxTTL         = 366 * 24 * time.Hour
	DefaultPageSize       = 50
	MaxPageSize           = 500
)

// Options configure New.
type Options struct {
	// Pool is HQ's database (replica.Pool()). Required.
	Pool *pgxpool.Pool
	// Publisher sends to HQ's broker (MQTTPublisher in the binary). Required.
	Publisher Publisher
	// Now is HQ's clock (default time.Now).
	Now func() time.Time
	// Logger receives the package's log lines (default slog.Default()).
	Logger *slog.Logger
	// Limits bound the sends.
	Limits Limits
}

// Service sends notices and config pushes and records the stores' answers.
// It is safe for concurrent use.
type Service struct {
	o Options
}

// New checks the options.
func New(o Options) (*Service, error) {
	switch {
	case o.Pool == nil:
		return nil, errors.New("downlink: Options.Pool is required")
	case o.Publisher == nil:
		return nil, errors.New("downlink: Options.Publisher is required")
	}
	l := &o.Limits
	if l.MaxTitle < 0 || l.MaxBody < 0 || l.MaxStores < 0 || l.MaxConfigBytes < 0 || l.MaxTTL < 0 || l.PageSize < 0 || l.PageSize > MaxPageSize {
		return nil, fmt.Errorf("downlink: limits must not be negative, page_size at most %d", MaxPageSize)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxTitle, DefaultMaxTitle)
	def(&l.MaxBody, DefaultMaxBody)
	def(&l.MaxStores, DefaultMaxStores)
	def(&l.MaxConfigBytes, DefaultMaxConfigBytes)
	def(&l.PageSize, DefaultPageSize)
	if l.MaxTTL == 0 {
		l.MaxTTL = DefaultMaxTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{o: o}, nil
}

// Limits are the limits in force (defaults filled in).
func (s *Service) Limits() Limits { return s.o.Limits }

// Error is a refused request: Status is its HTTP status, Code the
// documented error code (PROTOCOL.md, "HQ → stores").
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return "downlink: " + e.Code + ": " + e.Message }

// Error codes.
const (
	CodeBadRequest   = "bad_request"
	CodeUnknownStore = "unknown_store"
	CodeConflict     = "conflict"
	CodeNotFound     = "not_found"
	CodeTooLarge     = "too_large"
	CodeUnauthorized = "unauthorized"
)

func badRequest(format string, a ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, a...)}
}

// idPattern is what a client-given id (and a store id) may look like: it
// becomes an MQTT user property and a topic level.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

func checkID(what, v string) error {
	if !idPattern.MatchString(v) {
		return badRequest("%s %q: 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", what, v)
	}
	return nil
}
