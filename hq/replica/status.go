package replica

import (
	"context"
	"fmt"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// ApplyStatus records a store's presence (its retained status on HQ's
// broker) received at `received` by HQ's clock: last_seen is that time,
// clock_skew_ms the difference to the status's own time. A status older
// than the newest applied one changes nothing. A Last Will (Online false,
// its time the start of the connection it belonged to) sets the store
// offline only if that connection is not older than the current online
// run; its other fields (zero) are not recorded. The run starts at the
// status's Since (when its connection began, the time its Will carries),
// or at its TS from a store that does not say: so after a quick
// reconnect, the old connection's Will, published late by the broker,
// leaves the store online. The first status from a clock set from a time
// source after statuses from one that was not always applies: the times
// before were the unset clock's, maybe ahead of the real one.
func (r *Replica) ApplyStatus(ctx context.Context, store string, st proto.StoreStatus, received time.Time) error {
	if store == "" {
		return fmt.Errorf("%w: status without store", ErrBadMessage)
	}
	if st.Store != "" && st.Store != store {
		return fmt.Errorf("%w: status of %q on the topic of %q", ErrBadMessage, st.Store, store)
	}
	if st.TS.IsZero() {
		return fmt.Errorf("%w: status without ts", ErrBadMessage)
	}
	if !st.Online && st.Epoch == "" && st.Version == "" && st.Backlog == 0 && st.Errors == 0 && st.OldestAt == nil {
		_, err := r.pool.Exec(ctx, `INSERT INTO stores (store, online, status_at) VALUES ($1, false, $2)
			ON CONFLICT (store) DO UPDATE SET online = false
			WHERE stores.online AND (stores.online_since IS NULL OR $2 >= stores.online_since)`, store, st.TS)
		if err != nil {
			return fmt.Errorf("replica: status %s: %w", store, err)
		}
		return nil
	}
	skew := received.Sub(st.TS).Milliseconds()
	_, err := r.pool.Exec(ctx, `INSERT INTO stores (store, epoch, version, online, status_at, last_seen, backlog,
			backlog_bytes, oldest_at, clock_skew_ms, last_error, errors, online_since, clock_synced)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $4 THEN COALESCE($13::timestamptz, $5::timestamptz) END, $14)
		ON CONFLICT (store) DO UPDATE SET
		  epoch = COALESCE(NULLIF(excluded.epoch, ''), stores.epoch),
		  version = COALESCE(NULLIF(excluded.version, ''), stores.version),
		  online = excluded.online, status_at = excluded.status_at, last_seen = excluded.last_seen,
		  backlog = excluded.backlog, backlog_bytes = excluded.backlog_bytes, oldest_at = excluded.oldest_at,
		  clock_skew_ms = excluded.clock_skew_ms, last_error = excluded.last_error, errors = excluded.errors,
		  clock_synced = excluded.clock_synced,
		  online_since = CASE WHEN NOT excluded.online THEN NULL
		    WHEN $13::timestamptz IS NOT NULL THEN $13::timestamptz
		    WHEN stores.online AND stores.online_since IS NOT NULL THEN stores.online_since
		    ELSE excluded.status_at END
		WHERE stores.status_at IS NULL OR excluded.status_at >= stores.status_at
		  OR (excluded.clock_synced AND stores.clock_synced IS DISTINCT FROM true)`,
		store, st.Epoch, st.Version, st.Online, st.TS, received, st.Backlog, st.BacklogBytes, st.OldestAt,
		skew, st.LastError, int64(st.Errors), st.Since, st.ClockSynced)
	if err != nil {
		return fmt.Errorf("replica: status %s: %w", store, err)
	}
	return nil
}

// PruneSeen forgets the (store, origin) pairs seen before olderThan ago and
// returns how many. A store resends at most what its outbox still keeps,
// so the pairs need to outlive the longest outage a store's outbox rides
// out (ingest.seen_keep).
func (r *Replica) PruneSeen(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM seen WHERE at < now() - $1::interval`, olderThan)
	if err != nil {
		return 0, fmt.Errorf("replica: prune seen: %w", err)
	}
	return tag.RowsAffected(), nil
}
