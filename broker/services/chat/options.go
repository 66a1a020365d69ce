package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/quota"
	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Defaults of Options.
const (
	DefaultRecallWindow = 2 * time.Minute
	DefaultMaxBodyBytes = 4 << 10
	DefaultPageSize     = 100
	DefaultMaxMembers   = 200
	// DefaultMaxRatingComment is the longest rating comment, in characters.
	DefaultMaxRatingComment = 500
	// DefaultMaxReportDays is the longest date range of a report.
	DefaultMaxReportDays = 366
	// Search, notes and labels.
	DefaultSearchBudget  = 2 * time.Second
	DefaultSearchResults = 50
	DefaultMaxNotes      = 500
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
	// MaxMembers bounds a conversation's members (default 200); more are
	// answered too_large.
	MaxMembers int
	// StaffRoles are the store's staff (default staff, admin): they create
	// groups, get the waiting queue and quick replies, and — unless their
	// role is also in AssignedOnlyRoles — open, join and read any
	// conversation.
	StaffRoles []string
	// AssignedOnlyRoles are staff roles that see only the conversations
	// assigned to them (they may claim a waiting one with assign); empty =
	// every staff role sees all.
	AssignedOnlyRoles []string
	// Media resolves and counts references to the blobs of image, voice,
	// video and file messages (broker/blob.Store). nil = media messages
	// are answered bad_request.
	Media Media
	// Assistant is the FAQ assistant with the store's business hours
	// (broker/services/chat/faq); nil = no automatic answers.
	Assistant *faq.Assistant
	// Tokens issues scan-to-chat logins for the session op
	// (broker/mqtt/auth/customer.Store); nil = the op answers unavailable.
	Tokens Tokens
	// SessionRoles may ask for a scan-to-chat session (default chat-tablet
	// and the staff roles).
	SessionRoles []string
	// ResumeRoles may ask for a session of a returning customer by her id
	// alone: a person who sees the customer in front of them (default the
	// staff roles). Other session roles (chat tablets) resume a customer
	// only after she confirmed the device's presence code from her phone.
	ResumeRoles []string
	// QRSize is the side of the session op's QR code PNG in pixels (default 320).
	QRSize int
	// Outbox, when set, receives what HQ must see of conversations with a
	// remote member, inside the transaction that stores it (cloudsync).
	Outbox Outbox
	// CustomerMessages bounds how many messages one customer (a scan-to-chat
	// login) sends (broker/quota, e.g. per minute); nil = no bound. Past it
	// a send is answered quota_exceeded with a retry hint.
	CustomerMessages *quota.Limiter
	// CustomerBytes bounds the bytes one customer stores (e.g. per day): a
	// message's text or card here, uploads in the media service, which
	// shares the limiter; nil = no bound.
	CustomerBytes *quota.Limiter
	// MaxRatingComment bounds a rating's comment in characters (default
	// 500); a longer one is answered too_large.
	MaxRatingComment int
	// MaxReportDays bounds a report's date range (default 366 days); a
	// longer one is answered too_large.
	MaxReportDays int
	// SearchBudget bounds how long one search reads messages (default
	// 2 s); past it the answer says how far back it read (more, stopped
	// "time") and the console asks for older ones.
	SearchBudget time.Duration
	// SearchResults is the most hits one search answer carries (default 50).
	SearchResults int
	// MaxNotes bounds the internal notes of one conversation or customer
	// (default 500); more are answered too_large.
	MaxNotes int
	// Labels are the labels staff may put on conversations and customers
	// (ids with English and Chinese names); empty = labels_set refuses all.
	Labels []proto.ChatLabel
	// Colleagues are the store's staff accounts (broker/accounts.Registry):
	// who a conversation may be transferred to, and the names customers
	// see ("Lin is answering"). nil = no transfers, no names.
	Colleagues Colleagues
	// TransferTimeout is how long a transfer offer waits for the
	// colleague's answer before it expires and the conversation stays with
	// the staff member who offered it (default 2 min).
	TransferTimeout time.Duration
	// Log receives the service's log lines (default slog.Default()).
	Log *slog.Logger
}

// Media is the blob store media messages refer to (broker/blob.Store).
type Media interface {
	Stat(ctx context.Context, hash string) (blob.Blob, error)
	Ref(ctx context.Context, hash string) error
	Unref(ctx context.Context, hash string) (int64, error)
}

// Tokens issues one-time scan-to-chat tokens and keeps which customer is at
// which device (broker/mqtt/auth/customer.Store).
type Tokens interface {
	Issue(ctx context.Context, customer, issuedBy string) (customer.Ticket, error)
	StartPresence(ctx context.Context, device string) (customer.PresenceCode, error)
	ConfirmPresence(ctx context.Context, code, customer string) (customer.Presence, error)
	PresentAt(device string) (string, time.Time, error)
	EndPresence(ctx context.Context, device string) (bool, error)
	TakePresence(ctx context.Context, device, customer string) (bool, error)
}

// Outbox takes messages bound for HQ in the transaction that produced them
// (cloudsync implements it); topic is the local topic they are filed under.
type Outbox interface {
	Put(tx *bolt.Tx, topic string, payload []byte) error
}

// Service is the chat service.
type Service struct {
	o   Options
	log *slog.Logger
	// faq is the assistant in use: Options.Assistant until SetAssistant.
	faq atomic.Pointer[faq.Assistant]
	// prices answers price questions (SetPrices; nil = none).
	prices atomic.Pointer[Prices]
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
	case o.RecallWindow < 0, o.MaxBodyBytes < 0, o.PageSize < 0, o.MaxMembers < 0, o.QRSize < 0, o.TransferTimeout < 0,
		o.MaxRatingComment < 0, o.MaxReportDays < 0, o.SearchBudget < 0, o.SearchResults < 0, o.MaxNotes < 0:
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
	if o.MaxRatingComment == 0 {
		o.MaxRatingComment = DefaultMaxRatingComment
	}
	if o.MaxReportDays == 0 {
		o.MaxReportDays = DefaultMaxReportDays
	}
	if o.SearchBudget == 0 {
		o.SearchBudget = DefaultSearchBudget
	}
	if o.SearchResults == 0 {
		o.SearchResults = DefaultSearchResults
	}
	if o.MaxNotes == 0 {
		o.MaxNotes = DefaultMaxNotes
	}
	for _, l := range o.Labels {
		if !idPattern.MatchString(l.ID) || l.EN == "" || l.ZH == "" {
			return nil, fmt.Errorf("chat: label %q needs an id (letters, digits, '_', '.', '-') and en and zh names", l.ID)
		}
	}
	o.Labels = slices.Clone(o.Labels)
	if o.StaffRoles == nil {
		o.StaffRoles = DefaultStaffRoles
	}
	o.StaffRoles = slices.Clone(o.StaffRoles)
	if o.SessionRoles == nil {
		o.SessionRoles = append([]string{"chat-tablet"}, o.StaffRoles...)
	}
	if o.ResumeRoles == nil {
		o.ResumeRoles = slices.Clone(o.StaffRoles)
	}
	if o.TransferTimeout == 0 {
		o.TransferTimeout = DefaultTransferTimeout
	}
	if o.QRSize == 0 {
		o.QRSize = 320
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	svc := &Service{o: o, log: o.Log}
	svc.faq.Store(o.Assistant)
	return svc, nil
}

// SetAssistant replaces the FAQ assistant (an admin saved a new FAQ): the
// next customer message is answered with it. nil turns automatic answers
// off for new conversations.
func (s *Service) SetAssistant(a *faq.Assistant) { s.faq.Store(a) }

// assistant is the FAQ assistant in use, nil for none.
func (s *Service) assistant() *faq.Assistant { return s.faq.Load() }

// ServiceName is the service's topic level: requests go to svc/chat/{op}.
const ServiceName = proto.ServiceChat

// Register adds the ops to the router (before or after it starts). It does no
// I/O: the buckets are created by the first write.
func (s *Service) Register() error {
	err := s.o.Router.HandleService(ServiceName, map[string]svc.Handler{
		"open":             s.open,
		"send":             s.send,
		"history":          s.history,
		"read":             s.read,
		"recall":           s.recall,
		"list":             s.list,
		"delivered":        s.delivered,
		"group_create":     s.groupCreate,
		"group_add":        s.groupAdd,
		"group_remove":     s.groupRemove,
		"handoff":          s.handoff,
		"waiting":          s.waiting,
		"assign":           s.assign,
		"quick_replies":    s.quickReplies,
		"session":          s.session,
		"presence_start":   s.presenceStart,
		"presence_get":     s.presenceGet,
		"presence_end":     s.presenceEnd,
		"presence_confirm": s.presenceConfirm,
		"close":            s.close,
		"rate":             s.rate,
		"report":           s.report,
		// search, labels and internal notes (search.go, notes.go)
		"search":     s.search,
		"note_add":   s.noteAdd,
		"notes":      s.notes,
		"labels_set": s.labelsSet,
		// The desk: transfer to a colleague, group read receipts (desk.go).
		"transfer":        s.transfer,
		"transfer_answer": s.transferAnswer,
		"readers":         s.readers,
		"transfers":       s.transfers,
	}, nil)
	if err != nil {
		return fmt.Errorf("chat: register: %w", err)
	}
	return nil
}

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

// staff reports whether role is a staff role (whatever its scope).
func (s *Service) staff(role string) bool { return slices.Contains(s.o.StaffRoles, role) }

// seesAll reports whether role may open, join and read any conversation.
func (s *Service) seesAll(role string) bool {
	return s.staff(role) && !slices.Contains(s.o.AssignedOnlyRoles, role)
}

// Member reports whether the client is a member of conversation convID. It
// decides the ACL's %m placeholder (auth.Membership), so a customer receives
// the events of their own conversations and groups only, and nothing after
// being removed. It reads the membership index at every call: membership
// changes take effect at the next delivery.
func (s *Service) Member(id auth.Identity, convID string) bool {
	if id.Device == "" {
		return false
	}
	ok := false
	_ = s.o.DB.View(func(tx *bolt.Tx) error { // a read error is "not a member"
		_, ok = readUpTo(tx, id.Device, convID)
		return nil
	})
	return ok
}
