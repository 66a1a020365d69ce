package broker

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Alive answers whether the running broker can still do its work, for a
// service manager's watchdog (systemd's WatchdogSec, through
// internal/sdnotify): it is not shutting down and a read of the database
// answers. A read needs no disk space and writes nothing, so a full disk
// (which the broker survives and recovers from) does not count as dead;
// a read that does not come back (a wedged file lock, storage that no
// longer answers) makes the caller's deadline pass, which is the point.
func (b *Broker) Alive(ctx context.Context) error {
	if !b.ready.Load() {
		return errors.New("not serving: starting or shutting down")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Cursor()
		c.First()
		return nil
	})
	if err != nil {
		return fmt.Errorf("database read: %w", err)
	}
	return ctx.Err()
}
