package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Begin starts an upload, or returns where it stands when (owner, uploadID)
// was begun before with the same meta (other meta is ErrConflict). When a blob
// with meta.SHA256 is already stored the upload is done at once and no chunk
// needs sending. The declared size is reserved against MaxTotalBytes until
// the upload completes or expires.
//
// An upload begun AsCustomer is held to the customer limits of Limits
// (CustomerMaxUploads, CustomerMaxReservedBytes) and may not use the last
// StaffReserveBytes of MaxTotalBytes.
func (s *Store) Begin(ctx context.Context, owner, uploadID string, meta Meta, opts ...BeginOption) (UploadState, error) {
	if err := checkIDs(owner, uploadID); err != nil {
		return UploadState{}, err
	}
	var bo beginOpts
	for _, o := range opts {
		o(&bo)
	}
	meta, err := s.checkDeclared(meta)
	if err != nil {
		return UploadState{}, err
	}
	hk, _ := hashKey(meta.SHA256) // checked above
	uk := uploadKey(owner, uploadID)
	now := s.now()
	var st UploadState
	err = s.update(ctx, func(_ *bolt.Tx, b buckets) error {
		st = UploadState{}
		ub, u, err := s.readUpload(b.uploads, uk)
		if err != nil {
			return err
		}
		if u != nil && s.expired(*u, now) {
			if err := discardUpload(b.uploads, uk, u); err != nil {
				return err
			}
			u = nil
		}
		if u != nil {
			if !sameDeclared(u.Meta, meta) {
				return fmt.Errorf("%w: upload %q was begun with other meta", ErrConflict, uploadID)
			}
			st = s.stateOf(owner, uploadID, *u, ub)
			return nil
		}
		rec := uploadRecord{Meta: meta, ChunkBytes: s.limits.ChunkBytes, Created: now.UnixMilli(), Expires: now.Add(s.ttl).UnixMilli()}
		blob, err := s.readBlob(b.blobs, hk)
		if err != nil {
			return err
		}
		if blob != nil {
			// Dedup: the content is here already.
			if blob.Meta.Size != meta.Size {
				return fmt.Errorf("%w: a blob with this sha256 has %d bytes, not %d", ErrChecksum, blob.Meta.Size, meta.Size)
			}
			blob.Claimed = now.UnixMilli()
			if err := s.writeBlob(b.blobs, hk, *blob); err != nil {
				return err
			}
			rec.Done, rec.Result = true, resultMeta(blob.Meta, meta.Name)
		} else {
			if err := s.checkQuota(b, owner, meta.Size, bo.customer, now); err != nil {
				return err
			}
			if err := addCounter(b.uploads, keyReserved, meta.Size); err != nil {
				return err
			}
		}
		if ub, err = b.uploads.CreateBucket(uk); err != nil {
			return fmt.Errorf("media: create upload: %w", err)
		}
		if !rec.Done {
			if err := ub.Put(keyOpen, []byte{1}); err != nil {
				return err
			}
		}
		if err := s.writeUpload(ub, uk, rec); err != nil {
			return err
		}
		st = s.stateOf(owner, uploadID, rec, ub)
		return nil
	})
	if err != nil {
		return UploadState{}, fmt.Errorf("media: begin %q: %w", uploadID, err)
	}
	return st, nil
}

// PutChunk stores chunk index of an upload. Every chunk is ChunkBytes long
// but the last, which holds the rest. Sending a stored chunk again with the
// same bytes changes nothing; with other bytes it is ErrConflict. After the
// upload is done it changes nothing and returns the done state.
func (s *Store) PutChunk(ctx context.Context, owner, uploadID string, index int, data []byte) (UploadState, error) {
	if err := checkIDs(owner, uploadID); err != nil {
		return UploadState{}, err
	}
	uk := uploadKey(owner, uploadID)
	ck, dk := indexKey('c', index), indexKey('d', index)
	sum := sha256.Sum256(data)
	// Check against the stored state first, outside the committer: most
	// problems (and retried chunks) need no write.
	var st UploadState
	var stored []byte
	err := s.view(func(b buckets) error {
		ub, u, err := s.liveUpload(b.uploads, uk)
		if err != nil {
			return err
		}
		st = s.stateOf(owner, uploadID, *u, ub)
		if u.Done {
			return nil
		}
		if err := checkChunk(*u, index, len(data)); err != nil {
			return err
		}
		stored = bytes.Clone(ub.Get(dk))
		return nil
	})
	if err != nil {
		return UploadState{}, fmt.Errorf("media: chunk %d of %q: %w", index, uploadID, err)
	}
	if st.Done {
		return st, nil
	}
	if stored != nil {
		if err := s.sameDigest(stored, uk, index, sum[:]); err != nil {
			return UploadState{}, fmt.Errorf("media: chunk %d of %q: %w", index, uploadID, err)
		}
		return st, nil
	}
	sealedChunk, err := s.sealValue(data, adChunk(uk, 'c', index))
	if err != nil {
		return UploadState{}, err
	}
	sealedSum, err := s.sealValue(sum[:], adChunk(uk, 'd', index))
	if err != nil {
		return UploadState{}, err
	}
	err = s.update(ctx, func(_ *bolt.Tx, b buckets) error {
		st = UploadState{}
		ub, u, err := s.liveUpload(b.uploads, uk)
		if err != nil {
			return err
		}
		if !u.Done {
			if prev := ub.Get(dk); prev != nil {
				// A retry raced us in.
				if err := s.sameDigest(prev, uk, index, sum[:]); err != nil {
					return err
				}
			} else {
				if err := ub.Put(ck, sealedChunk); err != nil {
					return err
				}
				if err := ub.Put(dk, sealedSum); err != nil {
					return err
				}
				// Progress: the upload's idle timeout starts again.
				u.Touched = s.nowMs()
				if err := s.writeUpload(ub, uk, *u); err != nil {
					return err
				}
			}
		}
		st = s.stateOf(owner, uploadID, *u, ub)
		return nil
	})
	if err != nil {
		return UploadState{}, fmt.Errorf("media: chunk %d of %q: %w", index, uploadID, err)
	}
	return st, nil
}

// Status returns where an upload stands, with the chunks still missing.
func (s *Store) Status(ctx context.Context, owner, uploadID string) (UploadState, error) {
	if err := checkIDs(owner, uploadID); err != nil {
		return UploadState{}, err
	}
	if err := ctx.Err(); err != nil {
		return UploadState{}, fmt.Errorf("media: status: %w", err)
	}
	uk := uploadKey(owner, uploadID)
	var st UploadState
	err := s.view(func(b buckets) error {
		ub, u, err := s.liveUpload(b.uploads, uk)
		if err != nil {
			return err
		}
		st = s.stateOf(owner, uploadID, *u, ub)
		return nil
	})
	if err != nil {
		return UploadState{}, fmt.Errorf("media: status of %q: %w", uploadID, err)
	}
	return st, nil
}

// liveUpload loads an upload that exists and has not expired.
func (s *Store) liveUpload(uploads *bolt.Bucket, uk []byte) (*bolt.Bucket, *uploadRecord, error) {
	ub, u, err := s.readUpload(uploads, uk)
	if err != nil {
		return nil, nil, err
	}
	if u == nil || s.expired(*u, s.now()) {
		return nil, nil, fmt.Errorf("%w: no such upload (or it expired)", ErrNotFound)
	}
	return ub, u, nil
}

func (s *Store) sameDigest(sealed, uk []byte, index int, sum []byte) error {
	prev, err := s.open(sealed, adChunk(uk, 'd', index))
	if err != nil {
		return err
	}
	if !bytes.Equal(prev, sum) {
		return fmt.Errorf("%w: chunk %d was stored with other bytes", ErrConflict, index)
	}
	return nil
}

// checkDeclared checks a client's meta against the limits and normalises it.
func (s *Store) checkDeclared(m Meta) (Meta, error) {
	m.SHA256 = strings.ToLower(m.SHA256)
	m.Thumbnail = ""
	if !s.limits.allowed(m.Type) {
		return Meta{}, fmt.Errorf("%w: %q", ErrType, m.Type)
	}
	if err := checkMeta(m); err != nil {
		return Meta{}, err
	}
	if maxN := s.limits.maxBytes(m.Type); m.Size > maxN {
		return Meta{}, fmt.Errorf("%w: %d bytes, %s is limited to %d", ErrTooLarge, m.Size, m.Type, maxN)
	}
	if numChunks(m.Size, s.limits.ChunkBytes) > maxChunks {
		return Meta{}, fmt.Errorf("%w: more than %d chunks", ErrTooLarge, maxChunks)
	}
	if !strings.HasPrefix(m.Type, "audio/") && !strings.HasPrefix(m.Type, "video/") {
		m.DurationMs = 0
	}
	return m, nil
}

func checkChunk(u uploadRecord, index, n int) error {
	chunks := u.chunks()
	if index < 0 || index >= chunks {
		return fmt.Errorf("%w: chunk index %d outside 0..%d", ErrInvalid, index, chunks-1)
	}
	want := u.ChunkBytes
	if index == chunks-1 {
		want = int(u.Meta.Size - int64(index)*int64(u.ChunkBytes))
	}
	if n > want {
		return fmt.Errorf("%w: chunk %d has %d bytes, want %d", ErrTooLarge, index, n, want)
	}
	if n != want {
		return fmt.Errorf("%w: chunk %d has %d bytes, want %d", ErrInvalid, index, n, want)
	}
	return nil
}

func sameDeclared(a, b Meta) bool {
	return a.Type == b.Type && a.Size == b.Size && a.SHA256 == b.SHA256 && a.Name == b.Name &&
		a.DurationMs == b.DurationMs && a.Width == b.Width && a.Height == b.Height
}

func resultMeta(blob Meta, name string) *Meta {
	blob.Name = name
	return &blob
}

// lapse is when an upload is dropped (unix ms): at its Expires and, while it
// is open, UploadIdle after its last progress (Begin or a new chunk), so an
// abandoned upload gives its reservation back in minutes, not a day.
func (s *Store) lapse(u uploadRecord) int64 {
	if u.Done || s.idle <= 0 {
		return u.Expires
	}
	return min(u.Expires, max(u.Created, u.Touched)+s.idle.Milliseconds())
}

func (s *Store) expired(u uploadRecord, now time.Time) bool { return now.UnixMilli() >= s.lapse(u) }

// stateOf builds the answer for an upload from its record and chunk keys.
func (s *Store) stateOf(owner, uploadID string, u uploadRecord, ub *bolt.Bucket) UploadState {
	st := UploadState{
		Owner: owner, UploadID: uploadID, Meta: u.Meta, ChunkBytes: u.ChunkBytes,
		Chunks: u.chunks(), Done: u.Done, Expires: time.UnixMilli(s.lapse(u)),
	}
	if u.Done {
		st.Meta, st.Hash, st.Received = *u.Result, u.Result.SHA256, st.Chunks
		return st
	}
	st.Missing = []int{}
	have := make([]bool, st.Chunks)
	c := ub.Cursor()
	for k, _ := c.Seek([]byte{'c'}); k != nil && k[0] == 'c'; k, _ = c.Next() {
		if len(k) == 5 {
			if i := int(binary.BigEndian.Uint32(k[1:])); i < st.Chunks {
				have[i] = true
			}
		}
	}
	for i, ok := range have {
		if ok {
			st.Received++
		} else {
			st.Missing = append(st.Missing, i)
		}
	}
	return st
}

// BeginOption modifies a Begin.
type BeginOption func(*beginOpts)

type beginOpts struct{ customer bool }

// AsCustomer holds the upload to the customer limits.
func AsCustomer() BeginOption { return func(o *beginOpts) { o.customer = true } }

// Reasons of a QuotaError.
const (
	ReasonUploads       = "uploads"        // the owner has its most open uploads
	ReasonReservedBytes = "reserved_bytes" // a customer's open uploads reserve their most bytes
	ReasonFull          = "media_full"     // all media (for customers: all but the staff reserve) is used
)

// QuotaError is an ErrQuota with the rule that refused and when an open
// upload of the owner lapses (RetryAfter; 0 when no wait will help).
type QuotaError struct {
	Reason     string
	RetryAfter time.Duration
	msg        string
}

func (e *QuotaError) Error() string { return "media: quota exceeded: " + e.msg }

// Is makes errors.Is(err, ErrQuota) hold.
func (e *QuotaError) Is(target error) bool { return target == ErrQuota }

// checkQuota decides whether owner may reserve size more bytes. Lapsed
// uploads in its way are discarded first (their reservations are free).
func (s *Store) checkQuota(b buckets, owner string, size int64, customer bool, now time.Time) error {
	n, reserved, next, err := s.ownerUploads(b.uploads, owner, now)
	if err != nil {
		return err
	}
	wait := time.Duration(0)
	if next > 0 {
		wait = time.UnixMilli(next).Sub(now)
	}
	maxN := s.limits.MaxUploadsPerOwner
	if customer {
		maxN = min(maxN, s.limits.CustomerMaxUploads)
	}
	if n >= maxN {
		return &QuotaError{Reason: ReasonUploads, RetryAfter: wait, msg: fmt.Sprintf("%d uploads open (limit %d); finish or abandon one", n, maxN)}
	}
	if customer && reserved+size > s.limits.CustomerMaxReservedBytes {
		if size > s.limits.CustomerMaxReservedBytes {
			wait = 0
		}
		return &QuotaError{Reason: ReasonReservedBytes, RetryAfter: wait,
			msg: fmt.Sprintf("your open uploads reserve %d bytes, %d more would pass %d", reserved, size, s.limits.CustomerMaxReservedBytes)}
	}
	limit := s.limits.MaxTotalBytes
	if customer {
		limit -= s.limits.StaffReserveBytes
	}
	used := getCounter(b.blobs.Get(keyTotal)) + getCounter(b.uploads.Get(keyReserved))
	if used+size > limit {
		if err := s.reclaim(b.uploads, now); err != nil {
			return err
		}
		used = getCounter(b.blobs.Get(keyTotal)) + getCounter(b.uploads.Get(keyReserved))
	}
	if used+size > limit {
		return &QuotaError{Reason: ReasonFull, msg: fmt.Sprintf("%d media bytes in use, %d more would pass %d", used, size, limit)}
	}
	return nil
}

// ownerUploads counts owner's open uploads and the bytes they reserve, and
// returns when the first of them lapses (unix ms, 0 = none open). Lapsed
// uploads are discarded. An upload whose record does not open counts as
// open and reserving nothing (the cleanup reports it).
func (s *Store) ownerUploads(uploads *bolt.Bucket, owner string, now time.Time) (n int, reserved, next int64, err error) {
	prefix := []byte(owner + "\x00")
	var lapsed [][]byte
	var lapsedRecs []*uploadRecord
	c := uploads.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if v != nil { // not an upload bucket
			continue
		}
		ub, u, rerr := s.readUpload(uploads, k)
		if ub == nil || ub.Get(keyOpen) == nil {
			continue
		}
		if rerr != nil || u == nil {
			n++
			continue
		}
		if s.expired(*u, now) {
			lapsed, lapsedRecs = append(lapsed, bytes.Clone(k)), append(lapsedRecs, u)
			continue
		}
		n++
		reserved += u.Meta.Size
		if l := s.lapse(*u); next == 0 || l < next {
			next = l
		}
	}
	for i, k := range lapsed {
		if err := discardUpload(uploads, k, lapsedRecs[i]); err != nil {
			return 0, 0, 0, err
		}
	}
	return n, reserved, next, nil
}

// reclaim discards every lapsed upload, giving its reservation back.
func (s *Store) reclaim(uploads *bolt.Bucket, now time.Time) error {
	var keys [][]byte
	var recs []*uploadRecord
	c := uploads.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v != nil {
			continue
		}
		if _, u, err := s.readUpload(uploads, k); err == nil && u != nil && s.expired(*u, now) {
			keys, recs = append(keys, bytes.Clone(k)), append(recs, u)
		}
	}
	for i, k := range keys {
		if err := discardUpload(uploads, k, recs[i]); err != nil {
			return err
		}
	}
	return nil
}

// discardUpload deletes an upload and releases what it reserved.
func discardUpload(uploads *bolt.Bucket, uk []byte, u *uploadRecord) error {
	ub := uploads.Bucket(uk)
	if ub != nil && ub.Get(keyOpen) != nil && u != nil {
		if err := addCounter(uploads, keyReserved, -u.Meta.Size); err != nil {
			return err
		}
	}
	if err := uploads.DeleteBucket(uk); err != nil {
		return fmt.Errorf("media: delete upload: %w", err)
	}
	return nil
}
