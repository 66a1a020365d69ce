package blob

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// CleanupStats counts what Cleanup removed.
type CleanupStats struct {
	// Uploads expired (open ones and remembered answers of finished ones).
	Uploads int
	// Blobs nobody referenced within UploadTTL of their last upload.
	Blobs int
	// Pages left behind by a Complete that did not finish (crash, error).
	OrphanPages int
	// Unreadable uploads that were skipped (for example sealed under a key the
	// keyring no longer holds).
	Unreadable int
}

// Cleanup removes expired uploads, blobs left unreferenced past UploadTTL and
// pages no blob owns. Run it periodically (e.g. every UploadTTL/4); it writes
// in small transactions and stops at ctx's end.
func (s *Store) Cleanup(ctx context.Context) (CleanupStats, error) {
	var st CleanupStats
	if err := s.cleanUploads(ctx, &st); err != nil {
		return st, err
	}
	if err := s.cleanBlobs(ctx, &st); err != nil {
		return st, err
	}
	if err := s.cleanPages(ctx, &st); err != nil {
		return st, err
	}
	return st, nil
}

func (s *Store) cleanUploads(ctx context.Context, st *CleanupStats) error {
	now := s.now()
	var keys [][]byte
	err := s.view(func(b buckets) error {
		if b.uploads == nil {
			return nil
		}
		c := b.uploads.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v != nil {
				continue // a counter
			}
			_, u, err := s.readUpload(b.uploads, k)
			if err != nil {
				st.Unreadable++
				continue
			}
			if u != nil && s.expired(*u, now) {
				keys = append(keys, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("media: cleanup uploads: %w", err)
	}
	for _, uk := range keys {
		removed := false
		err := s.updateFree(ctx, func(_ *bolt.Tx, b buckets) error {
			removed = false
			_, u, err := s.readUpload(b.uploads, uk)
			if err != nil || u == nil || !s.expired(*u, now) {
				return err
			}
			removed = true
			return discardUpload(b.uploads, uk, u)
		})
		if err != nil {
			return fmt.Errorf("media: cleanup uploads: %w", err)
		}
		if removed {
			st.Uploads++
		}
	}
	return nil
}

func (s *Store) cleanBlobs(ctx context.Context, st *CleanupStats) error {
	cutoff := s.now().Add(-s.ttl).UnixMilli()
	stale := func(r *blobRecord) bool { return r != nil && r.Refs == 0 && r.Claimed <= cutoff }
	var hashes [][]byte
	err := s.view(func(b buckets) error {
		if b.blobs == nil {
			return nil
		}
		c := b.blobs.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if len(k) != 32 {
				continue
			}
			r, err := s.readBlob(b.blobs, k)
			if err == nil && stale(r) {
				hashes = append(hashes, bytes.Clone(k))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("media: cleanup blobs: %w", err)
	}
	for _, hk := range hashes {
		unlock, ok := s.locks.tryLock(hex.EncodeToString(hk))
		if !ok {
			continue // being completed or unreferenced right now
		}
		removed := false
		err := s.updateFree(ctx, func(_ *bolt.Tx, b buckets) error {
			removed = false
			r, err := s.readBlob(b.blobs, hk)
			if err != nil || !stale(r) {
				return err
			}
			removed = true
			return s.deleteBlob(b, hk, *r)
		})
		unlock()
		if err != nil {
			return fmt.Errorf("media: cleanup blobs: %w", err)
		}
		if removed {
			st.Blobs++
		}
	}
	return nil
}

func (s *Store) cleanPages(ctx context.Context, st *CleanupStats) error {
	type orphan struct {
		hk   []byte
		from int
	}
	var orphans []orphan
	err := s.view(func(b buckets) error {
		if b.pages == nil {
			return nil
		}
		c := b.pages.Cursor()
		for k, _ := c.First(); k != nil; {
			if len(k) != 36 {
				k, _ = c.Next()
				continue
			}
			hk := bytes.Clone(k[:32])
			r, err := s.readBlob(b.blobs, hk)
			if err == nil {
				from := 0
				if r != nil {
					from = r.Pages
				}
				if k2, _ := c.Seek(pageKey(hk, from)); k2 != nil && bytes.HasPrefix(k2, hk) {
					orphans = append(orphans, orphan{hk, from})
				}
			}
			// Skip to the next blob's pages.
			k, _ = c.Seek(append(bytes.Clone(hk), 0xff, 0xff, 0xff, 0xff))
			if k != nil && bytes.HasPrefix(k, hk) {
				k, _ = c.Next()
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("media: cleanup pages: %w", err)
	}
	for _, o := range orphans {
		unlock, ok := s.locks.tryLock(hex.EncodeToString(o.hk))
		if !ok {
			continue // a Complete is writing these pages
		}
		n := 0
		err := s.updateFree(ctx, func(_ *bolt.Tx, b buckets) error {
			n = 0
			r, err := s.readBlob(b.blobs, o.hk)
			if err != nil {
				return err
			}
			from := 0
			if r != nil {
				from = r.Pages
			}
			c := b.pages.Cursor()
			for k, _ := c.Seek(pageKey(o.hk, from)); k != nil && bytes.HasPrefix(k, o.hk); k, _ = c.Next() {
				n++
			}
			return deletePagesFrom(b.pages, o.hk, from)
		})
		unlock()
		if err != nil {
			return fmt.Errorf("media: cleanup pages: %w", err)
		}
		st.OrphanPages += n
	}
	return nil
}
