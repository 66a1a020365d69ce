package store

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func put(bucket string, k uint64) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], k)
		return b.Put(key[:], []byte("v"))
	}
}

func count(t *testing.T, db *DB, bucket string) int {
	t.Helper()
	n := 0
	if err := db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// Many concurrent writers share commits, and every acknowledged write is on
// disk after reopening.
func TestGroupCommitSharesCommitsAndPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "store.db")
	var commits, writes atomic.Int64
	db, err := Open(Options{Path: path, OnCommit: func(_ time.Duration, n int) {
		commits.Add(1)
		writes.Add(int64(n))
	}})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 64, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := db.Update(context.Background(), put("b", uint64(w*each+i))); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if got := writes.Load(); got != writers*each {
		t.Fatalf("writes observed %d, want %d", got, writers*each)
	}
	if c := commits.Load(); c >= writers*each {
		t.Fatalf("%d commits for %d writes: nothing was grouped", c, writers*each)
	}
	if st := db.Stats(); st.Commits != uint64(commits.Load()) || st.Writes != uint64(writes.Load()) {
		t.Fatalf("Stats %+v, OnCommit saw %d commits of %d writes", st, commits.Load(), writes.Load())
	}
	t.Logf("%d writes in %d commits", writers*each, commits.Load())
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db, "b"); n != writers*each {
		t.Fatalf("after reopen %d keys, want %d", n, writers*each)
	}
}

// A failing function only fails its own caller; the rest of its group commits.
func TestFailingWriteDoesNotSinkItsGroup(t *testing.T) {
	db, err := Open(Options{Path: filepath.Join(t.TempDir(), "store.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			fn := put("b", uint64(i))
			if i%10 == 0 {
				fn = func(tx *bolt.Tx) error {
					if err := put("b", uint64(i))(tx); err != nil {
						return err
					}
					return boom
				}
			}
			err := db.Update(context.Background(), fn)
			if i%10 == 0 {
				if !errors.Is(err, boom) {
					t.Errorf("write %d: got %v, want boom", i, err)
				}
				failed.Add(1)
			} else if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	if n := count(t, db, "b"); n != 180 {
		t.Fatalf("%d keys, want 180 (the 20 failing writes rolled back, nothing else)", n)
	}
}

// Close commits fire-and-forget writes that were queued before it.
func TestCloseFlushesAsyncWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5000; i++ {
		db.UpdateAsync(put("a", uint64(i)), func(err error) { t.Error(err) })
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), put("a", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}
	db, err = Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := count(t, db, "a"); n != 5000 {
		t.Fatalf("%d keys after close, want 5000", n)
	}
}

// A second process (here: a second Open) on the same file fails fast.
func TestSecondOpenFailsInsteadOfHanging(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Open(Options{Path: path, LockTimeout: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("second open of a locked database succeeded")
	}
}

// The size cap turns into ErrFull, and the database stays usable for reads.
func TestMaxSizeGivesErrFull(t *testing.T) {
	db, err := Open(Options{Path: filepath.Join(t.TempDir(), "store.db"), MaxSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	big := make([]byte, 64<<10)
	var full error
	for i := 0; i < 200 && full == nil; i++ {
		full = db.Update(context.Background(), func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("big"))
			if err != nil {
				return err
			}
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], uint64(i))
			return b.Put(key[:], big)
		})
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("filling a 4 MiB-capped store: %v, want ErrFull", full)
	}
	if count(t, db, "big") == 0 {
		t.Fatal("nothing was stored before the cap")
	}
}

func BenchmarkUpdateParallel(b *testing.B) {
	db, err := Open(Options{Path: filepath.Join(b.TempDir(), "store.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var n atomic.Uint64
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.Update(context.Background(), put("b", n.Add(1))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
