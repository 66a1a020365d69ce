package pgtest_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// Each test gets its own empty database on the one shared server.
func TestFreshDatabases(t *testing.T) {
	a := pgtest.Start(t)
	b := a.NewDB(t)
	c := pgtest.Start(t)
	if a.URL == b || a.URL == c.URL || b == c.URL {
		t.Fatalf("databases not distinct: %s %s %s", a.URL, b, c.URL)
	}
	if a.Addr() != c.Addr() {
		t.Fatalf("two servers for one package: %s %s", a.Addr(), c.Addr())
	}
	ctx := context.Background()
	ca := connect(t, a.URL)
	if _, err := ca.Exec(ctx, "CREATE TABLE x (v int); INSERT INTO x VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	cb := connect(t, b)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("table x visible in another test's database")
	}
	if os.Geteuid() == 0 {
		// The server refuses root: it runs as nobody.
		var pid int
		if err := ca.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
			t.Fatalf("server runs as uid %d, want 65534", uid)
		}
	}
}

// A private server stops and starts again on the same address with the
// committed data; while stopped, nothing connects.
func TestStopStartKeepsCommits(t *testing.T) {
	s := pgtest.StartPrivate(t)
	ctx := context.Background()
	c := connect(t, s.URL)
	if _, err := c.Exec(ctx, "CREATE TABLE x (v int); INSERT INTO x VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	_ = c.Close(ctx)
	s.Stop()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if c2, err := pgx.Connect(cctx, s.URL); err == nil {
		_ = c2.Close(ctx)
		cancel()
		t.Fatal("connected to a stopped server")
	}
	cancel()
	s.Start()
	c = connect(t, s.URL)
	var v int
	if err := c.QueryRow(ctx, "SELECT v FROM x").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != 42 {
		t.Fatalf("v = %d after restart, want 42", v)
	}
}

// A private server is gone when its test ends: no process is left.
func TestPrivateServerEnds(t *testing.T) {
	var pid int
	t.Run("inner", func(t *testing.T) {
		s := pgtest.StartPrivate(t)
		c := connect(t, s.URL)
		if err := c.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		var ppid string
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		ppid = strings.Fields(string(b))[3]
		pid, _ = strconv.Atoi(ppid) // the postmaster
	})
	if pid == 0 {
		t.Fatal("no server pid")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Fatalf("postmaster %d still runs after its test", pid)
	}
}
