package replica

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
	// Deferred: parked because another transaction was applying its
	// stream; ApplyBatch drained the stream after its commit (Drained
	// counts what that applied).
	Deferred bool
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

// maxRejectRetries bounds how many bad messages SkipGap skips before it
// gives up (each costs a retried transaction).
const maxRejectRetries = 16

// badError is a bad message found inside a transaction, named by its
// skipKey so the retried transaction can skip it.
type badError struct {
	origin string // skipKey of the message
	err    error
}

func (e *badError) Error() string { return e.err.Error() }
func (e *badError) Unwrap() error { return e.err }

func bad(origin string, format string, a ...any) error {
	return &badError{origin: origin, err: fmt.Errorf("%w: %s", ErrBadMessage, fmt.Sprintf(format, a...))}
}

// skipKey names a message among those of many stores.
func skipKey(m hq.Message) string { return m.Store + "\x00" + m.Origin }

// Apply applies one uplink message in one transaction: each (store,
// origin) once, the streams chat and booking in sseq order per (store,
// epoch, stream) (a message ahead of a gap is parked; the one that fills
// the gap drains its parked successors), other messages directly. When
// Apply returns without error the outcome is committed and the message
// may be acknowledged. A message that can never apply returns an error
// wrapping ErrBadMessage (nothing of it applied, its stream moved on):
// acknowledge it too. Any other error is the database's: retry later.
func (r *Replica) Apply(ctx context.Context, m hq.Message) (Outcome, error) {
	res, err := r.ApplyBatch(ctx, []hq.Message{m})
	if err != nil {
		return Outcome{}, err
	}
	return res[0].Outcome, res[0].Err
}

// Result is one message's part of ApplyBatch.
type Result struct {
	Outcome
	// Err wraps ErrBadMessage when the message can never apply (it is
	// recorded as seen and its stream moved past it).
	Err error
}

// ApplyBatch applies messages (of any stores) in one transaction, each as
// Apply would: one commit for all of them, so all may be acknowledged
// when it returns without error, and none when it fails. The messages of
// one stream apply in the order given; messages of different streams may
// apply in another order (their locks are taken in one order, so that
// instances applying batches at once do not deadlock).
func (r *Replica) ApplyBatch(ctx context.Context, ms []hq.Message) ([]Result, error) {
	res, _, err := r.applyBatch(ctx, ms, true)
	return res, err
}

// ApplyBatchLater is ApplyBatch without the wait for other transactions:
// it returns the streams of the messages it parked because another
// transaction was applying them (Outcome.Deferred), for the caller to
// Nudge later (after acknowledging: the messages are committed).
func (r *Replica) ApplyBatchLater(ctx context.Context, ms []hq.Message) ([]Result, []StreamKey, error) {
	return r.applyBatch(ctx, ms, false)
}

func (r *Replica) applyBatch(ctx context.Context, ms []hq.Message, nudge bool) ([]Result, []StreamKey, error) {
	res := make([]Result, len(ms))
	var idx []int
	for i, m := range ms {
		if err := checkMessage(m); err != nil {
			res[i].Err = err
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return res, nil, nil
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := ms[idx[a]], ms[idx[b]]
		if x.Store != y.Store {
			return x.Store < y.Store
		}
		if x.Epoch != y.Epoch {
			return x.Epoch < y.Epoch
		}
		return x.Stream < y.Stream
	})
	skip := map[string]error{}
	outs := make([]Outcome, len(ms))
	// First without savepoints; when a message turns out bad, again with
	// a savepoint per message, skipping the bad ones.
	for _, careful := range []bool{false, true} {
		clear(outs)
		err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			if !careful {
				return r.applyBatchFast(ctx, tx, ms, idx, skip, outs)
			}
			for _, i := range idx {
				o, err := r.applyMessage(ctx, tx, ms[i], skip)
				if err != nil {
					return err
				}
				outs[i] = o
			}
			return nil
		})
		var be *badError
		if !careful && errors.As(err, &be) {
			skip[be.origin] = be.err
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("replica: apply: %w", err)
		}
		break
	}
	// Streams another transaction was applying: drain what was parked
	// for them, now that this transaction has committed (waiting for the
	// other one to end), or leave it to the caller.
	var keys []StreamKey
	first := map[StreamKey]int{}
	for _, i := range idx {
		if outs[i].Deferred {
			k := StreamKey{ms[i].Store, ms[i].Epoch, ms[i].Stream}
			if _, ok := first[k]; !ok {
				first[k] = i
				keys = append(keys, k)
			}
		}
	}
	if nudge && len(keys) > 0 {
		nudged, err := r.Nudge(ctx, keys...)
		if err != nil {
			return nil, nil, err
		}
		for j, k := range keys {
			o := nudged[j]
			i := first[k]
			outs[i].Drained += o.Drained
			outs[i].Rejected = append(outs[i].Rejected, o.Rejected...)
			outs[i].Unhandled = append(outs[i].Unhandled, o.Unhandled...)
			outs[i].Snapshot = outs[i].Snapshot || o.Snapshot
		}
		keys = nil
	}
	for _, i := range idx {
		o := outs[i]
		if e, ok := skip[skipKey(ms[i])]; ok {
			// The message itself was bad: not applied, and reported as its
			// error rather than among the rejected.
			o.Applied = false
			for j, r := range o.Rejected {
				if r == e {
					o.Rejected = append(o.Rejected[:j], o.Rejected[j+1:]...)
					break
				}
			}
			res[i].Err = e
		}
		r.noteUnhandled(o.Unhandled)
		res[i].Outcome = o
	}
	return res, keys, nil
}

// applyMessage applies one message of a batch in a savepoint, skipping
// the bad messages it meets (itself, or parked ones it drains), trying
// again until it applies.
func (r *Replica) applyMessage(ctx context.Context, tx pgx.Tx, m hq.Message, skip map[string]error) (Outcome, error) {
	for {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return Outcome{}, err
		}
		o, err := r.applyTx(ctx, sp, m, skip)
		var be *badError
		if errors.As(err, &be) {
			if rerr := sp.Rollback(ctx); rerr != nil {
				return o, rerr
			}
			if _, again := skip[be.origin]; again {
				return o, fmt.Errorf("%s: %w", m.Origin, err)
			}
			skip[be.origin] = be.err
			continue
		}
		if err != nil {
			_ = sp.Rollback(ctx)
			return o, err
		}
		return o, sp.Commit(ctx)
	}
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

// takeSQL is the ordering step of a message with an sseq (hq_take), seenSQL
// the dedup step of one without.
const (
	takeSQL = `SELECT verdict, applied FROM hq_take($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	seenSQL = `INSERT INTO seen (store, origin) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 'apply', 0::bigint`
)

// takeArgs are the arguments of takeSQL or seenSQL for m.
func takeArgs(m hq.Message, skip map[string]error) (string, []any) {
	if m.SSeq == 0 {
		return seenSQL, []any{m.Store, m.Origin}
	}
	_, isBad := skip[skipKey(m)]
	answer := m.LocalTopic == proto.TopicSyncAnswer && !isBad
	return takeSQL, []any{m.Store, m.Epoch, m.Stream, int64(m.SSeq), m.Origin, m.Topic, int64(m.Seq),
		nullTime(m.Stored), m.Payload, answer}
}

// scanTake reads the verdict of takeSQL or seenSQL (no row: a duplicate).
func scanTake(row pgx.Row) (string, int64, error) {
	var verdict string
	var a int64
	err := row.Scan(&verdict, &a)
	if errors.Is(err, pgx.ErrNoRows) {
		return "duplicate", 0, nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("take: %w", err)
	}
	return verdict, a, nil
}

// applyBatchFast applies a batch in tx with the ordering steps of all its
// messages sent at once (one round trip), then each message's own.
func (r *Replica) applyBatchFast(ctx context.Context, tx pgx.Tx, ms []hq.Message, idx []int, skip map[string]error, outs []Outcome) error {
	b := &pgx.Batch{}
	for _, i := range idx {
		q, args := takeArgs(ms[i], skip)
		b.Queue(q, args...)
	}
	br := tx.SendBatch(ctx, b)
	verdicts := make([]string, len(idx))
	applied := make([]int64, len(idx))
	for k := range idx {
		v, a, err := scanTake(br.QueryRow())
		if err != nil {
			_ = br.Close()
			return err
		}
		verdicts[k], applied[k] = v, a
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("take: %w", err)
	}
	// Messages next in line on a topic the replica applies itself queue
	// their statements; the queue goes in one round trip before anything
	// that must run on its own (a drain, an answer, a handler).
	q := &pgx.Batch{}
	var owners []int // the message (index into ms) of each queued statement
	flush := func() error {
		if q.Len() == 0 {
			return nil
		}
		br := tx.SendBatch(ctx, q)
		for _, i := range owners {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return dataError(ms[i], err)
			}
		}
		q, owners = &pgx.Batch{}, owners[:0]
		return br.Close()
	}
	for k, i := range idx {
		m := ms[i]
		switch verdicts[k] {
		case "duplicate":
			outs[i] = Outcome{Duplicate: true}
			continue
		case "stale":
			outs[i] = Outcome{Stale: true}
			continue
		case "parked":
			outs[i] = Outcome{Parked: true}
			queueParkedMark(q, &owners, i, m)
			continue
		case "deferred":
			outs[i] = Outcome{Parked: true, Deferred: true}
			queueParkedMark(q, &owners, i, m)
			continue
		case "apply":
			if _, isBad := skip[skipKey(m)]; !isBad {
				p, known, err := r.planTopic(m)
				if err != nil {
					return keyed(m, err)
				}
				if known {
					for _, st := range p.stmts {
						q.Queue(st.sql, st.args...)
						owners = append(owners, i)
					}
					outs[i] = Outcome{Applied: true}
					continue
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		o, err := r.finish(ctx, tx, m, verdicts[k], uint64(applied[k]), skip)
		if err != nil {
			return err
		}
		outs[i] = o
	}
	return flush()
}

// dataError makes a database error of m's statements a bad message when the
// values are at fault (data exception, integrity violation).
func dataError(m hq.Message, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")) {
		return bad(skipKey(m), "%s: %v", m.LocalTopic, err)
	}
	return fmt.Errorf("%s: %w", m.LocalTopic, err)
}

// keyed names a bad message's error by m's skipKey.
func keyed(m hq.Message, err error) error {
	var be *badError
	if errors.As(err, &be) {
		be.origin = skipKey(m)
		return be
	}
	if errors.Is(err, ErrBadMessage) {
		return &badError{origin: skipKey(m), err: err}
	}
	return err
}

func (r *Replica) applyTx(ctx context.Context, tx pgx.Tx, m hq.Message, skip map[string]error) (Outcome, error) {
	q, args := takeArgs(m, skip)
	verdict, a, err := scanTake(tx.QueryRow(ctx, q, args...))
	if err != nil {
		return Outcome{}, err
	}
	return r.finish(ctx, tx, m, verdict, uint64(a), skip)
}

// finish does what the ordering step's verdict says: apply, drain, act on
// a resync answer, or nothing.
func (r *Replica) finish(ctx context.Context, tx pgx.Tx, m hq.Message, verdict string, applied uint64, skip map[string]error) (Outcome, error) {
	var out Outcome
	var err error
	switch verdict {
	case "duplicate":
		out.Duplicate = true
		return out, nil
	case "stale":
		out.Stale = true
		return out, nil
	case "parked":
		out.Parked = true
		return out, markParked(ctx, tx, m)
	case "deferred":
		out.Parked, out.Deferred = true, true
		return out, markParked(ctx, tx, m)
	case "apply":
		if err := r.applyOne(ctx, tx, m, skip, &out); err != nil {
			return out, err
		}
		out.Applied = true
		return out, nil
	case "apply_drain":
	case "answer":
		// An answer acts when it arrives, not in its stream's order: it
		// may be about a gap in its own stream, which would park it
		// behind the very gap it resolves.
		if err := r.answerResync(ctx, tx, m, skip, &out); err != nil {
			var be *badError
			if errors.As(err, &be) && be.origin == m.Origin {
				be.origin = skipKey(m) // the answer itself
			}
			return out, err
		}
		if applied, err = streamApplied(ctx, tx, m.Store, m.Epoch, m.Stream); err != nil {
			return out, err
		}
		switch {
		case m.SSeq <= applied:
			out.Stale = true
			return out, nil
		case m.SSeq > applied+1:
			out.Parked = true
			return out, park(ctx, tx, m)
		}
	default:
		return out, fmt.Errorf("take: verdict %q", verdict)
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

// park keeps a message that is ahead of a gap; the stream's gap_since
// starts when the first one is parked.
func park(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	_, err := tx.Exec(ctx, `INSERT INTO parked (store, epoch, stream, sseq, topic, origin, seq, stored, payload, clock_unsynced)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		m.Store, m.Epoch, m.Stream, int64(m.SSeq), m.Topic, m.Origin, int64(m.Seq), nullTime(m.Stored), m.Payload, m.ClockUnsynced)
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

// markParkedSQL marks a parked entry filed while its store's clock was not
// set (hq_take parks without the flag).
const markParkedSQL = `UPDATE parked SET clock_unsynced = true
	WHERE store = $1 AND epoch = $2 AND stream = $3 AND sseq = $4 AND origin = $5`

// markParked keeps m's clock flag on its parked copy.
func markParked(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	if !m.ClockUnsynced {
		return nil
	}
	if _, err := tx.Exec(ctx, markParkedSQL, m.Store, m.Epoch, m.Stream, int64(m.SSeq), m.Origin); err != nil {
		return fmt.Errorf("park: %w", err)
	}
	return nil
}

// queueParkedMark is markParked in a batch (owner i).
func queueParkedMark(q *pgx.Batch, owners *[]int, i int, m hq.Message) {
	if m.ClockUnsynced {
		q.Queue(markParkedSQL, m.Store, m.Epoch, m.Stream, int64(m.SSeq), m.Origin)
		*owners = append(*owners, i)
	}
}

// drainChunk is how many parked messages drain reads at a time (a store
// back after days may have many parked behind one gap).
const drainChunk = 256

// parkedAfter reads the next parked messages of a stream after sseq at.
func parkedAfter(ctx context.Context, tx pgx.Tx, store, epoch, stream string, at uint64) ([]hq.Message, error) {
	rows, err := tx.Query(ctx, `SELECT sseq, topic, origin, seq, stored, payload, clock_unsynced FROM parked
		WHERE store = $1 AND epoch = $2 AND stream = $3 AND sseq > $4 ORDER BY sseq LIMIT $5`,
		store, epoch, stream, int64(at), drainChunk)
	if err != nil {
		return nil, fmt.Errorf("drain: %w", err)
	}
	defer rows.Close()
	var next []hq.Message
	for rows.Next() {
		var sseq, seq int64
		var stored *time.Time
		p := hq.Message{Store: store, Epoch: epoch, Stream: stream}
		if err := rows.Scan(&sseq, &p.Topic, &p.Origin, &seq, &stored, &p.Payload, &p.ClockUnsynced); err != nil {
			return nil, fmt.Errorf("drain: %w", err)
		}
		p.SSeq, p.Seq = uint64(sseq), uint64(seq)
		if stored != nil {
			p.Stored = *stored
		}
		p.LocalTopic = strings.TrimPrefix(p.Topic, "stores/"+store+"/up/")
		next = append(next, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("drain: %w", err)
	}
	return next, nil
}

// drain applies the parked successors of sseq `from` that follow without
// a gap, and records where the stream now stands.
func (r *Replica) drain(ctx context.Context, tx pgx.Tx, store, epoch, stream string, from uint64,
	skip map[string]error, out *Outcome) (int, error) {
	at, n := from, 0
	for {
		next, err := parkedAfter(ctx, tx, store, epoch, stream, at)
		if err != nil {
			return n, err
		}
		gap := false
		for _, p := range next {
			if p.SSeq <= at {
				continue
			}
			if p.SSeq != at+1 {
				gap = true
				break
			}
			if err := r.applyOne(ctx, tx, p, skip, out); err != nil {
				return n, err
			}
			at, n = p.SSeq, n+1
		}
		if gap || len(next) < drainChunk {
			break
		}
	}
	// What was applied, and any copy parked behind a transaction that
	// applied it meanwhile.
	if _, err := tx.Exec(ctx, `DELETE FROM parked WHERE store = $1 AND epoch = $2 AND stream = $3 AND sseq <= $4`,
		store, epoch, stream, int64(at)); err != nil {
		return n, fmt.Errorf("drain: %w", err)
	}
	// gap_since: when the oldest message still parked arrived (the gap
	// before it has been waited for since then), or none.
	_, err := tx.Exec(ctx, `UPDATE streams SET applied = $4,
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
	key := skipKey(m)
	if e, ok := skip[key]; ok {
		out.Rejected = append(out.Rejected, e)
		return nil
	}
	err := r.applyTopic(ctx, tx, m, out)
	if err == nil {
		return nil
	}
	var be *badError
	if errors.As(err, &be) {
		be.origin = key
		return be
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")) {
		// Data exception or integrity violation: the values of this
		// message, not the database, are at fault.
		return bad(key, "%s: %v", m.LocalTopic, err)
	}
	if errors.Is(err, ErrBadMessage) {
		return &badError{origin: key, err: err}
	}
	return err
}

func (r *Replica) applyTopic(ctx context.Context, tx pgx.Tx, m hq.Message, out *Outcome) error {
	local := m.LocalTopic
	if h, ok := r.handlers[local]; ok {
		return h.ApplyUplink(ctx, tx, m)
	}
	p, known, err := r.planTopic(m)
	if err != nil {
		return err
	}
	if known {
		if err := p.exec(ctx, tx); err != nil {
			return fmt.Errorf("%s: %w", local, err)
		}
		return nil
	}
	if local == proto.TopicSyncAnswer {
		return nil // acted on when it arrived (answerResync)
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
