// Package hqlink is what the store's services do for HQ beside chat and
// bookings: file the shop (catalogue, hours, closures, staff, FAQ) for HQ
// in the transaction of every change, answer HQ's versioned config pushes
// (applied with the store's own rules, or refused whole), send a blob a
// conversation refers to when HQ asks for it, and snapshot the shop.
// PROTOCOL.md, "The store's services for HQ", is the contract.
package hqlink

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/chat/faqstore"
	"github.com/storeedge/storeedge/proto"
)

// DB is the store's database (*store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	View(fn func(*bolt.Tx) error) error
}

// Outbox takes what HQ must see in the transaction that produced it
// (cloudsync's outbox).
type Outbox interface {
	Put(tx *bolt.Tx, topic string, payload []byte) error
}

// Shop reads the catalogue and closures in a transaction, and stages a
// catalogue HQ pushes (broker/services/booking.Desk).
type Shop interface {
	ShopIn(tx *bolt.Tx) (booking.Shop, error)
	StageCatalog(doc proto.ShopCatalog) (*booking.StagedCatalog, error)
}

// FAQ reads the FAQ in a transaction, and stages one HQ pushes
// (broker/services/chat/faqstore.Store).
type FAQ interface {
	YAMLIn(tx *bolt.Tx) ([]byte, uint64, error)
	Stage(by string, y []byte) (*faqstore.Staged, error)
}

// Staff lists the members of staff in a transaction
// (broker/accounts.Registry).
type Staff interface {
	StaffIn(tx *bolt.Tx) ([]proto.StaffMember, error)
}

// Media is the blob store (broker/blob.Store).
type Media interface {
	Stat(ctx context.Context, hash string) (blob.Blob, error)
	Get(ctx context.Context, hash string, offset, length int64) ([]byte, error)
	Limits() blob.Limits
}

// Auditor records what HQ changed in the store's activity log.
type Auditor interface {
	Audit(ctx context.Context, actor, action, target string, before, after any) error
}

// DefaultMaxMediaBytes is the largest blob sent to HQ by default.
const DefaultMaxMediaBytes = 8 << 20

// Options configure New. Shop, FAQ, Staff and Media may be set after New
// with Use, before anything is filed (they are made after the Link, which
// they file through).
type Options struct {
	DB DB
	// Outbox is cloudsync's; nil when the store has no link to HQ: then
	// nothing is filed and pushes are not taken.
	Outbox Outbox
	// MaxMediaBytes is the largest blob sent on media/{hash}
	// (default DefaultMaxMediaBytes).
	MaxMediaBytes int64
	Auditor       Auditor
	Now           func() time.Time
	Log           *slog.Logger
}

// Link is the store's services for HQ.
type Link struct {
	o     Options
	shop  Shop
	faq   FAQ
	staff Staff
	names Names
	media Media

	pushMu sync.Mutex // one config push at a time

	mediaSent, mediaMissing, mediaTooLarge, mediaNoRoom, mediaFailed atomic.Uint64
	putStored, putRefused                                            atomic.Uint64
}

// New returns a Link; call Use before the first change is filed.
func New(o Options) (*Link, error) {
	if o.DB == nil {
		return nil, errors.New("hqlink: Options.DB is required")
	}
	if o.MaxMediaBytes == 0 {
		o.MaxMediaBytes = DefaultMaxMediaBytes
	}
	if o.MaxMediaBytes < 0 {
		return nil, errors.New("hqlink: MaxMediaBytes must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Link{o: o}, nil
}

// Use sets the sources of the shop and the blobs.
func (l *Link) Use(shop Shop, faq FAQ, staff Staff, media Media) {
	l.shop, l.faq, l.staff, l.media = shop, faq, staff, media
}

// Names reads the store's name in a transaction (broker/settings.Store).
type Names interface {
	NameIn(tx *bolt.Tx) string
}

// UseNames sets where the store's name comes from, for the shop HQ shows
// (the customers' page at home, the fleet page).
func (l *Link) UseNames(n Names) { l.names = n }

// SetAuditor sets the activity log (made after the Link).
func (l *Link) SetAuditor(a Auditor) { l.o.Auditor = a }

// Stats are the Link's counters since start.
type Stats struct {
	MediaSent, MediaMissing, MediaTooLarge, MediaNoRoom, MediaFailed uint64
	// PutStored and PutRefused count the blobs from home (hq/media/put).
	PutStored, PutRefused uint64
}

// Stats returns the counters.
func (l *Link) Stats() Stats {
	return Stats{MediaSent: l.mediaSent.Load(), MediaMissing: l.mediaMissing.Load(),
		MediaTooLarge: l.mediaTooLarge.Load(), MediaNoRoom: l.mediaNoRoom.Load(), MediaFailed: l.mediaFailed.Load(),
		PutStored: l.putStored.Load(), PutRefused: l.putRefused.Load()}
}

func (l *Link) now() time.Time { return l.o.Now().UTC() }
