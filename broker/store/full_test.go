package store

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A store at its size cap still deletes with UpdateFree: the clean-ups that
// free space (lapsed uploads, expired answers) can run, and after them new
// writes fit again. Filled to the last page with small writes too, so no
// free page is left over; there a plain Update may fail even to delete.
func TestFullStoreDeletesAndRecovers(t *testing.T) {
	db, err := Open(Options{Path: filepath.Join(t.TempDir(), "store.db"), MaxSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fill := func(bucket string, size int) int {
		n := 0
		for i := 0; i < 100000; i++ {
			err := db.Update(context.Background(), func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte(bucket))
				if err != nil {
					return err
				}
				var key [8]byte
				binary.BigEndian.PutUint64(key[:], uint64(i))
				return b.Put(key[:], make([]byte, size))
			})
			if errors.Is(err, ErrFull) {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		t.Fatalf("%s: never full", bucket)
		return n
	}
	if fill("big", 64<<10) == 0 {
		t.Fatal("nothing stored")
	}
	fill("small", 512)
	fill("tiny", 16)
	fill("one", 1)
	if err := db.Update(context.Background(), func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("big")) }); !errors.Is(err, ErrFull) {
		t.Fatalf("a plain delete in a store full to the last page: %v, want ErrFull (what UpdateFree is for)", err)
	}
	// The asynchronous kind (a session's delivered messages): grouped with
	// a write that fails for want of room, it is still committed.
	freed := make(chan error, 1)
	db.UpdateAsync(func(tx *bolt.Tx) error { return tx.Bucket([]byte("one")).Put([]byte("more"), make([]byte, 64<<10)) }, func(error) {})
	db.UpdateFreeAsync(func(tx *bolt.Tx) error { return tx.Bucket([]byte("big")).Delete(make([]byte, 8)) }, func(err error) { freed <- err })
	if err := db.Update(context.Background(), func(*bolt.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-freed:
		t.Fatalf("deleting asynchronously from a full store: %v", err)
	default:
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("big")).Get(make([]byte, 8)) != nil {
			return errors.New("the first big value is still there")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateFree(context.Background(), func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("big")) }); err != nil {
		t.Fatalf("deleting from a full store: %v", err)
	}
	if fill("again", 64<<10) == 0 {
		t.Fatal("nothing fits after deleting")
	}
}

// A store at its cap says so (Refusing "db_full") until there is room
// again: a tiny write that fits in a freed page does not clear it, freeing
// space does.
func TestFullStoreStaysFullForTinyWrites(t *testing.T) {
	db, err := Open(Options{Path: filepath.Join(t.TempDir(), "store.db"), MaxSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(bucket string, i, size int) error {
		return db.Update(context.Background(), func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			var key [8]byte
			binary.BigEndian.PutUint64(key[:], uint64(i))
			return b.Put(key[:], make([]byte, size))
		})
	}
	i := 0
	for ; ; i++ {
		if err := put("big", i, 64<<10); errors.Is(err, ErrFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if i > 1000 {
			t.Fatal("never full")
		}
	}
	if r := db.Refusing(); r != "db_full" {
		t.Fatalf("at the cap: Refusing %q, want db_full", r)
	}
	if err := put("tiny", 0, 8); err != nil {
		t.Fatalf("a tiny write at the cap: %v (it should fit in the free pages)", err)
	}
	if r := db.Refusing(); r != "db_full" {
		t.Fatalf("after a tiny write that fitted: Refusing %q, want db_full still", r)
	}
	if err := db.UpdateFree(context.Background(), func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("big")) }); err != nil {
		t.Fatal(err)
	}
	if err := put("tiny", 1, 8); err != nil {
		t.Fatal(err)
	}
	if r := db.Refusing(); r != "" {
		t.Fatalf("after room came back: Refusing %q, want none", r)
	}
}
