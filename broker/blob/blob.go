package blob

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Stat returns a blob's meta (without a name: names belong to messages) and
// reference count.
func (s *Store) Stat(ctx context.Context, hash string) (Blob, error) {
	hk, err := hashKey(hash)
	if err != nil {
		return Blob{}, err
	}
	if err := ctx.Err(); err != nil {
		return Blob{}, fmt.Errorf("media: stat: %w", err)
	}
	var out Blob
	err = s.view(func(b buckets) error {
		r, err := s.readBlob(b.blobs, hk)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w: blob %s", ErrNotFound, hash)
		}
		out = Blob{Meta: r.Meta, Refs: r.Refs}
		return nil
	})
	if err != nil {
		return Blob{}, fmt.Errorf("media: stat: %w", err)
	}
	return out, nil
}

// Get reads up to length bytes of a blob from offset; fewer at its end and
// none at offset == size. length may be at most MaxReadBytes.
func (s *Store) Get(ctx context.Context, hash string, offset, length int64) ([]byte, error) {
	hk, err := hashKey(hash)
	if err != nil {
		return nil, err
	}
	switch {
	case offset < 0 || length <= 0:
		return nil, fmt.Errorf("%w: offset must be ≥ 0 and length > 0", ErrInvalid)
	case length > int64(s.limits.MaxReadBytes):
		return nil, fmt.Errorf("%w: read of %d bytes, limit %d", ErrTooLarge, length, s.limits.MaxReadBytes)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("media: get: %w", err)
	}
	var (
		sealed    [][]byte
		first     int
		pageBytes int64
		end       int64
	)
	err = s.view(func(b buckets) error {
		r, err := s.readBlob(b.blobs, hk)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w: blob %s", ErrNotFound, hash)
		}
		if offset > r.Meta.Size {
			return fmt.Errorf("%w: offset %d past the end (%d bytes)", ErrInvalid, offset, r.Meta.Size)
		}
		end = min(offset+length, r.Meta.Size)
		if end == offset {
			return nil
		}
		pageBytes = int64(r.PageBytes)
		first = int(offset / pageBytes)
		for i := first; i <= int((end-1)/pageBytes); i++ {
			v := b.pages.Get(pageKey(hk, i))
			if v == nil {
				return fmt.Errorf("%w: blob %s lacks page %d", ErrCorrupt, hash, i)
			}
			sealed = append(sealed, bytes.Clone(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("media: get: %w", err)
	}
	out := make([]byte, 0, end-offset)
	for j, v := range sealed {
		i := first + j
		page, err := s.open(v, adPage(pageKey(hk, i)))
		if err != nil {
			return nil, fmt.Errorf("media: get page %d: %w", i, err)
		}
		start := int64(i) * pageBytes
		lo, hi := max(offset, start)-start, min(end, start+int64(len(page)))-start
		if lo > hi || hi > int64(len(page)) {
			return nil, fmt.Errorf("media: get page %d: %w: short page", i, ErrCorrupt)
		}
		out = append(out, page[lo:hi]...)
	}
	return out, nil
}

// Ref records one more message pointing at a blob.
func (s *Store) Ref(ctx context.Context, hash string) error {
	hk, err := hashKey(hash)
	if err != nil {
		return err
	}
	err = s.update(ctx, func(_ *bolt.Tx, b buckets) error {
		r, err := s.readBlob(b.blobs, hk)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w: blob %s", ErrNotFound, hash)
		}
		r.Refs++
		return s.writeBlob(b.blobs, hk, *r)
	})
	if err != nil {
		return fmt.Errorf("media: ref: %w", err)
	}
	return nil
}

// Unref records that a message no longer points at a blob and returns the
// references left. At zero the blob is erased: its pages, its record and its
// reference on its thumbnail.
func (s *Store) Unref(ctx context.Context, hash string) (int64, error) {
	hk, err := hashKey(hash)
	if err != nil {
		return 0, err
	}
	unlock, err := s.locks.lock(ctx, hash)
	if err != nil {
		return 0, err
	}
	defer unlock()
	var left int64
	err = s.updateFree(ctx, func(_ *bolt.Tx, b buckets) error {
		r, err := s.readBlob(b.blobs, hk)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("%w: blob %s", ErrNotFound, hash)
		}
		r.Refs = max(r.Refs-1, 0)
		left = r.Refs
		if r.Refs > 0 {
			return s.writeBlob(b.blobs, hk, *r)
		}
		return s.deleteBlob(b, hk, *r)
	})
	if err != nil {
		return 0, fmt.Errorf("media: unref: %w", err)
	}
	return left, nil
}

// deleteBlob erases a blob and drops its reference on its thumbnail.
func (s *Store) deleteBlob(b buckets, hk []byte, r blobRecord) error {
	if err := deletePagesFrom(b.pages, hk, 0); err != nil {
		return err
	}
	if err := b.blobs.Delete(hk); err != nil {
		return err
	}
	if err := addCounter(b.blobs, keyTotal, -r.Meta.Size); err != nil {
		return err
	}
	if r.Meta.Thumbnail == "" {
		return nil
	}
	tk, err := hex.DecodeString(r.Meta.Thumbnail)
	if err != nil {
		return fmt.Errorf("%w: thumbnail hash", ErrCorrupt)
	}
	t, err := s.readBlob(b.blobs, tk)
	if err != nil || t == nil {
		return err
	}
	if t.Refs--; t.Refs > 0 {
		return s.writeBlob(b.blobs, tk, *t)
	}
	return s.deleteBlob(b, tk, *t)
}

// Usage reports the bytes of stored blobs and those reserved by open uploads.
func (s *Store) Usage() (stored, reserved int64, err error) {
	err = s.view(func(b buckets) error {
		if b.blobs != nil {
			stored = getCounter(b.blobs.Get(keyTotal))
		}
		if b.uploads != nil {
			reserved = getCounter(b.uploads.Get(keyReserved))
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("media: usage: %w", err)
	}
	return stored, reserved, nil
}
