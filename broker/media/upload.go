package media

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
func (s *Store) Begin(ctx context.Context, owner, uploadID string, meta Meta) (UploadState, error) {
	if err := checkIDs(owner, uploadID); err != nil {
		return UploadState{}, err
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
		if u != nil && expired(*u, now) {
			if err := discardUpload(b.uploads, uk, u); err != nil {
				return err
			}
			u = nil
		}
		if u != nil {
			if !sameDeclared(u.Meta, meta) {
				return fmt.Errorf("%w: upload %q was begun with other meta", ErrConflict, uploadID)
			}
			st = stateOf(owner, uploadID, *u, ub)
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
			if n := openUploads(b.uploads, owner); n >= s.limits.MaxUploadsPerOwner {
				return fmt.Errorf("%w: %d uploads open (limit %d)", ErrQuota, n, s.limits.MaxUploadsPerOwner)
			}
			used := getCounter(b.blobs.Get(keyTotal)) + getCounter(b.uploads.Get(keyReserved))
			if used+meta.Size > s.limits.MaxTotalBytes {
				return fmt.Errorf("%w: %d media bytes in use, %d more would pass %d", ErrQuota, used, meta.Size, s.limits.MaxTotalBytes)
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
		st = stateOf(owner, uploadID, rec, ub)
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
		st = stateOf(owner, uploadID, *u, ub)
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
			}
		}
		st = stateOf(owner, uploadID, *u, ub)
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
		st = stateOf(owner, uploadID, *u, ub)
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
	if u == nil || expired(*u, s.now()) {
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

func expired(u uploadRecord, now time.Time) bool { return now.UnixMilli() >= u.Expires }

// stateOf builds the answer for an upload from its record and chunk keys.
func stateOf(owner, uploadID string, u uploadRecord, ub *bolt.Bucket) UploadState {
	st := UploadState{
		Owner: owner, UploadID: uploadID, Meta: u.Meta, ChunkBytes: u.ChunkBytes,
		Chunks: u.chunks(), Done: u.Done, Expires: time.UnixMilli(u.Expires),
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

// openUploads counts owner's uploads that are not done.
func openUploads(uploads *bolt.Bucket, owner string) int {
	prefix := []byte(owner + "\x00")
	n := 0
	c := uploads.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if v == nil { // a nested bucket
			if ub := uploads.Bucket(k); ub != nil && ub.Get(keyOpen) != nil {
				n++
			}
		}
	}
	return n
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
