package booking

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// Defaults of Options.
const (
	DefaultMaxNotesBytes = 500
	DefaultMaxProfiles   = 20
	DefaultTick          = 15 * time.Second
	DefaultChangesKept   = 30 * 24 * time.Hour
	DefaultAlternatives  = 3
	DefaultPageSize      = 100
	DefaultMaxClosures   = 100
	DefaultSurveyLate    = 24 * time.Hour
)

// Default roles.
var (
	DefaultStaffRoles    = []string{"staff", "admin"}
	DefaultDeskRoles     = []string{"kiosk"}
	DefaultProgressRoles = []string{"camera"}
	DefaultFeedRoles     = []string{"cloud"}
	DefaultAdminRoles    = []string{"admin"}
)

// DB is the transactional store (broker/store.DB). Update returns once the
// transaction is on disk; its function may run twice.
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	UpdateAsync(fn func(*bolt.Tx) error, onErr func(error))
	View(fn func(*bolt.Tx) error) error
}

// Sealer encrypts personal data at rest (internal/seal.Keyring).
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Chat files booking cards in the customer's conversation inside the
// booking's own transaction (broker/services/chat.Service).
type Chat interface {
	PostTx(tx *bolt.Tx, p chat.Post) (seq uint64, stored bool, emit func(), err error)
	PrepareImage(ctx context.Context, hash string) (*chat.MediaInfo, func(), error)
}

// Outbox takes what HQ must see, in the transaction that produced it
// (cloudsync implements it); topic is the local topic it is filed under.
type Outbox interface {
	Put(tx *bolt.Tx, topic string, payload []byte) error
}

// ShopInfoFiler files what HQ knows of the shop (broker/services/hqlink),
// in the transaction that changes the catalogue, hours or closures; it
// reads the whole shop from tx, so the last one filed is the shop as
// committed.
type ShopInfoFiler interface {
	FileShopInfo(tx *bolt.Tx) error
}

// Options configure New.
type Options struct {
	// DB holds the booking buckets. Required.
	DB DB
	// Router serves the ops and publishes the events. Required.
	Router *svc.Router
	// Seal encrypts profiles, notes, contacts and survey comments. Required.
	Seal Sealer
	// Catalog is the services, resources and hours (LoadCatalog). Required.
	Catalog *Catalog
	// Chat, when set, receives a card in the customer's conversation for
	// every booking change, progress stage, reminder and survey.
	Chat Chat
	// Outbox, when set, receives every change and every outcome of an HQ
	// request for HQ (cloudsync).
	Outbox Outbox
	// ShopInfo, when set, files the shop for HQ with every change of the
	// catalogue, hours or closures.
	ShopInfo ShopInfoFiler
	// Now is the clock (default time.Now). The scheduler fires what is due
	// by it, so tests move it instead of waiting.
	Now func() time.Time
	// SurveyLate bounds how late a survey invitation may go: one due
	// longer ago than this (the box was off, or its clock jumped forward)
	// is dropped and counted, not sent days late (default 24 h).
	SurveyLate time.Duration
	// Tick is how often the scheduler looks for due reminders and surveys
	// (default 15 s); changes also wake it.
	Tick time.Duration
	// MaxNotesBytes bounds every free-text field: notes, temperament,
	// survey comment, a progress note (default 500 bytes).
	MaxNotesBytes int
	// MaxProfiles bounds the profiles of one customer (default 20).
	MaxProfiles int
	// ChangesKept is how long the change feed keeps published changes
	// (default 30 days).
	ChangesKept time.Duration
	// Alternatives is how many free slots a conflict offers (default 3).
	Alternatives int
	// PageSize bounds list, board and changes answers (default 100).
	PageSize int
	// StaffRoles run the board: book and change anyone's bookings, no-show,
	// complete, see profiles and notes (default staff, admin).
	StaffRoles []string
	// DeskRoles are self-service devices (kiosks): they book for a
	// customer they name and check customers in (default kiosk). Profiles,
	// a customer's bookings and their notes they reach only for the
	// customer at the kiosk (Presence).
	DeskRoles []string
	// Presence names the customer at a kiosk, who confirmed it from her
	// phone (broker/mqtt/auth/customer.Store); nil = kiosks reach no customer's
	// profiles or bookings.
	Presence Presence
	// ProgressRoles post progress stages besides staff (default camera).
	ProgressRoles []string
	// FeedRoles read the change feed besides staff (default cloud).
	FeedRoles []string
	// AdminRoles edit the catalogue, the hours and the closures (default
	// admin).
	AdminRoles []string
	// MaxClosures bounds the closures not yet over (default 100); one more
	// is answered quota_exceeded.
	MaxClosures int
	// Auditor, when set, records every booking staff make, move or
	// cancel, with the staff member as the actor, and every catalogue and
	// closure change (broker/audit).
	Auditor Auditor
	// Log receives the service's log lines (default slog.Default()).
	Log *slog.Logger
}

// Desk is the booking service: it takes bookings at the store's front desk,
// whoever asks (a kiosk, a customer in the chat, staff, HQ).
type Desk struct {
	o    Options
	catp atomic.Pointer[Catalog] // the catalogue in force: replaced whole by an edit
	log  *slog.Logger

	shopMu sync.Mutex                // one catalogue or closure edit at a time
	shop   atomic.Pointer[shopState] // as stored; nil before OpenShop

	wake chan struct{} // a change may have made something due or publishable

	pubMu     sync.Mutex
	published uint64 // the change feed is published up to here

	runMu   sync.Mutex
	running bool

	availDropped atomic.Uint64 // live availability requests from HQ dropped after they expired

	// What the scheduler let go instead of sending (ScheduleDropped).
	remindersLate, remindersStale, surveysLate atomic.Uint64
}

// ServiceName is the service's topic level: requests go to svc/booking/{op}.
const ServiceName = proto.ServiceBooking

// New validates the options and returns the service; call Register before
// the router starts and Run for the scheduler and the event publisher.
func New(o Options) (*Desk, error) {
	switch {
	case o.DB == nil:
		return nil, errors.New("booking: Options.DB is required")
	case o.Router == nil:
		return nil, errors.New("booking: Options.Router is required")
	case o.Seal == nil:
		return nil, errors.New("booking: Options.Seal is required")
	case o.Catalog == nil:
		return nil, errors.New("booking: Options.Catalog is required")
	case o.Tick < 0, o.SurveyLate < 0, o.MaxNotesBytes < 0, o.MaxProfiles < 0, o.ChangesKept < 0, o.Alternatives < 0, o.PageSize < 0, o.MaxClosures < 0:
		return nil, errors.New("booking: limits must not be negative (0 = default)")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tick == 0 {
		o.Tick = DefaultTick
	}
	if o.SurveyLate == 0 {
		o.SurveyLate = DefaultSurveyLate
	}
	if o.MaxNotesBytes == 0 {
		o.MaxNotesBytes = DefaultMaxNotesBytes
	}
	if o.MaxProfiles == 0 {
		o.MaxProfiles = DefaultMaxProfiles
	}
	if o.ChangesKept == 0 {
		o.ChangesKept = DefaultChangesKept
	}
	if o.Alternatives == 0 {
		o.Alternatives = DefaultAlternatives
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.StaffRoles == nil {
		o.StaffRoles = DefaultStaffRoles
	}
	if o.DeskRoles == nil {
		o.DeskRoles = DefaultDeskRoles
	}
	if o.ProgressRoles == nil {
		o.ProgressRoles = DefaultProgressRoles
	}
	if o.FeedRoles == nil {
		o.FeedRoles = DefaultFeedRoles
	}
	if o.AdminRoles == nil {
		o.AdminRoles = DefaultAdminRoles
	}
	if o.MaxClosures == 0 {
		o.MaxClosures = DefaultMaxClosures
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	d := &Desk{o: o, log: o.Log, wake: make(chan struct{}, 1)}
	d.catp.Store(o.Catalog)
	return d, nil
}

// cat returns the catalogue in force. An op reads it once where it must
// stay consistent; an edit swaps it whole.
func (d *Desk) cat() *Catalog { return d.catp.Load() }

// Register adds the ops to the router. It does no I/O.
func (d *Desk) Register() error {
	err := d.o.Router.HandleService(ServiceName, map[string]svc.Handler{
		"services":       d.services,
		"availability":   d.availability,
		"book":           d.book,
		"reschedule":     d.reschedule,
		"cancel":         d.cancel,
		"no_show":        d.noShow,
		"check_in":       d.checkIn,
		"progress":       d.progress,
		"complete":       d.complete,
		"survey":         d.survey,
		"get":            d.get,
		"list":           d.list,
		"board":          d.board,
		"board_days":     d.boardDays,
		"customers":      d.customers,
		"changes":        d.changes,
		"profile_put":    d.profilePut,
		"profile_list":   d.profileList,
		"profile_delete": d.profileDelete,
		"presence_start": d.presenceStart,
		"presence_get":   d.presenceGet,
		"presence_end":   d.presenceEnd,
		"catalog_get":    d.catalogGet,
		"catalog_set":    d.catalogSet,
		"closure_add":    d.closureAdd,
		"closure_remove": d.closureRemove,
		"closure_list":   d.closureList,
	}, nil)
	if err != nil {
		return fmt.Errorf("booking: register: %w", err)
	}
	return nil
}

func (d *Desk) now() time.Time { return d.o.Now().UTC().Truncate(time.Millisecond) }

func (d *Desk) staff(role string) bool { return slices.Contains(d.o.StaffRoles, role) }
func (d *Desk) desk(role string) bool  { return slices.Contains(d.o.DeskRoles, role) }

// kick wakes the scheduler and the publisher after a commit.
func (d *Desk) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
