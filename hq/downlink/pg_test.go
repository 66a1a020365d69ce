package downlink_test

// A private PostgreSQL for this package's tests, until the shared test kit
// (internal/testkit/pgtest) and the replica's migrations are on this
// branch: one server per package (as the unprivileged user nobody:
// PostgreSQL refuses root), a fresh database per test with the tables this
// package writes, as the replica's schema declares them.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const pgBin = "/usr/lib/postgresql/15/bin"

var pg struct {
	once sync.Once
	dir  string
	port int
	cmd  *exec.Cmd
	err  error
	n    atomic.Int64
}

// TestMain stops the package's PostgreSQL after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if pg.cmd != nil {
		_ = pg.cmd.Process.Signal(syscall.SIGINT)
		_, _ = pg.cmd.Process.Wait()
	}
	if pg.dir != "" {
		_ = os.RemoveAll(pg.dir)
	}
	os.Exit(code)
}

func startServer() error {
	if _, err := os.Stat(filepath.Join(pgBin, "postgres")); err != nil {
		return fmt.Errorf("no PostgreSQL at %s: install the Debian package postgresql", pgBin)
	}
	dir, err := os.MkdirTemp("", "hq-downlink-pg-")
	if err != nil {
		return err
	}
	pg.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		return err
	}
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	initdb := exec.Command(filepath.Join(pgBin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = cred
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	pg.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(filepath.Join(pgBin, "postgres"), "-D", filepath.Join(dir, "data"), "-p", fmt.Sprint(pg.port),
		"-k", dir, "-h", "127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off")
	cmd.SysProcAttr = cred
	cmd.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	pg.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := pgx.Connect(context.Background(), pgURL("postgres"))
		if err == nil {
			_ = c.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return fmt.Errorf("PostgreSQL did not start: %w\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

func pgURL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

// schema is the part of the replica's schema this package writes.
const schema = `
CREATE TABLE stores (store text PRIMARY KEY, name text NOT NULL DEFAULT '', epoch text NOT NULL DEFAULT '',
  version text NOT NULL DEFAULT '', online boolean NOT NULL DEFAULT false, status_at timestamptz,
  last_seen timestamptz, backlog bigint NOT NULL DEFAULT 0, backlog_bytes bigint NOT NULL DEFAULT 0,
  oldest_at timestamptz, clock_skew_ms bigint NOT NULL DEFAULT 0, last_error text NOT NULL DEFAULT '',
  errors bigint NOT NULL DEFAULT 0, time_zone text NOT NULL DEFAULT '', first_seen timestamptz NOT NULL DEFAULT now());
CREATE TABLE notices (id text PRIMARY KEY, kind text NOT NULL, title text NOT NULL, body text NOT NULL DEFAULT '',
  target text[] NOT NULL DEFAULT '{}', sent_by text NOT NULL, sent_at timestamptz NOT NULL, expires timestamptz);
CREATE TABLE notice_deliveries (notice text NOT NULL, store text NOT NULL, acked_at timestamptz NOT NULL, PRIMARY KEY (notice, store));
CREATE TABLE config_pushes (store text NOT NULL, version bigint NOT NULL, id text NOT NULL UNIQUE, push jsonb NOT NULL,
  sent_by text NOT NULL, sent_at timestamptz NOT NULL, state text NOT NULL DEFAULT 'sent',
  code text NOT NULL DEFAULT '', reason text NOT NULL DEFAULT '', errors jsonb, answered_at timestamptz, PRIMARY KEY (store, version));
CREATE TABLE hq_audit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), actor text NOT NULL, action text NOT NULL,
  target text NOT NULL DEFAULT '', detail jsonb);
`

// newDB starts the package's server once and returns a pool on a fresh
// database with the schema and the given stores known.
func newDB(t *testing.T, stores ...string) *pgxpool.Pool {
	t.Helper()
	pg.once.Do(func() { pg.err = startServer() })
	if pg.err != nil {
		t.Fatal(pg.err)
	}
	ctx := context.Background()
	name := fmt.Sprintf("t%d", pg.n.Add(1))
	admin, err := pgx.Connect(ctx, pgURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, pgURL(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, schema); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		if _, err := pool.Exec(ctx, `INSERT INTO stores (store) VALUES ($1)`, s); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}
