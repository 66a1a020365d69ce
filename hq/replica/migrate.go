package replica

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// migrate applies the embedded, versioned schema migrations in order.
// (Placeholder: the migration runner and migrations/0001_init.sql come with
// the replica's write side.)
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pool.Ping(ctx)
}
