package hqlink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// A photo or voice note a customer at home attaches comes down whole on
// hq/media/put (proto.HQMediaPut) just before the hq/chat/message that
// refers to it. The store checks it (SHA-256, type, the media limits of
// its own uploads) and stores it in its blob store as an upload of that
// customer, completed at once; her message then refers to it like one she
// uploaded in the shop, and its members may fetch it from then on.

// HQMediaTypes are the types a blob from home may have.
var HQMediaTypes = []string{"image/jpeg", "image/png", "image/webp", "audio/webm", "audio/ogg", "audio/mp4"}

var putIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$`)

// Uploads is the blob store's upload side (broker/blob.Store).
type Uploads interface {
	Begin(ctx context.Context, owner, uploadID string, meta blob.Meta, opts ...blob.BeginOption) (blob.UploadState, error)
	PutChunk(ctx context.Context, owner, uploadID string, index int, data []byte) (blob.UploadState, error)
	Complete(ctx context.Context, owner, uploadID string) (blob.UploadState, error)
}

// HandleMediaPut stores the blob HQ sent. Storing the same put again (or
// the same bytes under another id) changes nothing. An error wrapping
// ErrInvalid is a blob the store never takes (a replay fails the same
// way); any other error is worth a retry.
func (l *Link) HandleMediaPut(ctx context.Context, payload []byte) error {
	var p proto.HQMediaPut
	if err := strictjson.Decode(payload, &p); err != nil {
		return fmt.Errorf("%w: media put: %w", ErrInvalid, err)
	}
	switch {
	case p.V != 1 || !putIDPattern.MatchString(p.ID):
		return fmt.Errorf("%w: media put: want v 1 and an id", ErrInvalid)
	case !customer.ValidCustomerID(p.Customer) && !(strings.HasPrefix(p.Customer, "hq-") && putIDPattern.MatchString(p.Customer)):
		return fmt.Errorf("%w: media put %s: customer %q is neither the store's (cust-…) nor HQ's (hq-…)", ErrInvalid, p.ID, p.Customer)
	case !hashPattern.MatchString(p.Hash):
		return fmt.Errorf("%w: media put %s: want a SHA-256 hash in lowercase hex", ErrInvalid, p.ID)
	case !slices.Contains(HQMediaTypes, p.Type):
		return fmt.Errorf("%w: media put %s: type %q; a photo or voice note from home is one of %v", ErrInvalid, p.ID, p.Type, HQMediaTypes)
	case len(p.Data) == 0:
		return fmt.Errorf("%w: media put %s: no data", ErrInvalid, p.ID)
	}
	if sum := sha256.Sum256(p.Data); hex.EncodeToString(sum[:]) != p.Hash {
		return fmt.Errorf("%w: media put %s: the data's SHA-256 is not %s", ErrInvalid, p.ID, p.Hash)
	}
	up, ok := l.media.(Uploads)
	if !ok || l.media == nil {
		return errors.New("hqlink: no media store")
	}
	owner, id := p.Customer, "hq-"+p.ID
	st, err := up.Begin(ctx, owner, id, blob.Meta{Type: p.Type, Size: int64(len(p.Data)), SHA256: p.Hash}, blob.AsCustomer())
	for err == nil && !st.Done && len(st.Missing) > 0 {
		i := st.Missing[0]
		end := min((i+1)*st.ChunkBytes, len(p.Data))
		st, err = up.PutChunk(ctx, owner, id, i, p.Data[i*st.ChunkBytes:end])
	}
	if err == nil && !st.Done {
		st, err = up.Complete(ctx, owner, id)
	}
	switch {
	case errors.Is(err, blob.ErrType), errors.Is(err, blob.ErrTooLarge), errors.Is(err, blob.ErrChecksum),
		errors.Is(err, blob.ErrInvalid), errors.Is(err, blob.ErrConflict):
		l.putRefused.Add(1)
		return fmt.Errorf("%w: media put %s: %w", ErrInvalid, p.ID, err)
	case errors.Is(err, blob.ErrQuota):
		// Retrying would hold up the whole downlink until staff free
		// room; the message that refers to it is refused in turn, and
		// both are logged.
		l.putRefused.Add(1)
		return fmt.Errorf("%w: media put %s: no room for it in the store's media: %w", ErrInvalid, p.ID, err)
	case err != nil:
		return fmt.Errorf("hqlink: media put %s: %w", p.ID, err)
	}
	l.putStored.Add(1)
	return nil
}
