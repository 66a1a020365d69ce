package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/schema"
)

// migrations is the build's chain of schema migrations. A package whose
// buckets change adds its own list here (chat.Migrations(), …); it alone
// touches its buckets. cfg.Migrations come last.
func migrations(cfg Config) (*schema.Registry, error) {
	return schema.NewRegistry(slices.Concat(
		schema.Migrations(),
		cfg.Migrations,
	)...)
}

// migrate brings the database to the build's schema version before any
// service opens its buckets: the pending migrations run in one transaction,
// so one that fails leaves the database as the previous storeedge left it.
// A database newer than the build is refused without a write.
func (b *Broker) migrate(ctx context.Context) error {
	reg, err := migrations(b.cfg)
	if err != nil {
		return err
	}
	var from int
	var pending []schema.Migration
	if err := b.db.View(func(tx *bolt.Tx) error {
		from, pending, err = reg.Pending(tx)
		return err
	}); err != nil {
		return err
	}
	b.schema.Store(int64(from))
	if len(pending) == 0 {
		return nil
	}
	now := time.Now
	if b.cfg.Now != nil {
		now = b.cfg.Now
	}
	var steps []schema.Step
	// Committed alone (once: a failing migration is not retried), with
	// the room past the size cap that deletes get: rewriting records
	// copies pages, and a store at its cap must still upgrade.
	if err := b.db.UpdateFree(ctx, func(tx *bolt.Tx) error {
		var err error
		steps, err = reg.Apply(tx, b.cfg.buildVersion(), now())
		return err
	}); err != nil {
		return err
	}
	for _, s := range steps {
		b.log.Info("store: schema migrated", "from", s.From, "to", s.To, "migration", s.Name)
	}
	b.schema.Store(int64(reg.Target()))
	return nil
}

// buildVersion is the version the schema history records.
func (c Config) buildVersion() string {
	if c.BuildVersion != "" && c.BuildVersion != "dev" {
		return c.BuildVersion
	}
	if v := softwareVersion(); v != "" {
		return v
	}
	return "dev"
}

// MigrateReport is what `storeedge migrate` found and did.
type MigrateReport struct {
	// Path is the database file; NoDatabase is true when it does not exist
	// yet (the broker creates it at Target).
	Path       string
	NoDatabase bool
	// Version is the database's schema version before; Target the
	// build's.
	Version, Target int
	// Pending are the migrations from Version to Target with what each
	// changes; Applied is false for a dry run (or when one would fail).
	Pending []schema.Change
	Applied bool
}

// ErrDaemonRunning is returned by Migrate while the daemon runs.
var ErrDaemonRunning = errors.New("the storeedge daemon is running (its admin socket answers): stop it first; it applies the migrations itself when it starts")

// Migrate lists, and unless dryRun applies, the pending schema migrations
// of a stopped store's database. A dry run applies them in a transaction
// that is rolled back, so that each is described on the data it would
// meet; the file is not written. A database newer than the build is a
// *schema.NewerError.
func Migrate(cfg Config, dryRun bool) (rep MigrateReport, err error) {
	path := filepath.Join(cfg.DataDir, DBFile)
	rep.Path = path
	reg, err := migrations(cfg)
	if err != nil {
		return rep, err
	}
	rep.Target = reg.Target()
	if c, err := net.DialTimeout("unix", filepath.Join(cfg.DataDir, AdminSocket), 2*time.Second); err == nil {
		c.Close()
		return rep, ErrDaemonRunning
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		rep.NoDatabase, rep.Version = true, rep.Target
		return rep, nil
	} else if err != nil {
		return rep, fmt.Errorf("store database: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return rep, fmt.Errorf("%s is locked by another process (a storeedge whose admin socket does not answer?): stop it first", path)
	}
	if err != nil {
		return rep, fmt.Errorf("open %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	// The preview: always rolled back.
	tx, err := db.Begin(true)
	if err != nil {
		return rep, fmt.Errorf("store database: %w", err)
	}
	rep.Version, rep.Pending, err = reg.Preview(tx)
	_ = tx.Rollback()
	if err != nil {
		return rep, err
	}
	if dryRun || len(rep.Pending) == 0 {
		return rep, nil
	}
	for _, c := range rep.Pending {
		if c.Err != nil {
			return rep, fmt.Errorf("migration %d→%d (%s) would fail, nothing was changed: %w", c.From, c.To, c.Name, c.Err)
		}
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := reg.Apply(tx, cfg.buildVersion(), time.Now())
		return err
	}); err != nil {
		return rep, err
	}
	rep.Applied = true
	return rep, nil
}

// Print writes the report as `storeedge migrate` shows it.
func (r MigrateReport) Print(w io.Writer, dryRun bool) {
	if r.NoDatabase {
		fmt.Fprintf(w, "no database yet at %s: the broker creates it at schema %d when it first starts\n", r.Path, r.Target)
		return
	}
	fmt.Fprintf(w, "database %s: schema %d; this storeedge brings it to schema %d\n", r.Path, r.Version, r.Target)
	if len(r.Pending) == 0 {
		fmt.Fprintln(w, "nothing to do: the database is up to date")
		return
	}
	if r.Applied {
		fmt.Fprintln(w, "migrations applied:")
	} else {
		fmt.Fprintln(w, "pending migrations:")
	}
	for _, c := range r.Pending {
		what := c.What
		if c.Err != nil {
			what = "would fail: " + c.Err.Error()
		}
		fmt.Fprintf(w, "  %d → %d  %s\n         %s\n", c.From, c.To, c.Name, what)
	}
	switch {
	case r.Applied:
		fmt.Fprintf(w, "applied: the database is now at schema %d\n", r.Target)
	case dryRun:
		fmt.Fprintln(w, "dry run: nothing was changed (storeedge migrate, or starting the broker, applies them)")
	}
}

// SchemaVersion is the database's schema version (the build's, once the
// broker has started).
func (b *Broker) SchemaVersion() int { return int(b.schema.Load()) }
