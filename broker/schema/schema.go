// Package schema keeps the store database's schema version and brings an
// older database up to the version this build knows. It owns one bucket,
// schema_meta: the version and the history of the migrations applied (each
// one's step, when, and which storeedge applied it). A database without
// that bucket is version 1: everything written before versions were kept.
//
// A migration belongs to the package that owns the buckets it changes; the
// wiring gathers every package's migrations into one Registry, and the
// broker applies the pending ones at start, all in one transaction, before
// any service opens its buckets: a migration that fails leaves the database
// exactly as it was. A database newer than the build is refused unchanged.
package schema

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket is the bucket the schema version and history live in.
const Bucket = "schema_meta"

var (
	keyVersion = []byte("version")
	keyHistory = []byte("history") // a bucket: sequence → Step (JSON)
)

// Unversioned is the version of a database without Bucket.
const Unversioned = 1

// Migration changes the database from version From to To (= From+1).
type Migration struct {
	From, To int
	// Name says in a few words what the migration does.
	Name string
	// Up makes the change in the transaction it is given. It may be run on
	// an empty database (a new store) and must then succeed.
	Up func(*bolt.Tx) error
	// Describe says what Up would change in this database, for a dry run:
	// "booking: 312 records get field X". It must not write.
	Describe func(*bolt.Tx) (string, error)
}

// Step is one migration applied, as the history keeps it.
type Step struct {
	From int       `json:"from"`
	To   int       `json:"to"`
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	// By is the version of the storeedge that applied it.
	By string `json:"by"`
}

// NewerError is the refusal of a database whose schema this build does not
// know.
type NewerError struct {
	Database, Known int
}

func (e *NewerError) Error() string {
	return fmt.Sprintf("store: database schema %d is newer than this storeedge (knows up to %d); install the newer storeedge or restore a backup", e.Database, e.Known)
}

// Registry is the migrations a build knows: a chain from version 1 to its
// target.
type Registry struct {
	ms []Migration // ms[i] goes from i+1 to i+2
}

// NewRegistry checks that ms form one chain from version 1, each step one
// version up, and returns it. The order of ms does not matter.
func NewRegistry(ms ...Migration) (*Registry, error) {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Migration) int { return a.From - b.From })
	for i, m := range ms {
		switch {
		case m.To != m.From+1:
			return nil, fmt.Errorf("schema: migration %q goes from %d to %d: a migration goes one version up", m.Name, m.From, m.To)
		case i > 0 && ms[i-1].From == m.From:
			return nil, fmt.Errorf("schema: two migrations from version %d (%q and %q)", m.From, ms[i-1].Name, m.Name)
		case m.From != Unversioned+i:
			return nil, fmt.Errorf("schema: no migration from version %d (the next one is %q from %d)", Unversioned+i, m.Name, m.From)
		case m.Name == "" || m.Up == nil || m.Describe == nil:
			return nil, fmt.Errorf("schema: migration %d→%d needs a name, Up and Describe", m.From, m.To)
		}
	}
	return &Registry{ms: ms}, nil
}

// Target is the version this build brings a database to.
func (r *Registry) Target() int { return Unversioned + len(r.ms) }

// Version reads the database's schema version: Unversioned when it has
// no Bucket.
func Version(tx *bolt.Tx) (int, error) {
	b := tx.Bucket([]byte(Bucket))
	if b == nil {
		return Unversioned, nil
	}
	raw := b.Get(keyVersion)
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < Unversioned {
		return 0, fmt.Errorf("store: %s holds no schema version (%q): the database is damaged; restore a backup", Bucket, raw)
	}
	return v, nil
}

// History is every migration applied to the database, oldest first.
func History(tx *bolt.Tx) ([]Step, error) {
	b := tx.Bucket([]byte(Bucket))
	if b == nil {
		return nil, nil
	}
	h := b.Bucket(keyHistory)
	if h == nil {
		return nil, nil
	}
	var steps []Step
	err := h.ForEach(func(k, v []byte) error {
		var s Step
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("schema: history entry %x: %w", k, err)
		}
		steps = append(steps, s)
		return nil
	})
	return steps, err
}

// Pending is the database's version and the migrations that would bring it
// to Target, in order. A database newer than Target is a *NewerError.
func (r *Registry) Pending(tx *bolt.Tx) (version int, pending []Migration, err error) {
	v, err := Version(tx)
	if err != nil {
		return 0, nil, err
	}
	if v > r.Target() {
		return v, nil, &NewerError{Database: v, Known: r.Target()}
	}
	return v, r.ms[v-Unversioned:], nil
}

// Apply runs the pending migrations in tx, in order, recording each in the
// history (by: the storeedge version, at: now) and the version reached. It
// writes nothing when none is pending; on an error the caller must roll tx
// back (bbolt's Update does), which leaves the database as it was.
func (r *Registry) Apply(tx *bolt.Tx, by string, now time.Time) ([]Step, error) {
	_, pending, err := r.Pending(tx)
	if err != nil || len(pending) == 0 {
		return nil, err
	}
	var steps []Step
	for _, m := range pending {
		if err := m.Up(tx); err != nil {
			return nil, fmt.Errorf("store: migration %d→%d (%s) failed, nothing was changed: %w", m.From, m.To, m.Name, err)
		}
		s := Step{From: m.From, To: m.To, Name: m.Name, At: now.UTC(), By: by}
		if err := record(tx, s); err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	return steps, nil
}

func record(tx *bolt.Tx, s Step) error {
	b, err := tx.CreateBucketIfNotExists([]byte(Bucket))
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	h, err := b.CreateBucketIfNotExists(keyHistory)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	seq, err := h.NextSequence()
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	v, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if err := h.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	if err := b.Put(keyVersion, []byte(strconv.Itoa(s.To))); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	return nil
}

// Change is a pending migration and what it would change.
type Change struct {
	From, To int
	Name     string
	// What is the migration's Describe; Err is set instead when Describe
	// or Up failed (the migration would fail).
	What string
	Err  error
}

// Preview describes every pending migration as it would run: each is
// described, then applied in tx so that the next one is described on the
// data it would meet. tx must be writable, and the caller must roll it
// back. It stops at the first migration that would fail (that Change has
// Err set). A database newer than Target is a *NewerError.
func (r *Registry) Preview(tx *bolt.Tx) (version int, changes []Change, err error) {
	if !tx.Writable() {
		return 0, nil, errors.New("schema: Preview needs a writable transaction (rolled back afterwards)")
	}
	version, pending, err := r.Pending(tx)
	if err != nil {
		return version, nil, err
	}
	for _, m := range pending {
		c := Change{From: m.From, To: m.To, Name: m.Name}
		c.What, c.Err = m.Describe(tx)
		if c.Err == nil {
			c.Err = m.Up(tx)
		}
		changes = append(changes, c)
		if c.Err != nil {
			break
		}
	}
	return version, changes, nil
}

// Migrations are this package's own: version 2 starts keeping the version.
func Migrations() []Migration {
	return []Migration{{
		From: 1, To: 2,
		Name: "keep the schema version",
		// Apply records the version; nothing else changes.
		Up: func(*bolt.Tx) error { return nil },
		Describe: func(*bolt.Tx) (string, error) {
			return Bucket + ": the schema version and its history are kept from now on (no other data changes)", nil
		},
	}}
}
