package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
)

// Store services (bookings…) post cards into a customer's conversation
// inside their own transaction, so that their change and its card commit
// together: a crash never loses the card of a committed booking, and a retry
// never posts it twice.

// ErrPostInput marks a Post (or an image for one) that is not valid; the
// same Post fails the same way again.
var ErrPostInput = errors.New("chat: invalid post")

// PhotoIDSuffix ends the message id of a Post's photo: the card's id plus
// this suffix. Post ids may not end with it, so a photo's id never meets a
// card's.
const PhotoIDSuffix = ".photo"

// Post is a message a store service (bookings…) files in a customer's
// conversation.
type Post struct {
	// Customer is the customer's member id (cust-…, hq-…, or any member id
	// a kiosk used). The conversation is their direct one, named after
	// them, as their own open creates it.
	Customer string
	// From is the posting service's sender id, e.g. "booking": not a
	// member of the conversation (members' messages go through send), not
	// the FAQ assistant's id.
	From string
	// ID is the message id, unique per From in the conversation: a repeat
	// (same From and ID) stores nothing and returns the first seq.
	ID string
	// Card is a card object with a "type" in CardTypes, under the same
	// rules and MaxBodyBytes as a card send.
	Card json.RawMessage
	// Image is an optional photo posted right after the card, as an image
	// message with id ID+PhotoIDSuffix. It must come from PrepareImage,
	// which holds the reference the message keeps.
	Image *MediaInfo
}

// ValidatePost checks everything about p that does not depend on the
// database. PostTx runs it first, before touching its transaction; a caller
// calls it beforehand to keep its own write free of input errors (an error
// inside a group commit rolls back, and retries, everyone else's writes).
// Errors wrap ErrPostInput.
func (s *Service) ValidatePost(p Post) error {
	_, err := s.checkPost(p)
	return err
}

// checkPost is ValidatePost, returning the compact card it stores.
func (s *Service) checkPost(p Post) ([]byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrPostInput, fmt.Sprintf(format, args...))
	}
	switch {
	case !idPattern.MatchString(p.Customer):
		return nil, bad("customer %q is not a member id", clip(p.Customer))
	case !idPattern.MatchString(p.From):
		return nil, bad("from %q is not a sender id", clip(p.From))
	case p.From == p.Customer:
		return nil, bad("from %q is the customer: a member sends, a service posts", p.From)
	case p.From == AssistantID:
		// The assistant's messages are marked Auto and answer the customer;
		// a service posing as it would be shown as an answer.
		return nil, bad("from %q is the FAQ assistant's id", p.From)
	case !idPattern.MatchString(p.ID):
		return nil, bad("message id %q is not 1-64 letters, digits, '_', '.' or '-'", clip(p.ID))
	case strings.HasSuffix(p.ID, PhotoIDSuffix):
		return nil, bad("message id %q ends with %q, the suffix of photos", p.ID, PhotoIDSuffix)
	case p.Card == nil:
		return nil, bad("a post has a card")
	}
	card, err := checkCard(p.Card, s.o.MaxBodyBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPostInput, err)
	}
	if im := p.Image; im != nil {
		switch {
		case !hashPattern.MatchString(im.Hash):
			return nil, bad("image hash %q is not a SHA-256 in lower-case hex", clip(im.Hash))
		case !strings.HasPrefix(im.Type, mediaKinds[KindImage]):
			// PrepareImage fills in the type: without it, nobody took the
			// reference the message keeps.
			return nil, bad("image %s has no image type: take it from PrepareImage", im.Hash[:12])
		case s.o.Media == nil:
			return nil, bad("this store does not take media messages")
		case !idPattern.MatchString(p.ID + PhotoIDSuffix):
			return nil, bad("message id %q is too long for its photo's id", p.ID)
		}
	}
	return card, nil
}

// PrepareImage checks that blob hash exists and is an image, fills in its
// meta and takes a reference on it, outside any transaction (the media
// store has its own). release drops the reference: call it when the
// transaction that would have posted the image fails or posted nothing new;
// it does something only the first time. An unknown blob (not_found) or one
// that is no image (bad_request) is an *svc.Error wrapped with ErrPostInput.
func (s *Service) PrepareImage(ctx context.Context, hash string) (*MediaInfo, func(), error) {
	noop := func() {}
	if !hashPattern.MatchString(hash) {
		return nil, noop, fmt.Errorf("%w: image hash %q is not a SHA-256 in lower-case hex", ErrPostInput, clip(hash))
	}
	mi := &MediaInfo{Hash: hash}
	release, err := s.refMedia(ctx, KindImage, mi)
	if err != nil {
		var se *svc.Error
		if errors.As(err, &se) {
			return nil, noop, fmt.Errorf("%w: %w", ErrPostInput, se)
		}
		return nil, noop, err
	}
	// Once: a caller releasing on two failure paths must not drop a
	// reference another message holds.
	var once sync.Once
	return mi, func() { once.Do(release) }, nil
}

// PostTx stores p in tx, the caller's write transaction on the service's
// database (Options.DB). The transaction may run more than once, so PostTx
// has no effect outside tx; use the results of the run that committed.
//
// When the customer has no conversation yet, PostTx creates the one their
// own open would create, so they find their cards when they first open the
// chat. It leaves the waiting queue, the FAQ assistant and every read
// pointer alone. It returns the card's seq (the first one on a repeat),
// whether anything new was stored, and emit, which publishes the message
// events: call it after tx has committed (it does nothing when nothing new
// was stored).
//
// Input errors wrap ErrPostInput: everything ValidatePost checks, and a
// conversation of that id the customer is no member of, or From is.
func (s *Service) PostTx(tx *bolt.Tx, p Post) (seq uint64, stored bool, emit func(), err error) {
	noop := func() {}
	card, err := s.checkPost(p)
	if err != nil {
		return 0, false, noop, err
	}
	if tx == nil || !tx.Writable() {
		return 0, false, noop, errors.New("chat: PostTx needs a write transaction")
	}
	id := p.Customer
	c, err := s.getConv(tx, id)
	if err != nil {
		return 0, false, noop, err
	}
	if c != nil {
		switch {
		case c.kind() != ConvDirect || !c.member(p.Customer):
			return 0, false, noop, fmt.Errorf("%w: conversation %q is not customer %q's own", ErrPostInput, id, p.Customer)
		case c.member(p.From):
			return 0, false, noop, fmt.Errorf("%w: from %q is a member of conversation %q", ErrPostInput, p.From, id)
		}
		if first := lookupID(tx, id, p.From, p.ID); first != 0 {
			// Events are not repeated: the caller's repeat is its own
			// transaction finding its work done, and members that missed
			// the first events converge through history.
			return first, false, noop, nil
		}
	}
	wrote, err := s.postMessages(tx, c, p, card)
	if err != nil {
		return 0, false, noop, err
	}
	return wrote[0].seq, true, func() {
		for _, st := range wrote {
			s.emit(messageEvent(id, st.seq, st.m))
		}
	}, nil
}

// postMessages stores p's card (and photo) in c, creating the customer's
// conversation when c is nil, and reports the messages for their events.
func (s *Service) postMessages(tx *bolt.Tx, c *conv, p Post, card []byte) ([]stored, error) {
	w, err := allWrite(tx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if c == nil {
		if c, err = s.createDirect(w, p.Customer, p.Customer, nil, false, now); err != nil {
			return nil, err
		}
	}
	var wrote []stored
	put := func(m *msg, b body) error {
		plain, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("chat: encode body: %w", err)
		}
		seq, err := s.putMessage(w, c, m, plain)
		if err != nil {
			return err
		}
		wrote = append(wrote, stored{seq, m})
		return nil
	}
	if err := put(&msg{ID: p.ID, From: p.From, Kind: KindCard, TS: now}, body{Card: card}); err != nil {
		return nil, err
	}
	if p.Image != nil {
		if err := put(&msg{ID: p.ID + PhotoIDSuffix, From: p.From, Kind: KindImage, TS: now, Media: p.Image.Hash, Thumb: p.Image.Thumbnail}, body{Media: p.Image}); err != nil {
			return nil, err
		}
	}
	if err := s.putConv(w.convs, c); err != nil {
		return nil, err
	}
	return wrote, nil
}
