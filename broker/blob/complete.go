package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	bolt "go.etcd.io/bbolt"
)

// sniffed maps a declared type to what http.DetectContentType must find in
// its first bytes. Types it cannot tell apart reliably (audio and video
// containers) are not checked.
var sniffed = map[string]string{
	"image/jpeg":      "image/jpeg",
	"image/png":       "image/png",
	"image/webp":      "image/webp",
	"application/pdf": "application/pdf",
}

// Complete assembles an upload whose chunks are all stored, checks its size
// and SHA-256 against the declared ones (a mismatch is ErrChecksum and the
// upload is discarded; content not of the declared image or PDF type is
// ErrType, also discarded), stores it as a blob keyed by its hash, and, for
// JPEG and PNG images, a thumbnail. Missing chunks are ErrIncomplete. Calling
// it again after it succeeded returns the same answer.
func (s *Store) Complete(ctx context.Context, owner, uploadID string) (UploadState, error) {
	st, err := s.complete(ctx, owner, uploadID)
	if err != nil {
		return UploadState{}, fmt.Errorf("media: complete %q: %w", uploadID, err)
	}
	return st, nil
}

func (s *Store) complete(ctx context.Context, owner, uploadID string) (UploadState, error) {
	st, u, err := s.readyUpload(owner, uploadID)
	if err != nil || st.Done {
		return st, err
	}
	unlock, err := s.locks.lock(ctx, u.Meta.SHA256)
	if err != nil {
		return UploadState{}, err
	}
	defer unlock()
	// Another Complete of the same upload may have finished while we waited.
	if st, u, err = s.readyUpload(owner, uploadID); err != nil || st.Done {
		return st, err
	}
	uk := uploadKey(owner, uploadID)
	hk, err := hashKey(u.Meta.SHA256)
	if err != nil {
		return UploadState{}, err
	}
	var exists bool
	if err := s.view(func(b buckets) error {
		r, err := s.readBlob(b.blobs, hk)
		exists = r != nil
		return err
	}); err != nil {
		return UploadState{}, err
	}
	if exists {
		return s.finish(ctx, owner, uploadID, nil, nil)
	}

	if err := s.verify(ctx, uk, u); err != nil {
		if errors.Is(err, ErrChecksum) || errors.Is(err, ErrType) {
			if derr := s.discard(ctx, uk); derr != nil {
				return UploadState{}, errors.Join(err, derr)
			}
		}
		return UploadState{}, err
	}
	meta := u.Meta
	meta.Name = ""
	var thumb *storedBlob
	if meta.Type == "image/jpeg" || meta.Type == "image/png" {
		if thumb, err = s.thumbnailOf(ctx, uk, &meta, u); err != nil {
			return UploadState{}, err
		}
	}
	pages, err := s.writePages(ctx, hk, s.chunks(ctx, uk, u), meta.Size)
	if err != nil {
		return UploadState{}, err
	}
	rec := blobRecord{Meta: meta, PageBytes: s.limits.PageBytes, Pages: pages}
	return s.finish(ctx, owner, uploadID, &rec, thumb)
}

// readyUpload loads a live upload; unless it is done, every chunk must be there.
func (s *Store) readyUpload(owner, uploadID string) (UploadState, uploadRecord, error) {
	if err := checkIDs(owner, uploadID); err != nil {
		return UploadState{}, uploadRecord{}, err
	}
	uk := uploadKey(owner, uploadID)
	var st UploadState
	var u uploadRecord
	err := s.view(func(b buckets) error {
		ub, rec, err := s.liveUpload(b.uploads, uk)
		if err != nil {
			return err
		}
		st, u = s.stateOf(owner, uploadID, *rec, ub), *rec
		return nil
	})
	if err != nil {
		return UploadState{}, uploadRecord{}, err
	}
	if !st.Done && len(st.Missing) > 0 {
		return UploadState{}, uploadRecord{}, fmt.Errorf("%w: %d of %d chunks missing", ErrIncomplete, len(st.Missing), st.Chunks)
	}
	return st, u, nil
}

// verify checks the assembled bytes' size, SHA-256 and (where it can) type.
func (s *Store) verify(ctx context.Context, uk []byte, u uploadRecord) error {
	h := sha256.New()
	r := s.chunks(ctx, uk, u)
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	head = head[:n]
	h.Write(head)
	rest, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	if size := int64(n) + rest; size != u.Meta.Size {
		return fmt.Errorf("%w: assembled %d bytes, declared %d", ErrChecksum, size, u.Meta.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != u.Meta.SHA256 {
		return fmt.Errorf("%w: assembled bytes hash to %s, declared %s", ErrChecksum, got, u.Meta.SHA256)
	}
	if want, ok := sniffed[u.Meta.Type]; ok {
		if got := http.DetectContentType(head); got != want {
			return fmt.Errorf("%w: declared %s, content is %s", ErrType, u.Meta.Type, got)
		}
	}
	return nil
}

// writePages seals r into pages of PageBytes under hk, one transaction per
// page, and returns how many it wrote. Until the blob record is written in
// finish, nobody reads them; the caller holds the hash's lock.
func (s *Store) writePages(ctx context.Context, hk []byte, r io.Reader, size int64) (int, error) {
	buf := make([]byte, s.limits.PageBytes)
	pages := numChunks(size, s.limits.PageBytes)
	for i := range pages {
		n, err := io.ReadFull(r, buf)
		if err != nil && !(errors.Is(err, io.ErrUnexpectedEOF) && i == pages-1) {
			return 0, fmt.Errorf("reading page %d: %w", i, err)
		}
		key := pageKey(hk, i)
		sealed, err := s.sealValue(buf[:n], adPage(key))
		if err != nil {
			return 0, err
		}
		if err := s.update(ctx, func(_ *bolt.Tx, b buckets) error { return b.pages.Put(key, sealed) }); err != nil {
			return 0, fmt.Errorf("writing page %d: %w", i, err)
		}
	}
	return pages, nil
}

// storedBlob is a small blob (a thumbnail) sealed and ready to be written in
// one transaction.
type storedBlob struct {
	hk    []byte
	rec   blobRecord
	pages [][]byte // sealed
}

// finish stores the blob record (nil when the blob exists already: dedup) and
// its thumbnail, and turns the upload into a done marker, in one transaction.
func (s *Store) finish(ctx context.Context, owner, uploadID string, rec *blobRecord, thumb *storedBlob) (UploadState, error) {
	uk := uploadKey(owner, uploadID)
	var st UploadState
	err := s.update(ctx, func(_ *bolt.Tx, b buckets) error {
		st = UploadState{}
		ub, u, err := s.liveUpload(b.uploads, uk)
		if err != nil {
			return err
		}
		if u.Done {
			st = s.stateOf(owner, uploadID, *u, ub)
			return nil
		}
		hk, err := hashKey(u.Meta.SHA256)
		if err != nil {
			return err
		}
		now := s.nowMs()
		blob, err := s.readBlob(b.blobs, hk)
		if err != nil {
			return err
		}
		if blob == nil && rec == nil {
			return fmt.Errorf("%w: blob vanished while completing; complete again", ErrConflict)
		}
		if blob == nil {
			for i := range rec.Pages {
				if b.pages.Get(pageKey(hk, i)) == nil {
					return fmt.Errorf("%w: page %d vanished while completing; complete again", ErrConflict, i)
				}
			}
			if err := deletePagesFrom(b.pages, hk, rec.Pages); err != nil {
				return err
			}
			r := *rec
			if thumb != nil {
				if err := s.storeSmallBlob(b, *thumb, now); err != nil {
					return err
				}
				r.Meta.Thumbnail = hex.EncodeToString(thumb.hk)
			}
			blob = &r
			if err := addCounter(b.blobs, keyTotal, r.Meta.Size); err != nil {
				return err
			}
		}
		blob.Claimed = now
		if err := s.writeBlob(b.blobs, hk, *blob); err != nil {
			return err
		}
		// Replace the upload (and its chunks) with a done marker.
		if err := discardUpload(b.uploads, uk, u); err != nil {
			return err
		}
		if ub, err = b.uploads.CreateBucket(uk); err != nil {
			return fmt.Errorf("media: create upload: %w", err)
		}
		done := *u
		done.Done, done.Result = true, resultMeta(blob.Meta, u.Meta.Name)
		if err := s.writeUpload(ub, uk, done); err != nil {
			return err
		}
		st = s.stateOf(owner, uploadID, done, ub)
		return nil
	})
	return st, err
}

// storeSmallBlob writes a thumbnail blob, or adds a reference when the same
// bytes are stored already.
func (s *Store) storeSmallBlob(b buckets, sb storedBlob, now int64) error {
	existing, err := s.readBlob(b.blobs, sb.hk)
	if err != nil {
		return err
	}
	if existing != nil {
		existing.Refs++
		return s.writeBlob(b.blobs, sb.hk, *existing)
	}
	for i, p := range sb.pages {
		if err := b.pages.Put(pageKey(sb.hk, i), p); err != nil {
			return err
		}
	}
	r := sb.rec
	r.Claimed = now
	if err := s.writeBlob(b.blobs, sb.hk, r); err != nil {
		return err
	}
	return addCounter(b.blobs, keyTotal, r.Meta.Size)
}

// discard deletes an upload that failed verification.
func (s *Store) discard(ctx context.Context, uk []byte) error {
	return s.update(ctx, func(_ *bolt.Tx, b buckets) error {
		_, u, err := s.readUpload(b.uploads, uk)
		if err != nil || u == nil || u.Done {
			return err
		}
		return discardUpload(b.uploads, uk, u)
	})
}

// deletePagesFrom deletes a blob's pages with index from and up (all of them
// for 0).
func deletePagesFrom(pages *bolt.Bucket, hk []byte, from int) error {
	c := pages.Cursor()
	for k, _ := c.Seek(pageKey(hk, from)); k != nil && len(k) == 36 && string(k[:32]) == string(hk); k, _ = c.Seek(pageKey(hk, from)) {
		if err := pages.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
