package homebook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/proto"
)

// AnswersChannel is the PostgreSQL channel a live answer is announced on
// (its id), whichever instance applied it.
const AnswersChannel = "hq_home_answers"

// KindAvailability is home_answers.kind of a store's free times.
const KindAvailability = "availability"

// AvailabilityHandler applies booking/hq/availability: the store's live
// answer is kept in home_answers and announced on AnswersChannel in the
// message's transaction, for the request waiting for it (on any
// instance).
type AvailabilityHandler struct {
	Log *slog.Logger
}

// ApplyUplink implements replica.TopicHandler.
func (h AvailabilityHandler) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var a proto.HQAvailabilityAnswer
	if err := json.Unmarshal(m.Payload, &a); err != nil {
		return fmt.Errorf("%w: %s: %v", replica.ErrBadMessage, m.LocalTopic, err)
	}
	if a.V != 1 || a.Request == "" || len(a.Request) > 64 {
		if h.Log != nil {
			h.Log.Warn("homebook: a store's answer about free times names no request we sent; ignored", "store", m.Store)
		}
		return fmt.Errorf("%w: %s: want v 1 and a request id", replica.ErrBadMessage, m.LocalTopic)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO home_answers (id, store, kind, payload) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, a.Request, m.Store, KindAvailability, json.RawMessage(m.Payload)); err != nil {
		return fmt.Errorf("homebook: keep answer: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, AnswersChannel, a.Request); err != nil {
		return fmt.Errorf("homebook: announce answer: %w", err)
	}
	return nil
}

// Listener holds the process's one LISTEN connection on AnswersChannel
// and wakes the requests waiting for an answer's id (any kind: the live
// view's answers come the same way). Make one per process (NewListener),
// run it (Run) and give it to whoever waits.
type Listener struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	mu      sync.Mutex
	waiters map[string][]chan struct{}
	up      bool // listening now: a notification will come
}

// NewListener makes the listener of pool's database (log: nil discards).
func NewListener(pool *pgxpool.Pool, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{pool: pool, log: log, waiters: map[string][]chan struct{}{}}
}

// Watch registers interest in id; the channel gets a value when an answer
// with that id is announced, and also whenever the connection was lost or
// comes back (the waiter then looks for itself). forget ends it.
func (l *Listener) Watch(id string) (woke <-chan struct{}, forget func()) {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	l.waiters[id] = append(l.waiters[id], ch)
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		ws := l.waiters[id]
		for i, w := range ws {
			if w == ch {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(l.waiters, id)
		} else {
			l.waiters[id] = ws
		}
	}
}

func (l *Listener) wake(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ch := range l.waiters[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeAll wakes every waiter (the connection was lost: they look for
// themselves).
func (l *Listener) wakeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ws := range l.waiters {
		for _, ch := range ws {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Listening reports whether announcements arrive now (else a waiter
// should look at the table itself now and then).
func (l *Listener) Listening() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up
}

func (l *Listener) setUp(up bool) {
	l.mu.Lock()
	l.up = up
	l.mu.Unlock()
}

// Run listens until ctx ends, reconnecting after a lost connection, and
// removes availability answers nobody picked up (older than keep) every
// minute.
func (l *Listener) Run(ctx context.Context, keep time.Duration) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listenOnce(ctx, keep)
		l.setUp(false)
		l.wakeAll()
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("homebook: lost the database's announcements of live answers; listening again", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (l *Listener) listenOnce(ctx context.Context, keep time.Duration) error {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	// The connection ends with its LISTEN: it goes back closed, never to
	// another user still listening.
	defer func() {
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+AnswersChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	l.setUp(true)
	l.wakeAll() // answers announced while nobody listened are looked up
	lastSweep := time.Time{}
	for {
		if time.Since(lastSweep) > time.Minute {
			lastSweep = time.Now()
			if _, err := l.pool.Exec(ctx, `DELETE FROM home_answers WHERE kind = $1 AND at < $2`,
				KindAvailability, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
				l.log.Warn("homebook: old live answers not removed", "err", err)
			}
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			return err
		}
		l.wake(n.Payload)
	}
}
