package schema_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/schema"
)

// pets is a bucket of the fake version 3: its records are JSON objects,
// and version 3 gives each one an "owner" field.
const pets = "test_pets"

// fakeThree is a version 3 that transforms data: every record in pets
// gets "owner":"unknown". With failAfter > 0 it fails after changing that
// many records (a migration that breaks half-way).
func fakeThree(failAfter int) schema.Migration {
	return schema.Migration{
		From: 2, To: 3, Name: "pets get an owner",
		Describe: func(tx *bolt.Tx) (string, error) {
			n := 0
			if b := tx.Bucket([]byte(pets)); b != nil {
				n = b.Stats().KeyN
			}
			return fmt.Sprintf("%s: %d records get field owner", pets, n), nil
		},
		Up: func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(pets))
			if b == nil {
				return nil
			}
			c, changed := b.Cursor(), 0
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if failAfter > 0 && changed == failAfter {
					return errors.New("record " + string(k) + " is not what version 2 wrote")
				}
				var rec map[string]any
				if err := json.Unmarshal(v, &rec); err != nil {
					return err
				}
				rec["owner"] = "unknown"
				nv, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				if err := b.Put(k, nv); err != nil {
					return err
				}
				changed++
			}
			return nil
		},
	}
}

func registry(t *testing.T, more ...schema.Migration) *schema.Registry {
	t.Helper()
	r, err := schema.NewRegistry(append(schema.Migrations(), more...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// oldDB is a database as version 1 left it: no schema_meta, three pets.
func oldDB(t *testing.T) (*bolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte(pets))
		if err != nil {
			return err
		}
		for _, name := range []string{"mochi", "tofu", "bao"} {
			if err := b.Put([]byte(name), []byte(`{"name":"`+name+`"}`)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return db, path
}

func petsOf(t *testing.T, db *bolt.DB) map[string]string {
	t.Helper()
	got := map[string]string{}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(pets)).ForEach(func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func version(t *testing.T, db *bolt.DB) int {
	t.Helper()
	var v int
	if err := db.View(func(tx *bolt.Tx) (err error) { v, err = schema.Version(tx); return err }); err != nil {
		t.Fatal(err)
	}
	return v
}

// A registry is one chain from version 1, one version per step.
func TestRegistryIsOneChain(t *testing.T) {
	up := func(*bolt.Tx) error { return nil }
	say := func(*bolt.Tx) (string, error) { return "", nil }
	m := func(from, to int) schema.Migration {
		return schema.Migration{From: from, To: to, Name: fmt.Sprintf("m%d", from), Up: up, Describe: say}
	}
	for _, c := range []struct {
		name string
		ms   []schema.Migration
		want string
	}{
		{"a gap", []schema.Migration{m(1, 2), m(3, 4)}, "no migration from version 2"},
		{"two from one version", []schema.Migration{m(1, 2), m(1, 2)}, "two migrations from version 1"},
		{"a jump", []schema.Migration{m(1, 3)}, "one version up"},
		{"not from 1", []schema.Migration{m(2, 3)}, "no migration from version 1"},
		{"no Up", []schema.Migration{{From: 1, To: 2, Name: "x", Describe: say}}, "needs a name, Up and Describe"},
	} {
		if _, err := schema.NewRegistry(c.ms...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	r, err := schema.NewRegistry(m(2, 3), m(1, 2)) // any order
	if err != nil || r.Target() != 3 {
		t.Fatalf("a good chain: %v, target %d", err, r.Target())
	}
	if got := registry(t).Target(); got != 2 {
		t.Fatalf("this build's target: %d, want 2", got)
	}
}

// A fake version 3 proves the mechanism: the dry run describes each
// pending migration on the data it would meet and writes nothing; Apply
// transforms the records and keeps the history; a migration failing
// half-way is rolled back whole (version and data as before).
func TestFakeThreeTransformsDescribesAndRollsBack(t *testing.T) {
	db, path := oldDB(t)
	before := petsOf(t, db)
	if v := version(t, db); v != 1 {
		t.Fatalf("a database without %s: version %d, want 1", schema.Bucket, v)
	}

	// Half-way failure: the first record was changed when it failed.
	r := registry(t, fakeThree(1))
	err := db.Update(func(tx *bolt.Tx) error {
		_, err := r.Apply(tx, "test", time.Now())
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "migration 2→3 (pets get an owner) failed") {
		t.Fatalf("a migration failing half-way: %v", err)
	}
	if got := petsOf(t, db); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after the failed migration the records are %v, want them as before: %v", got, before)
	}
	if v := version(t, db); v != 1 {
		t.Fatalf("after the failed migration: version %d, want 1 (1→2 rolled back with it)", v)
	}

	// The dry run.
	r = registry(t, fakeThree(0))
	fileBefore := readFile(t, path)
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	from, changes, err := r.Preview(tx)
	if rerr := tx.Rollback(); err != nil || rerr != nil {
		t.Fatal(err, rerr)
	}
	if from != 1 || len(changes) != 2 || changes[1].What != pets+": 3 records get field owner" || changes[0].Err != nil || changes[1].Err != nil {
		t.Fatalf("preview: from %d, %+v", from, changes)
	}
	if !bytes.Equal(readFile(t, path), fileBefore) {
		t.Fatal("the dry run changed the file")
	}
	if got := petsOf(t, db); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after the dry run: %v", got)
	}

	// Applied.
	at := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	if err := db.Update(func(tx *bolt.Tx) error {
		steps, err := r.Apply(tx, "v9.9", at)
		if len(steps) != 2 {
			t.Errorf("steps: %+v", steps)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for name, v := range petsOf(t, db) {
		if v != `{"name":"`+name+`","owner":"unknown"}` {
			t.Fatalf("%s after the migration: %s", name, v)
		}
	}
	if v := version(t, db); v != 3 {
		t.Fatalf("version %d, want 3", v)
	}
	var hist []schema.Step
	if err := db.View(func(tx *bolt.Tx) (err error) { hist, err = schema.History(tx); return err }); err != nil {
		t.Fatal(err)
	}
	want := []schema.Step{{From: 1, To: 2, Name: "keep the schema version", At: at, By: "v9.9"}, {From: 2, To: 3, Name: "pets get an owner", At: at, By: "v9.9"}}
	if fmt.Sprint(hist) != fmt.Sprint(want) {
		t.Fatalf("history %+v, want %+v", hist, want)
	}

	// Up to date: nothing pending, nothing written.
	fileBefore = readFile(t, path)
	if err := db.View(func(tx *bolt.Tx) error {
		_, p, err := r.Pending(tx)
		if len(p) != 0 {
			t.Errorf("pending at the target: %+v", p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// This build (target 2) meets it: newer, refused.
	err = db.View(func(tx *bolt.Tx) error { _, _, err := registry(t).Pending(tx); return err })
	var newer *schema.NewerError
	if !errors.As(err, &newer) || err.Error() != "store: database schema 3 is newer than this storeedge (knows up to 2); install the newer storeedge or restore a backup" {
		t.Fatalf("a newer database: %v", err)
	}
	if !bytes.Equal(readFile(t, path), fileBefore) {
		t.Fatal("reading the version changed the file")
	}
}

// A dry run stops at a migration that would fail and says why.
func TestPreviewSaysWhatWouldFail(t *testing.T) {
	db, _ := oldDB(t)
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, changes, err := registry(t, fakeThree(2)).Preview(tx)
	if err != nil || len(changes) != 2 || changes[1].Err == nil || !strings.Contains(changes[1].Err.Error(), "is not what version 2 wrote") {
		t.Fatalf("preview of a failing migration: %v %+v", err, changes)
	}
}

// A damaged version is an error, not version 1.
func TestDamagedVersion(t *testing.T) {
	db, _ := oldDB(t)
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte(schema.Bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte("version"), []byte("two"))
	}); err != nil {
		t.Fatal(err)
	}
	err := db.View(func(tx *bolt.Tx) error { _, err := schema.Version(tx); return err })
	if err == nil || !strings.Contains(err.Error(), "holds no schema version") {
		t.Fatalf("a damaged version: %v", err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
