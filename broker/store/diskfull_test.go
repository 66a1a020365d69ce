package store

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/internal/testkit/tmpfstest"
)

// fillDisk writes values of size into bucket until a write is refused and
// returns the keys acknowledged and the refusal.
func fillDisk(t *testing.T, db *DB, bucket string, size, from int) (acked []uint64, refused error) {
	t.Helper()
	for i := from; i < from+100000; i++ {
		err := db.Update(context.Background(), func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			return b.Put(key(uint64(i)), value(uint64(i), size))
		})
		if err != nil {
			return acked, err
		}
		acked = append(acked, uint64(i))
	}
	t.Fatalf("%s: the disk never filled", bucket)
	return nil, nil
}

func key(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

func value(i uint64, size int) []byte {
	v := make([]byte, size)
	for j := range v {
		v[j] = byte(i) + byte(j)
	}
	return v
}

// checkAcked runs bbolt's consistency check and reads back every
// acknowledged value.
func checkAcked(t *testing.T, db *bolt.DB, bucket string, acked []uint64, size int) {
	t.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			t.Fatalf("bucket %s is gone", bucket)
		}
		for _, i := range acked {
			if got := b.Get(key(i)); string(got) != string(value(i, size)) {
				t.Fatalf("acknowledged value %d: %d bytes, not what was written", i, len(got))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// With MinFreeBytes the store refuses writes while the disk still has room:
// ErrDiskFull, no ENOSPC inside bbolt. Deletes still go in below the floor,
// everything acknowledged is there, and once a file beside it is deleted
// writes go in again without reopening.
func TestDiskFloorRefusesBeforeTheDiskIsFull(t *testing.T) {
	dir, ok := tmpfstest.Mount(t, 24<<20)
	if !ok {
		return
	}
	filler := filepath.Join(dir, "filler")
	tmpfstest.Fill(t, filler, 12<<20)
	path := filepath.Join(dir, "store.db")
	const floor = 4 << 20
	db, err := Open(Options{Path: path, MinFreeBytes: floor})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const size = 32 << 10
	acked, err := fillDisk(t, db, "msgs", size, 0)
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, ErrFull) {
		t.Fatalf("refused with %v, want ErrDiskFull", err)
	}
	if errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("bbolt ran out of disk (%v): the floor did not stop writes first", err)
	}
	if free := tmpfstest.Free(t, dir); free <= 0 || free >= floor {
		t.Fatalf("refused with %d bytes free, want between 0 and %d", free, floor)
	}
	if len(acked) < 100 {
		t.Fatalf("only %d writes before the floor", len(acked))
	}
	if got := db.Refusing(); got != "disk_full" {
		t.Fatalf("Refusing() = %q, want disk_full", got)
	}
	// Below the floor a clean-up still deletes, and a plain write is
	// refused again.
	if err := db.UpdateFree(context.Background(), func(tx *bolt.Tx) error { return tx.Bucket([]byte("msgs")).Delete(key(acked[0])) }); err != nil {
		t.Fatalf("a delete below the floor: %v", err)
	}
	acked = acked[1:]
	freed := make(chan error, 1)
	db.UpdateFreeAsync(func(tx *bolt.Tx) error { return tx.Bucket([]byte("msgs")).Delete(key(acked[0])) }, func(err error) { freed <- err })
	if err := db.Update(context.Background(), func(tx *bolt.Tx) error { return tx.Bucket([]byte("msgs")).Put(key(1<<40), []byte("x")) }); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("a write below the floor: %v", err)
	}
	if err := db.Flush(context.Background()); err != nil {
		t.Fatalf("a flush below the floor: %v", err)
	}
	select {
	case err := <-freed:
		t.Fatalf("an asynchronous delete below the floor: %v", err)
	default:
	}
	acked = acked[1:]
	checkAcked(t, db.bolt, "msgs", acked, size)

	// Room again: writes go in with the same open database.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if got := db.Refusing(); got != "" {
		t.Fatalf("Refusing() = %q with %d bytes free", got, tmpfstest.Free(t, dir))
	}
	more, err := fillDisk(t, db, "msgs", size, 1<<20)
	if !errors.Is(err, ErrDiskFull) || errors.Is(err, syscall.ENOSPC) || len(more) < 100 {
		t.Fatalf("after room came back: %d writes, then %v", len(more), err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	checkAcked(t, reopened, "msgs", append(acked, more...), size)
}

// Without a floor (or a commit larger than it) bbolt itself meets ENOSPC
// half-way through a commit: the write is ErrDiskFull, the file stays
// consistent with everything acknowledged before, the committer goes on,
// and writes go in again when there is room, without reopening.
func TestENOSPCInACommitIsSurvived(t *testing.T) {
	dir, ok := tmpfstest.Mount(t, 24<<20)
	if !ok {
		return
	}
	filler := filepath.Join(dir, "filler")
	tmpfstest.Fill(t, filler, 16<<20)
	path := filepath.Join(dir, "store.db")
	db, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const size = 32 << 10
	acked, err := fillDisk(t, db, "msgs", size, 0)
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("refused with %v, want ErrDiskFull from ENOSPC", err)
	}
	if len(acked) < 50 {
		t.Fatalf("only %d writes before the disk was full", len(acked))
	}
	checkAcked(t, db.bolt, "msgs", acked, size)
	if got := db.Refusing(); got != "disk_full" {
		t.Fatalf("Refusing() = %q after ENOSPC, want disk_full", got)
	}

	// A small write may still fit in the database's free pages: the disk
	// is full all the same until room comes back.
	switch err := db.Update(context.Background(), func(tx *bolt.Tx) error { return tx.Bucket([]byte("msgs")).Delete(key(acked[0])) }); {
	case err == nil:
		acked = acked[1:]
	case !errors.Is(err, ErrDiskFull):
		t.Fatal(err)
	}
	if got := db.Refusing(); got != "disk_full" {
		t.Fatalf("Refusing() = %q after a small write on a full disk, want disk_full", got)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if got := db.Refusing(); got != "" {
		t.Fatalf("Refusing() = %q once the disk has room", got)
	}
	more, err := fillDisk(t, db, "msgs", size, 1<<20)
	if !errors.Is(err, ErrDiskFull) || len(more) < 100 {
		t.Fatalf("after room came back: %d writes, then %v", len(more), err)
	}
	acked = append(acked, more...)
	checkAcked(t, db.bolt, "msgs", acked, size)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	checkAcked(t, reopened, "msgs", acked, size)
}
