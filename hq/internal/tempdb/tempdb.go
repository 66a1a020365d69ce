// Package tempdb starts a throw-away PostgreSQL server for the tests of the
// fleet page and the replica's read queries: Debian's postgresql 15
// (/usr/lib/postgresql/*/bin, or $PG_BIN), run as the unprivileged user
// nobody (PostgreSQL refuses root) in a temporary directory, on a loopback
// port and a private socket directory. One server per test binary; a fresh
// database per test.
//
// Without PostgreSQL the test is skipped, or fails when CI is "true".
package tempdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL.
type Server struct {
	port int
	dir  string
	cmd  *exec.Cmd
	seq  int
	mu   sync.Mutex
}

var (
	once   sync.Once
	shared *Server
	errRun error
)

// nobody is the unprivileged user the server runs as.
const nobody = 65534

func binDir() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(m) == 0 {
		return "", errors.New("no /usr/lib/postgresql/*/bin/postgres")
	}
	sort.Strings(m)
	return filepath.Dir(m[len(m)-1]), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func asNobody(cmd *exec.Cmd) {
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
}

func start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tempdb-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	init := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	asNobody(init)
	if out, err := init.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-h", "127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	asNobody(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Server{port: port, dir: dir, cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.url("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return nil, fmt.Errorf("postgres did not start: %w\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond) // polling the server's start, with a deadline
	}
}

func (s *Server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// Stop ends the server and removes its directory.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	_ = s.cmd.Wait()
	_ = os.RemoveAll(s.dir)
}

// Main runs a test binary's tests and stops the server afterwards; call it
// from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	return code
}

// NewDB returns the URL of a fresh, empty database.
func NewDB(t testing.TB) string {
	t.Helper()
	once.Do(func() { shared, errRun = start() })
	if errRun != nil {
		msg := fmt.Sprintf("tempdb: no PostgreSQL (%v): install the Debian package \"postgresql\"", errRun)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	shared.mu.Lock()
	shared.seq++
	name := fmt.Sprintf("t%d", shared.seq)
	shared.mu.Unlock()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, shared.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return shared.url(name)
}

// CreateSchema creates HQ's tables (the schema of the replica's first
// migration) in the database at url, each only if it is not there: for
// tests that run before the replica's migrations exist, and harmless after.
func CreateSchema(t testing.TB, url string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, schema); err != nil {
		t.Fatalf("tempdb: schema: %v", err)
	}
}

const schema = `
CREATE TABLE IF NOT EXISTS stores (store text PRIMARY KEY, name text NOT NULL DEFAULT '', epoch text NOT NULL DEFAULT '',
  version text NOT NULL DEFAULT '', online boolean NOT NULL DEFAULT false, status_at timestamptz,
  last_seen timestamptz, backlog bigint NOT NULL DEFAULT 0, backlog_bytes bigint NOT NULL DEFAULT 0,
  oldest_at timestamptz, clock_skew_ms bigint NOT NULL DEFAULT 0, last_error text NOT NULL DEFAULT '',
  errors bigint NOT NULL DEFAULT 0, time_zone text NOT NULL DEFAULT '', first_seen timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS devices (store text NOT NULL, device text NOT NULL, online boolean NOT NULL DEFAULT false,
  last_seen timestamptz, status jsonb, PRIMARY KEY (store, device));
CREATE TABLE IF NOT EXISTS conversations (store text NOT NULL, conversation text NOT NULL, customer text NOT NULL DEFAULT '',
  opened_at timestamptz, last_at timestamptz, last_seq bigint NOT NULL DEFAULT 0,
  first_customer_at timestamptz, first_reply_at timestamptz, PRIMARY KEY (store, conversation));
CREATE TABLE IF NOT EXISTS messages (store text NOT NULL, conversation text NOT NULL, seq bigint NOT NULL, id text NOT NULL DEFAULT '',
  sender text NOT NULL DEFAULT '', kind text NOT NULL DEFAULT '', ts timestamptz, auto boolean NOT NULL DEFAULT false,
  recalled boolean NOT NULL DEFAULT false, body bytea, stored timestamptz, applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store, conversation, seq));
CREATE TABLE IF NOT EXISTS bookings (store text NOT NULL, booking text NOT NULL, customer text NOT NULL DEFAULT '', service text NOT NULL DEFAULT '',
  start_at timestamptz, end_at timestamptz, status text NOT NULL DEFAULT '', stage text NOT NULL DEFAULT '',
  resources text[] NOT NULL DEFAULT '{}', source text NOT NULL DEFAULT '', rev int NOT NULL DEFAULT 0,
  hq_request text NOT NULL DEFAULT '', updated_at timestamptz, PRIMARY KEY (store, booking));
CREATE TABLE IF NOT EXISTS shop_info (store text PRIMARY KEY, version bigint NOT NULL DEFAULT 0, info jsonb NOT NULL, ts timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (id text PRIMARY KEY, name text NOT NULL, hash bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), revoked_at timestamptz);
`
