package scale

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/firmware-sim/fleet"
	"github.com/storeedge/storeedge/proto"
)

// Report is what Check found. Problems are never right (a message
// applied out of its stream's order, a row nobody filed); Pending is what
// is not there yet (a missing message, a stream not applied to its end, a
// parked message). The replica matches the stores when both are empty.
type Report struct {
	Stores   int
	Chat     int // chat messages filed and found
	Changes  int // booking changes filed and found (snapshots not counted)
	Problems []string
	Pending  []string
	// Lags are applied_at − the store's ts of every chat message, sorted.
	Lags []time.Duration
}

// OK says the replica holds exactly what the stores filed, in order.
func (r Report) OK() bool { return len(r.Problems) == 0 && len(r.Pending) == 0 }

// Sound says nothing wrong was found, whatever is still to come.
func (r Report) Sound() bool { return len(r.Problems) == 0 }

// Quantile is the q-th quantile of the lags (0 when there are none).
func (r Report) Quantile(q float64) time.Duration {
	if len(r.Lags) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Lags)-1))
	return r.Lags[i]
}

func (r *Report) problem(format string, a ...any) { note(&r.Problems, format, a...) }
func (r *Report) pending(format string, a ...any) { note(&r.Pending, format, a...) }

func note(l *[]string, format string, a ...any) {
	if len(*l) < 50 {
		*l = append(*l, fmt.Sprintf(format, a...))
	} else if len(*l) == 50 {
		*l = append(*l, "…")
	}
}

// String is a one-line summary.
func (r Report) String() string {
	s := fmt.Sprintf("%d stores: %d chat messages, %d booking changes; lag p50 %v p99 %v",
		r.Stores, r.Chat, r.Changes, r.Quantile(0.5).Round(time.Millisecond), r.Quantile(0.99).Round(time.Millisecond))
	if len(r.Problems) > 0 {
		s += fmt.Sprintf("; %d problems:\n  %s", len(r.Problems), strings.Join(r.Problems, "\n  "))
	}
	if len(r.Pending) > 0 {
		s += fmt.Sprintf("; %d not there yet:\n  %s", len(r.Pending), strings.Join(r.Pending, "\n  "))
	}
	return s
}

type msgRow struct {
	applied, stored time.Time
	found           bool
}

// Check compares the replica (the tables messages, booking_changes,
// streams and parked) with what the stores filed: each chat message and
// each booking change once, nothing the stores did not file, every chat
// and booking stream applied up to its last sseq with nothing parked. It
// reads each table in one statement (one snapshot), and in it each
// store's chat messages and booking changes must be a prefix of what the
// store filed, in stream order: a message present while one before it in
// its stream is missing was applied out of order. That holds at any
// moment, so Check can run while the stores work (Sound); OK needs every
// entry acknowledged by HQ's broker and applied.
func Check(ctx context.Context, db *pgx.Conn, stores []*fleet.Store) (Report, error) {
	r := Report{Stores: len(stores)}
	ids := make([]string, len(stores))
	for i, s := range stores {
		ids[i] = s.ID
	}
	msgs := map[string]*msgRow{} // store conv seq
	rows, err := db.Query(ctx, `SELECT store, conversation, seq, applied_at, stored FROM messages WHERE store = ANY($1)`, ids)
	if err != nil {
		return r, fmt.Errorf("scale: read messages: %w", err)
	}
	for rows.Next() {
		var store, conv string
		var seq int64
		var stored *time.Time
		row := &msgRow{}
		if err := rows.Scan(&store, &conv, &seq, &row.applied, &stored); err != nil {
			return r, fmt.Errorf("scale: read messages: %w", err)
		}
		if stored != nil {
			row.stored = *stored
		}
		msgs[fmt.Sprintf("%s %s %d", store, conv, seq)] = row
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("scale: read messages: %w", err)
	}
	changes := map[string]bool{} // store epoch seq
	rows, err = db.Query(ctx, `SELECT store, epoch, seq FROM booking_changes WHERE store = ANY($1)`, ids)
	if err != nil {
		return r, fmt.Errorf("scale: read booking_changes: %w", err)
	}
	for rows.Next() {
		var store, epoch string
		var seq int64
		if err := rows.Scan(&store, &epoch, &seq); err != nil {
			return r, fmt.Errorf("scale: read booking_changes: %w", err)
		}
		changes[fmt.Sprintf("%s %s %d", store, epoch, seq)] = false
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("scale: read booking_changes: %w", err)
	}
	applied := map[string]int64{} // store epoch stream
	rows, err = db.Query(ctx, `SELECT store, epoch, stream, applied FROM streams WHERE store = ANY($1)`, ids)
	if err != nil {
		return r, fmt.Errorf("scale: read streams: %w", err)
	}
	for rows.Next() {
		var store, epoch, stream string
		var n int64
		if err := rows.Scan(&store, &epoch, &stream, &n); err != nil {
			return r, fmt.Errorf("scale: read streams: %w", err)
		}
		applied[store+" "+epoch+" "+stream] = n
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("scale: read streams: %w", err)
	}
	var parked int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM parked WHERE store = ANY($1)`, ids).Scan(&parked); err != nil {
		return r, fmt.Errorf("scale: read parked: %w", err)
	}
	if parked > 0 {
		r.pending("%d messages parked", parked)
	}

	for _, s := range stores {
		var last = map[string]uint64{}
		gap := map[string]uint64{} // stream → the first sseq missing
		for _, e := range s.Entries() {
			if e.SSeq > 0 {
				last[e.Stream] = e.SSeq
			}
			switch {
			case e.Kind == fleet.KindChat:
				k := fmt.Sprintf("%s %s %d", s.ID, e.Conversation, e.ChatSeq)
				row := msgs[k]
				if row == nil {
					r.pending("%s: chat %s seq %d (sseq %d) missing", s.ID, e.Conversation, e.ChatSeq, e.SSeq)
					if gap[e.Stream] == 0 {
						gap[e.Stream] = e.SSeq
					}
					continue
				}
				row.found = true
				r.Chat++
				if g := gap[e.Stream]; g != 0 {
					r.problem("%s: chat sseq %d applied while sseq %d is not", s.ID, e.SSeq, g)
				}
				if d := row.stored.Sub(e.Stored); d < -time.Microsecond || d > time.Microsecond {
					r.problem("%s: chat sseq %d stored %v in the replica, filed %v", s.ID, e.SSeq, row.stored, e.Stored)
				}
				r.Lags = append(r.Lags, row.applied.Sub(e.Stored))
			case e.Stream == proto.StreamBooking:
				if e.Kind != fleet.KindBooking || e.ChangeSeq == 0 {
					continue // a snapshot or a resync answer: no row to find
				}
				k := fmt.Sprintf("%s %s %d", s.ID, s.Epoch, e.ChangeSeq)
				seen, ok := changes[k]
				if !ok {
					r.pending("%s: booking change %d (sseq %d) missing", s.ID, e.ChangeSeq, e.SSeq)
					if gap[e.Stream] == 0 {
						gap[e.Stream] = e.SSeq
					}
					continue
				}
				if g := gap[e.Stream]; g != 0 {
					r.problem("%s: booking sseq %d applied while sseq %d is not", s.ID, e.SSeq, g)
				}
				if !seen {
					changes[k] = true
					r.Changes++
				}
			}
		}
		for _, stream := range []string{proto.StreamChat, proto.StreamBooking} {
			if got := applied[s.ID+" "+s.Epoch+" "+stream]; uint64(got) > last[stream] {
				r.problem("%s: stream %s applied up to %d, the store filed only up to %d", s.ID, stream, got, last[stream])
			} else if uint64(got) < last[stream] {
				r.pending("%s: stream %s applied up to %d, the store filed up to %d", s.ID, stream, got, last[stream])
			}
		}
	}
	for k, row := range msgs {
		if !row.found {
			r.problem("message %s in the replica was never filed", k)
		}
	}
	for k, seen := range changes {
		if !seen {
			r.problem("booking change %s in the replica was never filed", k)
		}
	}
	slices.Sort(r.Lags)
	return r, nil
}
