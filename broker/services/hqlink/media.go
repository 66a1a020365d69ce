package hqlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// A photo (or any blob) a conversation refers to goes to HQ on demand: the
// chat entry carries its hash (proto.MediaInfo), HQ asks with
// proto.MediaGet on proto.TopicMediaGet, and the store files the blob
// whole as proto.MediaBlob on media/{hash} (class media: evicted before
// chat and bookings) when it has it and it is at most MaxMediaBytes. A blob
// the store does not have or that is too large (or finds no room in the
// outbox) is logged and counted (Stats), never silently dropped.

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// HandleMediaGet files the blob HQ asked for. An error wrapping ErrInvalid
// is a request no blob answers (a replay fails the same way); any other
// error is worth a retry.
func (l *Link) HandleMediaGet(ctx context.Context, payload []byte) error {
	var g proto.MediaGet
	if err := strictjson.Decode(payload, &g); err != nil {
		return fmt.Errorf("%w: media get: %w", ErrInvalid, err)
	}
	if g.V != 1 || !hashPattern.MatchString(g.Hash) {
		return fmt.Errorf("%w: media get: want v 1 and a SHA-256 hash in lowercase hex", ErrInvalid)
	}
	if l.o.Outbox == nil || l.media == nil {
		return errors.New("hqlink: no link to HQ or no media store")
	}
	st, err := l.media.Stat(ctx, g.Hash)
	if errors.Is(err, blob.ErrNotFound) {
		l.mediaMissing.Add(1)
		l.o.Log.Warn("hqlink: HQ asked for a blob the store does not have", "id", g.ID, "hash", g.Hash)
		return nil
	}
	if err != nil {
		l.mediaFailed.Add(1)
		return err
	}
	if st.Meta.Size > l.o.MaxMediaBytes {
		l.mediaTooLarge.Add(1)
		l.o.Log.Warn("hqlink: HQ asked for a blob larger than max_media_bytes; not sent", "id", g.ID, "hash", g.Hash,
			"size", st.Meta.Size, "max_media_bytes", l.o.MaxMediaBytes)
		return nil
	}
	data := make([]byte, 0, st.Meta.Size)
	step := int64(l.media.Limits().MaxReadBytes)
	if step <= 0 {
		step = 1 << 20
	}
	for int64(len(data)) < st.Meta.Size {
		b, err := l.media.Get(ctx, g.Hash, int64(len(data)), min(step, st.Meta.Size-int64(len(data))))
		if err != nil {
			l.mediaFailed.Add(1)
			return fmt.Errorf("hqlink: read blob %s: %w", g.Hash, err)
		}
		if len(b) == 0 {
			l.mediaFailed.Add(1)
			return fmt.Errorf("hqlink: blob %s ends at %d of %d bytes", g.Hash, len(data), st.Meta.Size)
		}
		data = append(data, b...)
	}
	p, err := json.Marshal(proto.MediaBlob{V: 1, Hash: g.Hash, Mime: st.Meta.Type, Size: st.Meta.Size, Data: data})
	if err != nil {
		return fmt.Errorf("hqlink: encode blob: %w", err)
	}
	err = l.o.DB.Update(ctx, func(tx *bolt.Tx) error { return l.o.Outbox.Put(tx, proto.TopicMediaPrefix+g.Hash, p) })
	if errors.Is(err, outbox.ErrQuota) {
		// The outbox is full of what it may not evict (chat, bookings):
		// retrying would hold up the downlink. HQ may ask again later.
		l.mediaNoRoom.Add(1)
		l.o.Log.Warn("hqlink: no room in the outbox for a blob HQ asked for; not sent", "id", g.ID, "hash", g.Hash, "size", st.Meta.Size, "err", err)
		return nil
	}
	if err != nil {
		l.mediaFailed.Add(1)
		return fmt.Errorf("hqlink: file blob %s: %w", g.Hash, err)
	}
	l.mediaSent.Add(1)
	return nil
}
