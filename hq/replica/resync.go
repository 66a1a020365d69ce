package replica

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/proto"
)

// Resync request states in resync_requests.status besides the answers'
// (proto.ResyncResent, ResyncGone, ResyncSnapshot).
const (
	ResyncPending = "pending" // made, not yet sent
	ResyncAsked   = "asked"   // sent, no answer yet
	ResyncExpired = "expired" // not answered in time; a newer request replaced it
)

// Gap is a hole in a stream: messages after it are parked.
type Gap struct {
	Store, Epoch, Stream string
	From, To             uint64    // the missing sseqs
	Since                time.Time // when the first message after it was parked
	// Current: Epoch is the store's current epoch (only it can send the
	// range again).
	Current bool
}

// Gaps lists the gaps that have waited longer than olderThan.
func (r *Replica) Gaps(ctx context.Context, olderThan time.Duration) ([]Gap, error) {
	rows, err := r.pool.Query(ctx, `SELECT s.store, s.epoch, s.stream, s.applied, s.gap_since,
		  (SELECT min(sseq) FROM parked p WHERE p.store = s.store AND p.epoch = s.epoch AND p.stream = s.stream),
		  COALESCE(st.epoch, '')
		FROM streams s LEFT JOIN stores st ON st.store = s.store
		WHERE s.gap_since IS NOT NULL AND s.gap_since < now() - $1::interval
		ORDER BY s.gap_since`, olderThan)
	if err != nil {
		return nil, fmt.Errorf("replica: gaps: %w", err)
	}
	defer rows.Close()
	var gaps []Gap
	for rows.Next() {
		var g Gap
		var applied int64
		var first *int64
		var current string
		if err := rows.Scan(&g.Store, &g.Epoch, &g.Stream, &applied, &g.Since, &first, &current); err != nil {
			return nil, fmt.Errorf("replica: gaps: %w", err)
		}
		if first == nil || *first <= applied+1 {
			continue // drained meanwhile
		}
		g.From, g.To = uint64(applied)+1, uint64(*first)-1
		g.Current = current == "" || current == g.Epoch
		gaps = append(gaps, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replica: gaps: %w", err)
	}
	return gaps, nil
}

// SkipGap gives up the sseqs of a stream up to `to` (recorded in
// stream_skips), applies the parked messages that then follow without a
// gap, and queues a snapshot request for the store (PendingResyncs).
func (r *Replica) SkipGap(ctx context.Context, store, epoch, stream string, to uint64) (Outcome, error) {
	var out Outcome
	skip := map[string]error{}
	for range maxRejectRetries {
		out = Outcome{}
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			if _, err := lockStream(ctx, tx, store, epoch, stream); err != nil {
				return err
			}
			return r.skipTo(ctx, tx, store, epoch, stream, to, skip, &out)
		})
		var be *badError
		if errors.As(err, &be) {
			skip[be.origin] = be.err
			continue
		}
		if err != nil {
			return out, fmt.Errorf("replica: skip gap %s/%s/%s: %w", store, epoch, stream, err)
		}
		r.noteUnhandled(out.Unhandled)
		return out, nil
	}
	return out, fmt.Errorf("replica: skip gap %s/%s/%s: too many bad messages", store, epoch, stream)
}

// skipTo moves a locked stream past the missing sseqs up to `to` (never
// past a parked message), drains, and queues a snapshot request.
func (r *Replica) skipTo(ctx context.Context, tx pgx.Tx, store, epoch, stream string, to uint64,
	skip map[string]error, out *Outcome) error {
	var applied int64
	var first *int64
	err := tx.QueryRow(ctx, `SELECT applied, (SELECT min(sseq) FROM parked p WHERE p.store = s.store AND p.epoch = s.epoch AND p.stream = s.stream)
		FROM streams s WHERE store = $1 AND epoch = $2 AND stream = $3`, store, epoch, stream).Scan(&applied, &first)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if first != nil && uint64(*first) <= to {
		to = uint64(*first) - 1
	}
	if to <= uint64(applied) {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO stream_skips (store, epoch, stream, from_sseq, to_sseq) VALUES ($1, $2, $3, $4, $5)`,
		store, epoch, stream, applied+1, int64(to)); err != nil {
		return fmt.Errorf("skip: %w", err)
	}
	n, err := r.drain(ctx, tx, store, epoch, stream, to, skip, out)
	out.Drained += n
	if err != nil {
		return err
	}
	out.Snapshot = true
	return queueSnapshot(ctx, tx, store, epoch)
}

// queueSnapshot makes a pending snapshot request unless one is open.
func queueSnapshot(ctx context.Context, tx pgx.Tx, store, epoch string) error {
	_, err := tx.Exec(ctx, `INSERT INTO resync_requests (id, store, epoch, snapshot, status)
		SELECT $1, $2, $3, true, $4
		WHERE NOT EXISTS (SELECT 1 FROM resync_requests WHERE store = $2 AND snapshot AND status IN ($4, $5))`,
		newID(), store, epoch, ResyncPending, ResyncAsked)
	if err != nil {
		return fmt.Errorf("snapshot request: %w", err)
	}
	return nil
}

// answerResync records a store's answer to a resync request; a "gone"
// range is skipped (skipTo).
func (r *Replica) answerResync(ctx context.Context, tx pgx.Tx, m hq.Message, skip map[string]error, out *Outcome) error {
	var a proto.ResyncAnswer
	if err := decode(m, &a); err != nil {
		return err
	}
	if a.ID == "" {
		return bad(m.Origin, "resync answer without id")
	}
	var epoch, stream string
	var to *int64
	var snapshot bool
	err := tx.QueryRow(ctx, `UPDATE resync_requests SET status = $3, answered_at = now()
		WHERE id = $1 AND store = $2 RETURNING epoch, stream, to_sseq, snapshot`, a.ID, m.Store, a.Status).
		Scan(&epoch, &stream, &to, &snapshot)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // not a request of the replica's: recorded by its sender, if anyone
	}
	if err != nil {
		return fmt.Errorf("resync answer: %w", err)
	}
	if a.Status != proto.ResyncGone || snapshot || stream == "" || to == nil {
		return nil
	}
	if epoch == "" {
		epoch = m.Epoch
	}
	if _, err := lockStream(ctx, tx, m.Store, epoch, stream); err != nil {
		return err
	}
	return r.skipTo(ctx, tx, m.Store, epoch, stream, uint64(*to), skip, out)
}

// Resync is a request to send to a store.
type Resync struct {
	Store string
	proto.ResyncRequest
}

// resyncSweepLock is the advisory lock of PlanResyncs: one instance plans
// at a time ("hqsync").
const resyncSweepLock = 0x6871_7379_6e63

// PlanResyncs first drains the streams a deferral left stuck (Stuck), then
// turns the gaps older than wait into requests: a gap of the
// store's current epoch gets a range request (unless one was asked less
// than wait ago; an older unanswered one expires and is replaced); a gap
// of an older epoch (a box replaced or restored: nothing can send it
// again) is skipped and a snapshot requested. Unanswered snapshot
// requests older than wait are sent again (same id). It returns every
// pending request, marked asked: the caller sends them (and calls
// Unsend for those it could not).
func (r *Replica) PlanResyncs(ctx context.Context, wait time.Duration) ([]Resync, error) {
	stuck, err := r.Stuck(ctx)
	if err != nil {
		return nil, err
	}
	if len(stuck) > 0 {
		if _, err := r.Nudge(ctx, stuck...); err != nil {
			return nil, err
		}
	}
	gaps, err := r.Gaps(ctx, wait)
	if err != nil {
		return nil, err
	}
	for _, g := range gaps {
		if !g.Current {
			if _, err := r.SkipGap(ctx, g.Store, g.Epoch, g.Stream, g.To); err != nil {
				return nil, err
			}
		}
	}
	var out []Resync
	err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", int64(resyncSweepLock)).Scan(&got); err != nil {
			return err
		}
		if !got {
			return nil // another instance is planning
		}
		for _, g := range gaps {
			if !g.Current {
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE resync_requests SET status = $5
				WHERE store = $1 AND epoch = $2 AND stream = $3 AND status = $4 AND asked_at < now() - $6::interval`,
				g.Store, g.Epoch, g.Stream, ResyncAsked, ResyncExpired, wait); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO resync_requests (id, store, epoch, stream, from_sseq, to_sseq, status)
				SELECT $1, $2, $3, $4, $5, $6, $7
				WHERE NOT EXISTS (SELECT 1 FROM resync_requests WHERE store = $2 AND epoch = $3 AND stream = $4
				  AND status IN ($7, $8))`,
				newID(), g.Store, g.Epoch, g.Stream, int64(g.From), int64(g.To), ResyncPending, ResyncAsked); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE resync_requests SET status = $1
			WHERE snapshot AND status = $2 AND asked_at < now() - $3::interval`, ResyncPending, ResyncAsked, wait); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE resync_requests SET status = $2, asked_at = now() WHERE status = $1
			RETURNING id, store, stream, COALESCE(from_sseq, 0), COALESCE(to_sseq, 0), snapshot`, ResyncPending, ResyncAsked)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var q Resync
			var from, to int64
			if err := rows.Scan(&q.ID, &q.Store, &q.Stream, &from, &to, &q.Snapshot); err != nil {
				return err
			}
			q.V, q.From, q.To = 1, uint64(from), uint64(to)
			out = append(out, q)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("replica: plan resyncs: %w", err)
	}
	return out, nil
}

// Unsend puts a request PlanResyncs returned back to pending: it could not
// be sent.
func (r *Replica) Unsend(ctx context.Context, id string) error {
	_, err := r.pool.Exec(ctx, `UPDATE resync_requests SET status = $2 WHERE id = $1 AND status = $3`, id, ResyncPending, ResyncAsked)
	if err != nil {
		return fmt.Errorf("replica: unsend %s: %w", id, err)
	}
	return nil
}

// newID is a random request id.
func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// StreamKey names one stream of one epoch of a store.
type StreamKey struct{ Store, Epoch, Stream string }

// Nudge drains streams: it waits for each stream's lock (in one
// transaction, in key order), then applies the parked messages that follow
// its applied sseq without a gap. A message parked because another
// transaction held its stream (Outcome.Deferred) applies this way. The
// outcome of each stream is in the order of keys.
func (r *Replica) Nudge(ctx context.Context, keys ...StreamKey) ([]Outcome, error) {
	sorted := append([]StreamKey(nil), keys...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Store != b.Store {
			return a.Store < b.Store
		}
		if a.Epoch != b.Epoch {
			return a.Epoch < b.Epoch
		}
		return a.Stream < b.Stream
	})
	skip := map[string]error{}
	for range maxRejectRetries {
		outs := map[StreamKey]*Outcome{}
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			for _, k := range sorted {
				out := &Outcome{}
				outs[k] = out
				a, err := lockStream(ctx, tx, k.Store, k.Epoch, k.Stream)
				if err != nil {
					return err
				}
				n, err := r.drain(ctx, tx, k.Store, k.Epoch, k.Stream, a, skip, out)
				out.Drained += n
				if err != nil {
					return err
				}
			}
			return nil
		})
		var be *badError
		if errors.As(err, &be) {
			skip[be.origin] = be.err
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("replica: nudge: %w", err)
		}
		res := make([]Outcome, len(keys))
		for i, k := range keys {
			res[i] = *outs[k]
			r.noteUnhandled(res[i].Unhandled)
		}
		return res, nil
	}
	return nil, fmt.Errorf("replica: nudge: more than %d bad messages", maxRejectRetries)
}

// Stuck lists the streams whose parked messages could drain now (the next
// one is parked) or whose gap clock is not running: what a deferral left
// behind when its instance stopped before draining.
func (r *Replica) Stuck(ctx context.Context) ([]StreamKey, error) {
	rows, err := r.pool.Query(ctx, `SELECT p.store, p.epoch, p.stream FROM parked p
		JOIN streams s ON s.store = p.store AND s.epoch = p.epoch AND s.stream = p.stream
		GROUP BY p.store, p.epoch, p.stream, s.applied, s.gap_since
		HAVING min(p.sseq) <= s.applied + 1 OR s.gap_since IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("replica: stuck streams: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByPos[StreamKey])
	if err != nil {
		return nil, fmt.Errorf("replica: stuck streams: %w", err)
	}
	return keys, nil
}
