package media

import (
	"context"
	"time"

	"github.com/storeedge/storeedge/broker/blob"
)

// Run calls the media store's Cleanup at once and then every every (≤ 0:
// DefaultCleanupInterval) until ctx is done: expired uploads, blobs nobody
// referenced within the upload TTL and orphaned pages go. Errors are logged,
// and the next round tries again. Run it in its own goroutine.
func (s *Service) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultCleanupInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for ctx.Err() == nil {
		s.cleanup(ctx)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

func (s *Service) cleanup(ctx context.Context) {
	st, err := s.o.Media.Cleanup(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("media: cleanup failed; trying again next round", "error", err,
			"uploads", st.Uploads, "blobs", st.Blobs, "orphan_pages", st.OrphanPages, "unreadable", st.Unreadable)
	case err == nil && st != (blob.CleanupStats{}):
		s.log.Info("media: cleanup", "uploads", st.Uploads, "blobs", st.Blobs,
			"orphan_pages", st.OrphanPages, "unreadable", st.Unreadable)
	}
	if s.afterCleanup != nil {
		s.afterCleanup(st, err)
	}
}
