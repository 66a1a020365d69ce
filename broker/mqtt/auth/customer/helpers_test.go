package customer

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

const publicURL = "http://storeedge.local:8080/chat"

var t0 = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)

// env is a Store on a real database file with a settable clock.
type env struct {
	path  string
	clock *testclock.Clock
	opts  Options
	db    *store.DB
	s     *Store
}

func newEnv(t testing.TB, o Options) *env {
	t.Helper()
	e := &env{path: filepath.Join(t.TempDir(), "store.db"), clock: testclock.New(t0), opts: o}
	e.start(t)
	t.Cleanup(func() { e.stop(t) })
	return e
}

// start opens the database and a new Store on it.
func (e *env) start(t testing.TB) {
	t.Helper()
	db, err := store.Open(store.Options{Path: e.path})
	if err != nil {
		t.Fatal(err)
	}
	o := e.opts
	o.DB = db
	if o.PublicURL == "" {
		o.PublicURL = publicURL
	}
	o.Now = e.clock.Now
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.db, e.s = db, s
}

// stop closes the database (once).
func (e *env) stop(t testing.TB) {
	t.Helper()
	if e.db == nil {
		return
	}
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.db = nil
}

func (e *env) restart(t *testing.T) {
	t.Helper()
	e.stop(t)
	e.start(t)
}

func (e *env) issue(t *testing.T, customer string) Ticket {
	t.Helper()
	tk, err := e.s.Issue(context.Background(), customer, "tablet-01")
	if err != nil {
		t.Fatalf("Issue(%q): %v", customer, err)
	}
	return tk
}

func (e *env) redeem(t *testing.T, token string) Login {
	t.Helper()
	l, err := e.s.Redeem(context.Background(), token)
	if err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	return l
}

func (e *env) verify(t *testing.T, id, password string) bool {
	t.Helper()
	ok, err := e.s.VerifyCustomer(id, []byte(password))
	if err != nil {
		t.Fatalf("VerifyCustomer: %v", err)
	}
	return ok
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

// keys counts the keys of a bucket.
func (e *env) keys(t *testing.T, bucket []byte) int {
	t.Helper()
	n := 0
	if err := e.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// twiceDB runs every Update function once on a transaction it rolls back,
// then for real, as the group committer may do.
type twiceDB struct {
	*store.DB
}

var errRollback = errors.New("rolled back on purpose")

func (d twiceDB) Update(ctx context.Context, fn func(*bolt.Tx) error) error {
	err := d.DB.Update(ctx, func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errRollback
	})
	if err != nil && !errors.Is(err, errRollback) {
		return err
	}
	return d.DB.Update(ctx, fn)
}
