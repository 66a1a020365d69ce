// Package pgtest runs a real PostgreSQL for a test package: one server per
// test binary, started on first use, and a fresh database per test.
//
//	func TestMain(m *testing.M) { pgtest.Main(m) } // stops the server at the end
//
//	func TestX(t *testing.T) {
//		pg := pgtest.Start(t)  // pg.URL: a fresh database
//		other := pg.NewDB(t)   // another fresh database on the same server
//	}
//
// The server is Debian's (package postgresql: the newest
// /usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root, so under
// root it runs as uid/gid 65534 (nobody) in a data directory owned by that
// user. It listens on a free loopback port and on a Unix socket in its own
// directory. It runs with fsync=off, synchronous_commit=off and
// full_page_writes=off: a test does not survive a power cut of the test
// machine, and the commits it waits for are still commits (visible to every
// other connection, kept across Stop/Start).
//
// Without pgtest.Main the server still dies with the test binary (the
// kernel signals it when the process that started it ends), but its
// temporary directory stays behind. A missing PostgreSQL skips the test
// locally and fails it under CI (CI set), naming the Debian package.
//
// A test that restarts PostgreSQL (Stop, then Start) takes a server of its
// own with StartPrivate, so the other tests of the package keep theirs.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Debian package that provides the server.
const debianPackage = "postgresql"

// nobody is the uid/gid the server runs as when the tests run as root.
const nobody = 65534

// Server is a database on a running PostgreSQL.
type Server struct {
	// URL is a postgres:// URL of a database made for this Server's test.
	URL  string
	inst *instance
	t    testing.TB
}

// NewDB makes another fresh, empty database on the same server and returns
// its URL.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	u, err := s.inst.newDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Stop stops the server (a fast shutdown: open connections are closed,
// committed transactions stay). Only for a server from StartPrivate.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.inst.stop(); err != nil {
		s.t.Fatal(err)
	}
}

// Start starts a stopped server again, on the same port with the same data,
// and waits until it takes connections.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.inst.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.inst.addr }

var (
	sharedMu   sync.Mutex
	shared     *instance
	sharedErr  error
	private    []*instance
	dbCounter  atomic.Int64
	binDirOnce sync.Once
	binDir     string
	binDirErr  error
)

// Start returns a fresh database on the package's shared server, starting
// the server on first use.
func Start(t testing.TB) *Server {
	t.Helper()
	dir := needBinaries(t)
	sharedMu.Lock()
	if shared == nil && sharedErr == nil {
		shared, sharedErr = launch(dir)
	}
	inst, err := shared, sharedErr
	sharedMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	return &Server{URL: newDBOrFail(t, inst), inst: inst, t: t}
}

// StartPrivate starts a server for this test only (stopped when the test
// ends) and returns a fresh database on it. Stop and Start are for it.
func StartPrivate(t testing.TB) *Server {
	t.Helper()
	dir := needBinaries(t)
	inst, err := launch(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.destroy() })
	return &Server{URL: newDBOrFail(t, inst), inst: inst, t: t}
}

func newDBOrFail(t testing.TB, inst *instance) string {
	t.Helper()
	u, err := inst.newDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Main runs the package's tests and stops the shared server afterwards,
// removing its files. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	if shared != nil {
		shared.destroy()
		shared = nil
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// needBinaries finds the newest /usr/lib/postgresql/*/bin with postgres and
// initdb; missing ones skip the test locally and fail it under CI.
func needBinaries(t testing.TB) string {
	t.Helper()
	binDirOnce.Do(func() { binDir, binDirErr = findBinaries() })
	if binDirErr != nil {
		msg := fmt.Sprintf("pgtest: %v: install the Debian package %s (make deps)", binDirErr, debianPackage)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return binDir
}

func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "postgres")) && isExec(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// instance is one PostgreSQL server process and its directory.
type instance struct {
	bin  string
	dir  string // temporary root: data/ and sock/
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	waited chan struct{}
	output bytes.Buffer
}

func (in *instance) data() string { return filepath.Join(in.dir, "data") }
func (in *instance) sock() string { return filepath.Join(in.dir, "sock") }

// launch makes a data directory with initdb and starts the server.
func launch(bin string) (*instance, error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	in := &instance{bin: bin, dir: dir}
	if err := in.prepare(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		in.addr, err = freePort()
		if err != nil {
			in.destroy()
			return nil, err
		}
		err = in.start()
		if err == nil {
			return in, nil
		}
		if attempt == 3 || !strings.Contains(err.Error(), "in use") {
			in.destroy()
			return nil, err
		}
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// asServer is the credential the server runs under: nobody when we are
// root (PostgreSQL refuses root), else ourselves.
func asServer() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	return &syscall.Credential{Uid: nobody, Gid: nobody, NoSetGroups: true}
}

func (in *instance) prepare() error {
	for _, d := range []string{in.data(), in.sock()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	if asServer() != nil {
		// The temporary root must be passable, the data and socket
		// directories owned by the server's user.
		if err := os.Chmod(in.dir, 0o755); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		for _, d := range []string{in.data(), in.sock()} {
			if err := os.Chown(d, nobody, nobody); err != nil {
				return fmt.Errorf("pgtest: %w", err)
			}
		}
	}
	cmd := exec.Command(filepath.Join(in.bin, "initdb"), "-D", in.data(), "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	cmd.Dir = in.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: asServer()}
	if out, err := runLocked(cmd); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return nil
}

// spawner starts every server process from one goroutine locked to its OS
// thread for the life of the test binary: the parent-death signal the
// kernel sends when that thread ends then arrives exactly when the test
// binary exits, so no server outlives it.
var (
	spawnOnce sync.Once
	spawnReq  chan func()
)

func onSpawner(f func()) {
	spawnOnce.Do(func() {
		spawnReq = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range spawnReq {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnReq <- func() { f(); close(done) }
	<-done
}

func runLocked(cmd *exec.Cmd) ([]byte, error) {
	var out []byte
	var err error
	onSpawner(func() { out, err = cmd.CombinedOutput() })
	return out, err
}

// start runs the server and waits until it takes connections.
func (in *instance) start() error {
	in.mu.Lock()
	if in.cmd != nil {
		in.mu.Unlock()
		return errors.New("pgtest: server already running")
	}
	_, port, _ := net.SplitHostPort(in.addr)
	cmd := exec.Command(filepath.Join(in.bin, "postgres"), "-D", in.data(), "-p", port,
		"-k", in.sock(), "-h", "127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "logging_collector=off",
		"-c", "log_destination=stderr")
	cmd.Dir = in.dir
	in.output.Reset()
	cmd.Stdout = &lockedWriter{in: in}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: asServer(), Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	var err error
	onSpawner(func() { err = cmd.Start() })
	if err != nil {
		in.mu.Unlock()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	waited := make(chan struct{})
	in.cmd, in.waited = cmd, waited
	in.mu.Unlock()
	go func() { _ = cmd.Wait(); close(waited) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, cerr := pgx.Connect(ctx, in.url("postgres"))
		if cerr == nil {
			_ = c.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case <-waited:
			in.mu.Lock()
			out := in.output.String()
			in.cmd = nil
			in.mu.Unlock()
			if strings.Contains(out, "already in use") {
				return fmt.Errorf("pgtest: postgres exited: address in use\n%s", out)
			}
			return fmt.Errorf("pgtest: postgres exited at start\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			_ = in.stop()
			return fmt.Errorf("pgtest: postgres not ready after 30s: %w\n%s", cerr, in.outputString())
		}
		time.Sleep(50 * time.Millisecond) // poll interval for readiness, not synchronisation
	}
}

type lockedWriter struct{ in *instance }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.in.mu.Lock()
	defer w.in.mu.Unlock()
	if w.in.output.Len() < 1<<20 {
		w.in.output.Write(p)
	}
	return len(p), nil
}

func (in *instance) outputString() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.output.String()
}

// stop makes a fast shutdown (SIGINT) and waits for the server to exit.
func (in *instance) stop() error {
	in.mu.Lock()
	cmd, waited := in.cmd, in.waited
	in.cmd = nil
	in.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-waited:
		return nil
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		return errors.New("pgtest: postgres did not stop within 30s; killed")
	}
}

// destroy stops the server and removes its files.
func (in *instance) destroy() {
	_ = in.stop()
	_ = os.RemoveAll(in.dir)
}

func (in *instance) url(db string) string {
	return "postgres://postgres@" + in.addr + "/" + db + "?sslmode=disable"
}

func (in *instance) newDB(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbCounter.Add(1))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, in.url("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: connect: %w\n%s", err, in.outputString())
	}
	defer c.Close(ctx)
	// CREATE DATABASE copies template1; two at once contend for it, so
	// they go one at a time (the server says "source database is being
	// accessed by other users" otherwise).
	createMu.Lock()
	defer createMu.Unlock()
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return in.url(name), nil
}

var createMu sync.Mutex
