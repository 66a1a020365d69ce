package media

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/quota"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// ServiceName is the service's topic level: requests go to svc/media/{op}.
const ServiceName = proto.ServiceMedia

// DefaultStaffRoles are the roles that may fetch any blob when
// Options.CanFetch is nil.
var DefaultStaffRoles = []string{"staff", "admin"}

// DefaultCleanupInterval is how often Run cleans up when given no interval.
const DefaultCleanupInterval = 10 * time.Minute

// RequestOverhead is what a chunk request holds besides its base64 data: the
// envelope (id, v, a reply_to for MQTT 3.1.1 clients), the upload id, the
// index, the field names and some whitespace.
const RequestOverhead = 4 << 10

// RequestBytesFor is the smallest svc Router Options.MaxRequestBytes that
// holds a chunk request for chunks of chunkBytes bytes: the chunk as
// standard padded base64 plus RequestOverhead. chunkBytes ≤ 0 means the media
// store's default (256 KiB, giving 353,624 bytes). The broker's
// max_packet_size must hold this plus the MQTT header (topic, Response Topic,
// Correlation Data): a few hundred bytes more.
func RequestBytesFor(chunkBytes int) int {
	if chunkBytes <= 0 {
		chunkBytes = blob.DefaultLimits().ChunkBytes
	}
	return base64.StdEncoding.EncodedLen(chunkBytes) + RequestOverhead
}

// Options configure New.
type Options struct {
	// Router serves the ops. Required. Its MaxRequestBytes must be at least
	// RequestBytesFor(Media.Limits().ChunkBytes), or chunk requests are
	// answered too_large by the router.
	Router *svc.Router
	// Media is the blob store. Required.
	Media *blob.Store
	// CanFetch decides whether who may read the blob hash (stat, get);
	// hash is 64 lowercase hex digits, and a thumbnail is asked for by its
	// own hash. It is called before the blob is looked up, for hashes that
	// may not exist. An error is answered unavailable (and logged). nil:
	// only clients with one of StaffRoles may fetch.
	CanFetch func(ctx context.Context, who auth.Identity, hash string) (bool, error)
	// StaffRoles may fetch any blob when CanFetch is nil (default staff,
	// admin; an empty non-nil slice: nobody).
	StaffRoles []string
	// CustomerBytes bounds the bytes one customer (a scan-to-chat login)
	// uploads (broker/quota, e.g. per day; shared with the chat service's
	// texts); nil = no bound. A new upload spends its declared size at begin.
	CustomerBytes *quota.Limiter
	// Log receives the service's log lines (default slog.Default()).
	Log *slog.Logger
}

// Service is the media service.
type Service struct {
	o          Options
	log        *slog.Logger
	chunkBytes int // the media store's chunk size
	maxRead    int // the most bytes one get returns

	// afterCleanup, when set (tests), is called after each Cleanup in Run.
	afterCleanup func(blob.CleanupStats, error)

	quotaMu sync.Mutex
	refused map[string]uint64 // quota refusals of begin by reason
	limited map[string]bool   // owners refused since their last begin: logged once per burst
}

// QuotaRefusals counts the begins refused quota_exceeded by the media
// store's limits, by reason (media.ReasonUploads, …).
func (s *Service) QuotaRefusals() map[string]uint64 {
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	return maps.Clone(s.refused)
}

// noteQuota counts a begin refused by a media quota and logs the first
// refusal of owner's burst; a begin that passes (err nil) ends the burst.
func (s *Service) noteQuota(owner string, customer bool, err error) {
	var qe *blob.QuotaError
	s.quotaMu.Lock()
	defer s.quotaMu.Unlock()
	if !errors.As(err, &qe) {
		if err == nil {
			delete(s.limited, owner)
		}
		return
	}
	s.refused[qe.Reason]++
	if !s.limited[owner] {
		s.limited[owner] = true
		s.log.Warn("media: an upload was refused by a quota", "owner", owner, "customer", customer,
			"reason", qe.Reason, "retry_after", qe.RetryAfter.Round(time.Second), "err", err)
	}
}

// New validates the options and returns the service; call Register before
// the router starts.
func New(o Options) (*Service, error) {
	switch {
	case o.Router == nil:
		return nil, errors.New("mediasvc: Options.Router is required")
	case o.Media == nil:
		return nil, errors.New("mediasvc: Options.Media is required")
	}
	l := o.Media.Limits()
	if l.ChunkBytes <= 0 || l.MaxReadBytes <= 0 {
		return nil, fmt.Errorf("mediasvc: the media store has chunk size %d and read limit %d; both must be positive", l.ChunkBytes, l.MaxReadBytes)
	}
	if o.StaffRoles == nil {
		o.StaffRoles = DefaultStaffRoles
	}
	o.StaffRoles = slices.Clone(o.StaffRoles)
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Service{o: o, log: o.Log, chunkBytes: l.ChunkBytes, maxRead: min(l.ChunkBytes, l.MaxReadBytes),
		refused: map[string]uint64{}, limited: map[string]bool{}}, nil
}

// RequestBytes is RequestBytesFor the media store's chunk size: the smallest
// router MaxRequestBytes this service works with.
func (s *Service) RequestBytes() int { return RequestBytesFor(s.chunkBytes) }

// Register adds the ops to the router (before or after it starts). It does no
// I/O.
func (s *Service) Register() error {
	err := s.o.Router.HandleService(ServiceName, map[string]svc.Handler{
		"begin":    s.begin,
		"chunk":    s.chunk,
		"status":   s.status,
		"complete": s.complete,
		"stat":     s.stat,
		"get":      s.get,
	}, nil)
	if err != nil {
		return fmt.Errorf("mediasvc: register: %w", err)
	}
	return nil
}

func (s *Service) staff(role string) bool { return slices.Contains(s.o.StaffRoles, role) }
