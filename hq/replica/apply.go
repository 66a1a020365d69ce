package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/proto"
)

// TopicHandler applies the uplink messages of a local topic the replica
// does not apply itself (Options.Handlers). It runs inside the message's
// transaction, after deduplication and in stream order; an error rolls the
// whole transaction back (an error wrapping ErrBadMessage instead skips
// the message: it would fail the same way forever).
type TopicHandler interface {
	ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error
}

// ErrBadMessage marks a message that can never apply: not an uplink
// message, a payload that does not decode, a value the database refuses.
// The consumer acknowledges it and counts it; the replica records it as
// seen and moves its stream past it.
var ErrBadMessage = errors.New("replica: bad message")

// Outcome says what Apply did with a message.
type Outcome struct {
	// Applied: the message was applied now.
	Applied bool
	// Duplicate: the (store, origin) was seen before; nothing changed.
	Duplicate bool
	// Stale: its stream had already moved past its sseq (a range given up
	// after a "gone" answer); recorded as seen, nothing else changed.
	Stale bool
	// Parked: it is ahead of a gap and waits in table parked.
	Parked bool
	// Drained is how many parked successors applied after it.
	Drained int
	// Rejected lists the messages of this transaction (the message or
	// drained ones) skipped as bad, each wrapping ErrBadMessage.
	Rejected []error
	// Unhandled lists the local topics applied without a handler.
	Unhandled []string
	// Snapshot is set when a "gone" answer made the replica skip a range:
	// a snapshot request waits in resync_requests (status pending) for the
	// consumer to send.
	Snapshot bool
}

// maxRejectRetries bounds how many bad messages one Apply skips before it
// gives up (each costs a retried transaction).
const maxRejectRetries = 16

// badError is a bad message found inside a transaction, named by origin
// so the retried transaction can skip it.
type badError struct {
	origin string
	err    error
}

func (e *badError) Error() string { return e.err.Error() }
func (e *badError) Unwrap() error { return e.err }

func bad(origin string, format string, a ...any) error {
	return &badError{origin: origin, err: fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, a...))}
}

// Apply applies one uplink message in one transaction: each (store,
// origin) once, the streams chat and booking in sseq order per (store,
// epoch, stream) (a message ahead of a gap is parked; the one that fills
// the gap drains its parked successors), other messages directly. When
// Apply returns without error the outcome is committed and the message
// may be acknowledged. A message that can never apply returns an error
// wrapping ErrBadMessage (nothing of it applied, its stream moved on);
// any other error is the database's: retry later.
func (r *Replica) Apply(ctx context.Context, m hq.Message) (Outcome, error) {
	if err := checkMessage(m); err != nil {
		return Outcome{}, err
	}
	skip := map[string]error{}
	for range maxRejectRetries {
		var out Outcome
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			var err error
			out, err = r.applyTx(ctx, tx, m, skip)
			return err
		})
		var be *badError
		if errors.As(err, &be) {
			if _, again := skip[be.origin]; again {
				return Outcome{}, fmt.Errorf("replica: %s: %w", m.Origin, err)
			}
			skip[be.origin] = be.err
			continue
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("replica: apply %s %s: %w", m.Store, m.Origin, err)
		}
		r.noteUnhandled(out.Unhandled)
		if e, ok := skip[m.Origin]; ok {
			// The message itself was bad: not applied, and reported as
			// the error rather than among the rejected.
			out.Applied = false
			for i, r := range out.Rejected {
				if r == e {
					out.Rejected = append(out.Rejected[:i], out.Rejected[i+1:]...)
					break
				}
			}
			return out, e
		}
		return out, nil
	}
	return Outcome{}, fmt.Errorf("replica: apply %s %s: more than %d bad messages in one transaction", m.Store, m.Origin, maxRejectRetries)
}

// checkMessage refuses what is not an uplink message at all.
func checkMessage(m hq.Message) error {
	switch {
	case m.Store == "" || m.Origin == "":
		return fmt.Errorf("%w: no store or origin", ErrBadMessage)
	case m.LocalTopic == "":
		return fmt.Errorf("%w: topic %q is not under stores/%s/up/", ErrBadMessage, m.Topic, m.Store)
	case m.SSeq > 0 && m.Stream == "":
		return fmt.Errorf("%w: sseq without a stream", ErrBadMessage)
	case m.SSeq > 1<<62:
		return fmt.Errorf("%w: sseq %d out of range", ErrBadMessage, m.SSeq)
	case m.Seq > 1<<62:
		return fmt.Errorf("%w: seq %d out of range", ErrBadMessage, m.Seq)
	}
	return nil
}

func (r *Replica) applyTx(ctx context.Context, tx pgx.Tx, m hq.Message, skip map[string]error) (Outcome, error) {
	var out Outcome
	if m.SSeq == 0 {
		fresh, err := markSeen(ctx, tx, m.Store, m.Origin)
		if err != nil || !fresh {
			out.Duplicate = !fresh
			return out, err
		}
		if err := r.applyOne(ctx, tx, m, skip, &out); err != nil {
			return out, err
		}
		out.Applied = true
		return out, nil
	}
	applied, err := lockStream(ctx, tx, m.Store, m.Epoch, m.Stream)
	if err != nil {
		return out, err
	}
	fresh, err := markSeen(ctx, tx, m.Store, m.Origin)
	if err != nil || !fresh {
		out.Duplicate = !fresh
		return out, err
	}
	if _, isBad := skip[m.Origin]; m.LocalTopic == proto.TopicSyncAnswer && !isBad {
		// An answer acts when it arrives, not in its stream's order: it
		// may be about a gap in its own stream, which would park it
		// behind the very gap it resolves.
		if err := r.answerResync(ctx, tx, m, skip, &out); err != nil {
			return out, err
		}
		if applied, err = streamApplied(ctx, tx, m.Store, m.Epoch, m.Stream); err != nil {
			return out, err
		}
	}
	switch {
	case m.SSeq <= applied:
		out.Stale = true
		return out, nil
	case m.SSeq > applied+1:
		out.Parked = true
		return out, park(ctx, tx, m)
	}
	if err := r.applyOne(ctx, tx, m, skip, &out); err != nil {
		return out, err
	}
	out.Applied = true
	n, err := r.drain(ctx, tx, m.Store, m.Epoch, m.Stream, m.SSeq, skip, &out)
	out.Drained += n
	return out, err
}

// lockStream makes the (store, epoch, stream) row if new (and the store's
// and epoch's rows with it) and locks it for the transaction: one
// stream's messages apply one at a time, whichever instance has them.
func lockStream(ctx context.Context, tx pgx.Tx, store, epoch, stream string) (uint64, error) {
	var applied int64
	err := tx.QueryRow(ctx, `SELECT applied FROM streams WHERE store = $1 AND epoch = $2 AND stream = $3 FOR UPDATE`,
		store, epoch, stream).Scan(&applied)
	if errors.Is(err, pgx.ErrNoRows) {
		tag, err := tx.Exec(ctx, `INSERT INTO streams (store, epoch, stream) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			store, epoch, stream)
		if err != nil {
			return 0, fmt.Errorf("stream: %w", err)
		}
		if tag.RowsAffected() == 1 {
			if err := ensureStore(ctx, tx, store, epoch); err != nil {
				return 0, err
			}
		}
		err = tx.QueryRow(ctx, `SELECT applied FROM streams WHERE store = $1 AND epoch = $2 AND stream = $3 FOR UPDATE`,
			store, epoch, stream).Scan(&applied)
		if err != nil {
			return 0, fmt.Errorf("stream: %w", err)
		}
		return uint64(applied), nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream: %w", err)
	}
	return uint64(applied), nil
}

func streamApplied(ctx context.Context, tx pgx.Tx, store, epoch, stream string) (uint64, error) {
	var applied int64
	err := tx.QueryRow(ctx, `SELECT applied FROM streams WHERE store = $1 AND epoch = $2 AND stream = $3`,
		store, epoch, stream).Scan(&applied)
	if err != nil {
		return 0, fmt.Errorf("stream: %w", err)
	}
	return uint64(applied), nil
}

// ensureStore makes the store's row and its epoch's row if they are new.
func ensureStore(ctx context.Context, tx pgx.Tx, store, epoch string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO stores (store, epoch) VALUES ($1, $2) ON CONFLICT DO NOTHING`, store, epoch); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if epoch != "" {
		if _, err := tx.Exec(ctx, `INSERT INTO store_epochs (store, epoch) VALUES ($1, $2) ON CONFLICT DO NOTHING`, store, epoch); err != nil {
			return fmt.Errorf("store epoch: %w", err)
		}
	}
	return nil
}

// markSeen records (store, origin); false if it was there already.
func markSeen(ctx context.Context, tx pgx.Tx, store, origin string) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO seen (store, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING`, store, origin)
	if err != nil {
		return false, fmt.Errorf("seen: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// park keeps a message that is ahead of a gap; the stream's gap_since
// starts when the first one is parked.
func park(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	_, err := tx.Exec(ctx, `INSERT INTO parked (store, epoch, stream, sseq, topic, origin, seq, stored, payload)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		m.Store, m.Epoch, m.Stream, int64(m.SSeq), m.Topic, m.Origin, int64(m.Seq), nullTime(m.Stored), m.Payload)
	if err != nil {
		return fmt.Errorf("park: %w", err)
	}
	_, err = tx.Exec(ctx, `UPDATE streams SET gap_since = COALESCE(gap_since, now())
		WHERE store = $1 AND epoch = $2 AND stream = $3`, m.Store, m.Epoch, m.Stream)
	if err != nil {
		return fmt.Errorf("park: %w", err)
	}
	return nil
}

// drain applies the parked successors of sseq `from` that follow without
// a gap, and records where the stream now stands.
func (r *Replica) drain(ctx context.Context, tx pgx.Tx, store, epoch, stream string, from uint64,
	skip map[string]error, out *Outcome) (int, error) {
	rows, err := tx.Query(ctx, `SELECT sseq, topic, origin, seq, stored, payload FROM parked
		WHERE store = $1 AND epoch = $2 AND stream = $3 AND sseq > $4 ORDER BY sseq`,
		store, epoch, stream, int64(from))
	if err != nil {
		return 0, fmt.Errorf("drain: %w", err)
	}
	var next []hq.Message
	for rows.Next() {
		var sseq, seq int64
		var stored *time.Time
		p := hq.Message{Store: store, Epoch: epoch, Stream: stream}
		if err := rows.Scan(&sseq, &p.Topic, &p.Origin, &seq, &stored, &p.Payload); err != nil {
			rows.Close()
			return 0, fmt.Errorf("drain: %w", err)
		}
		p.SSeq, p.Seq = uint64(sseq), uint64(seq)
		if stored != nil {
			p.Stored = *stored
		}
		p.LocalTopic = strings.TrimPrefix(p.Topic, "stores/"+store+"/up/")
		next = append(next, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("drain: %w", err)
	}
	at, n := from, 0
	for _, p := range next {
		if p.SSeq != at+1 {
			break
		}
		if err := r.applyOne(ctx, tx, p, skip, out); err != nil {
			return n, err
		}
		at, n = p.SSeq, n+1
	}
	if n > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM parked WHERE store = $1 AND epoch = $2 AND stream = $3 AND sseq <= $4`,
			store, epoch, stream, int64(at)); err != nil {
			return n, fmt.Errorf("drain: %w", err)
		}
	}
	// gap_since: when the oldest message still parked arrived (the gap
	// before it has been waited for since then), or none.
	_, err = tx.Exec(ctx, `UPDATE streams SET applied = $4,
		gap_since = (SELECT min(received) FROM parked WHERE store = $1 AND epoch = $2 AND stream = $3)
		WHERE store = $1 AND epoch = $2 AND stream = $3`, store, epoch, stream, int64(at))
	if err != nil {
		return n, fmt.Errorf("stream: %w", err)
	}
	return n, nil
}

// applyOne applies one message's payload by its local topic. A message
// in skip (found bad in an earlier try) applies nothing.
func (r *Replica) applyOne(ctx context.Context, tx pgx.Tx, m hq.Message, skip map[string]error, out *Outcome) error {
	if e, ok := skip[m.Origin]; ok {
		out.Rejected = append(out.Rejected, e)
		return nil
	}
	err := r.applyTopic(ctx, tx, m, out)
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")) {
		// Data exception or integrity violation: the values of this
		// message, not the database, are at fault.
		return bad(m.Origin, "%s: %v", m.LocalTopic, err)
	}
	if errors.Is(err, ErrBadMessage) {
		var be *badError
		if !errors.As(err, &be) {
			return &badError{origin: m.Origin, err: err}
		}
	}
	return err
}

func (r *Replica) applyTopic(ctx context.Context, tx pgx.Tx, m hq.Message, out *Outcome) error {
	local := m.LocalTopic
	if h, ok := r.handlers[local]; ok {
		return h.ApplyUplink(ctx, tx, m)
	}
	switch {
	case strings.HasPrefix(local, "chat/") && strings.HasSuffix(local, "/hq"):
		return r.applyChat(ctx, tx, m)
	case local == "booking/changes":
		return applyChange(ctx, tx, m)
	case local == "booking/hq/outcome":
		return applyOutcome(ctx, tx, m)
	case local == "audit/entries":
		return applyAudit(ctx, tx, m)
	case local == proto.TopicShopInfo:
		return applyShopInfo(ctx, tx, m)
	case local == proto.TopicHello:
		return applyHello(ctx, tx, m)
	case local == proto.TopicSyncAnswer:
		return nil // acted on when it arrived (answerResync)
	case strings.HasPrefix(local, proto.TopicMediaPrefix):
		return applyMedia(ctx, tx, m)
	case strings.HasPrefix(local, "devices/") && strings.HasSuffix(local, "/status"):
		return applyDeviceStatus(ctx, tx, m)
	case strings.HasPrefix(local, "devices/") && strings.HasSuffix(local, "/telemetry"):
		return applyTelemetry(ctx, tx, m)
	}
	out.Unhandled = append(out.Unhandled, local)
	return nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
