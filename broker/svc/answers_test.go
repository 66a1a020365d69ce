package svc

import (
	"github.com/storeedge/storeedge/internal/testkit/testclock"

	"context"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestAnswersExpire: after AnswerTTL a repeated id is a new request, and the
// sweep removes the old answers (and only those).
func TestAnswersExpire(t *testing.T) {
	clk := testclock.New(time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC))
	var calls atomic.Int64
	e := startEnv(t, envCfg{opts: Options{Now: clk.Now, AnswerTTL: time.Hour}, setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(context.Context, *Request) (any, error) {
			return map[string]int64{"n": calls.Add(1)}, nil
		}, Mutating())
	}})
	c := e.connect(t, connOpts{dev: kiosk})
	send := func(id string) int64 {
		t.Helper()
		c.request(t, "svc/booking/create", `{"id":"`+id+`","v":1}`, "")
		return decodeAnswer(t, c.next(t)).N
	}
	if n := send("e-1"); n != 1 {
		t.Fatalf("first: n=%d", n)
	}
	clk.Advance(30 * time.Minute)
	if n := send("e-2"); n != 2 {
		t.Fatalf("e-2: n=%d", n)
	}
	if n := send("e-1"); n != 1 {
		t.Fatalf("repeat within the TTL: n=%d", n)
	}
	clk.Advance(31 * time.Minute) // e-1 is 61 min old, e-2 31 min
	if n := send("e-1"); n != 3 {
		t.Fatalf("repeat after the TTL: n=%d, want a new call", n)
	}
	// e-1 was stored again (now) and e-2 is fresh: nothing to sweep but
	// e-1's old index entry, which must not delete the new answer.
	if _, err := e.router.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := storedAnswers(t, e); n != 2 {
		t.Fatalf("%d answers after the first sweep, want 2", n)
	}
	clk.Advance(2 * time.Hour)
	n, err := e.router.Sweep(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v; want 2", n, err)
	}
	if err := e.db.View(func(tx *bolt.Tx) error {
		if a, x := tx.Bucket(bucketAnswers).Stats().KeyN, tx.Bucket(bucketExpiry).Stats().KeyN; a+x != 0 {
			t.Fatalf("left after sweep: %d answers, %d index entries", a, x)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestSweepRunsOnItsOwn: the ticker started by Start deletes expired answers.
func TestSweepRunsOnItsOwn(t *testing.T) {
	clk := testclock.New(time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC))
	e := startEnv(t, envCfg{opts: Options{Now: clk.Now, AnswerTTL: time.Hour, SweepInterval: 5 * time.Millisecond}, setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(context.Context, *Request) (any, error) { return nil, nil }, Mutating())
	}})
	c := e.connect(t, connOpts{dev: kiosk})
	c.request(t, "svc/booking/create", `{"id":"t-1","v":1}`, "")
	c.next(t)
	if storedAnswers(t, e) != 1 {
		t.Fatal("answer not stored")
	}
	clk.Advance(time.Hour)
	poll(t, "sweep", func() bool { return storedAnswers(t, e) == 0 })
}
