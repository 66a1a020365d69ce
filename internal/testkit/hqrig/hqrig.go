// Package hqrig runs a whole HQ for a test in one call: a PostgreSQL
// (pgtest), a mosquitto with persistence in the role of HQ's MQTT 5 broker
// (mosquittotest) and storeedge-hq itself, built once per test binary and
// run as a child process with a configuration pointing at them, an API key
// made with "storeedge-hq key add", and readiness (/readyz) waited for.
// Stores linked to it (LinkStore) are real store brokers whose cloudsync
// reaches HQ's broker through a faultproxy, so a test can cut the store's
// internet and give it back.
//
// A test package using it calls pgtest.Main in its TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		hq := hqrig.Start(t, hqrig.Options{})
//		s := hq.LinkStore(t, "s1")
//		hq.WaitOnline(t, "s1", true, 30*time.Second)
//		s.Cut()     // the store's internet is gone
//		s.Restore() // and back
//	}
//
// How fast HQ notices: Cut makes the proxy reset the store's connection
// and refuse new ones, so HQ's broker sees the connection end at once and
// publishes the store's Last Will (offline, retained); storeedge-hq applies
// it as soon as it consumes it, well under a second on this machine
// (TestLinkedStoreOnlineOfflineOnline measures it and fails past 15 s). A
// link that goes silent without a reset (faultproxy's Stall) is noticed
// only when the broker's keep-alive runs out: 1.5 × cloud.keepalive.
// After Restore the store reconnects within its cloud.reconnect_max
// (200 ms here) and publishes its presence (online).
package hqrig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/faultproxy"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// Options configure Start.
type Options struct {
	// Listen is storeedge-hq's HTTP address. A host alone or a port 0
	// ("10.200.0.1", "10.200.0.1:0") gets a port free on that host, so a
	// test can bind HQ to an address a network namespace reaches. Default:
	// a free port on 127.0.0.1.
	Listen string
	// YAML is appended to storeedge-hq's hq.yaml (home:, push:, …);
	// "{dir}" in it becomes HQ's directory (Dir), where Files are.
	YAML string
	// Files are written into HQ's directory (Dir) before it starts, by
	// name: a TURN secret, a VAPID key, … that YAML names with Dir.
	Files map[string][]byte
}

// HQ is a running HQ: its database, its broker and storeedge-hq.
type HQ struct {
	// URL is storeedge-hq's HTTP base, "http://host:port" (no slash).
	URL string
	// Addr is storeedge-hq's HTTP address, host:port.
	Addr string
	// Postgres is the replica's database URL.
	Postgres string
	// MQTT is HQ's broker; MQTT.Addr is where stores and tests connect.
	MQTT *mosquittotest.Broker
	// Key is an API key (hqk_…) made with "storeedge-hq key add".
	Key string
	// Dir holds hq.yaml, the seal keys and Options.Files.
	Dir string

	t   testing.TB
	bin string
	cfg string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// Start starts PostgreSQL (a fresh database), mosquitto (persistent) and
// storeedge-hq, waits until HQ is ready and makes an API key. Everything
// stops when the test ends.
func Start(t testing.TB, o Options) *HQ {
	t.Helper()
	bin := binary(t)
	mq := mosquittotest.Start(t, mosquittotest.Options{Persistence: true})
	pg := pgtest.Start(t)
	h := &HQ{t: t, bin: bin, MQTT: mq, Postgres: pg.URL, Dir: t.TempDir()}
	addr, err := freeAddr(o.Listen)
	if err != nil {
		t.Fatal(err)
	}
	h.Addr, h.URL = addr, "http://"+addr
	for name, b := range o.Files {
		if err := os.WriteFile(filepath.Join(h.Dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	h.cfg = filepath.Join(h.Dir, "hq.yaml")
	y := "seal:\n  keys_env: \"\"\n  keys_file: " + filepath.Join(h.Dir, "seal.keys") + "\ningest:\n  drain_timeout: 5s\n" +
		strings.ReplaceAll(o.YAML, "{dir}", h.Dir)
	if err := os.WriteFile(h.cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.Kill()
		if t.Failed() {
			t.Logf("hqrig: storeedge-hq's log:\n%s", tail(h.Log(), 16000))
		}
	})
	h.start()
	key := exec.Command(bin, "-config", h.cfg, "-postgres", h.Postgres, "key", "add", "hqrig")
	key.Dir = h.Dir
	out, err := key.CombinedOutput()
	if err != nil {
		t.Fatalf("hqrig: storeedge-hq key add: %v\n%s", err, out)
	}
	h.Key = regexp.MustCompile(`hqk_[0-9a-f]{12}_[a-z2-7]+`).FindString(string(out))
	if h.Key == "" {
		t.Fatalf("hqrig: no key in the output of key add:\n%s", out)
	}
	return h
}

// start runs storeedge-hq and waits (60 s at most) until /readyz says
// ready: the database reached and the broker subscribed.
func (h *HQ) start() {
	h.t.Helper()
	cmd := exec.Command(h.bin, "-config", h.cfg, "-postgres", h.Postgres, "-mqtt", "mqtt://"+h.MQTT.Addr,
		"-listen", h.Addr, "-client-id", "hqrig-1")
	// In HQ's directory: what its configuration names relative to the
	// working directory (push's VAPID key, ./hq-vapid.pem) is made there,
	// not in the test's package.
	cmd.Dir = h.Dir
	h.mu.Lock()
	fmt.Fprintf(&h.log, "---- start %s\n", time.Now().UTC().Format(time.RFC3339Nano))
	cmd.Stdout, cmd.Stderr = lockedWriter{h}, lockedWriter{h}
	h.mu.Unlock()
	// A test binary that dies does not leave HQ running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("hqrig: start storeedge-hq: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	h.mu.Lock()
	h.cmd, h.done = cmd, done
	h.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, err := h.do(context.Background(), http.MethodGet, "/readyz", "", nil)
		if err == nil && code == http.StatusOK {
			return
		}
		select {
		case <-done:
			h.t.Fatalf("hqrig: storeedge-hq exited before it was ready:\n%s", h.Log())
		case <-time.After(50 * time.Millisecond): // polling readiness with a deadline
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("hqrig: storeedge-hq not ready within 60 s (last %d %v):\n%s", code, err, h.Log())
		}
	}
}

type lockedWriter struct{ h *HQ }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	return w.h.log.Write(b)
}

// Log is what storeedge-hq printed, over all its starts.
func (h *HQ) Log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

// Stop stops storeedge-hq with SIGTERM (it acknowledges what it applied
// and leaves) and waits for it; Restart starts it again.
func (h *HQ) Stop() { h.signal(syscall.SIGTERM) }

// Kill stops storeedge-hq with SIGKILL and waits for it.
func (h *HQ) Kill() { h.signal(syscall.SIGKILL) }

// Restart stops storeedge-hq (SIGTERM) if it runs and starts it again on
// the same address, database and broker session.
func (h *HQ) Restart() {
	h.t.Helper()
	h.Stop()
	h.start()
}

func (h *HQ) signal(sig syscall.Signal) {
	h.mu.Lock()
	cmd, done := h.cmd, h.done
	h.cmd = nil
	h.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Do sends an HTTP request to storeedge-hq with the API key (method, path
// from the root, a JSON body or ""); it answers the status and the body.
func (h *HQ) Do(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, b, err := h.do(ctx, method, path, body, map[string]string{"Authorization": "Bearer " + h.Key})
	if err != nil {
		t.Fatalf("hqrig: %s %s: %v", method, path, err)
	}
	return code, b
}

// API is GET path with the API key; a status other than 200 fails the test.
func (h *HQ) API(t testing.TB, path string) []byte {
	t.Helper()
	code, b := h.Do(t, http.MethodGet, path, "")
	if code != http.StatusOK {
		t.Fatalf("hqrig: GET %s: %d %s", path, code, b)
	}
	return b
}

// APIJSON is API decoding the answer into v.
func (h *HQ) APIJSON(t testing.TB, path string, v any) {
	t.Helper()
	b := h.API(t, path)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("hqrig: GET %s: %v: %s", path, err, b)
	}
}

func (h *HQ) do(ctx context.Context, method, path, body string, header map[string]string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.URL+path, r)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Online reports whether HQ's replica has the store online (GET
// /api/v1/stores/{id}); a store HQ has not heard of is not online.
func (h *HQ) Online(t testing.TB, store string) bool {
	t.Helper()
	code, b := h.Do(t, http.MethodGet, "/api/v1/stores/"+store, "")
	if code == http.StatusNotFound {
		return false
	}
	if code != http.StatusOK {
		t.Fatalf("hqrig: GET /api/v1/stores/%s: %d %s", store, code, b)
	}
	var row struct {
		Online bool `json:"online"`
	}
	if err := json.Unmarshal(b, &row); err != nil {
		t.Fatalf("hqrig: store %s: %v: %s", store, err, b)
	}
	return row.Online
}

// WaitOnline waits until HQ shows the store online (want) or offline,
// within timeout, and returns how long it took.
func (h *HQ) WaitOnline(t testing.TB, store string, want bool, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !time.Now().After(start.Add(timeout)) {
		if h.Online(t, store) == want {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	_, b := h.Do(t, http.MethodGet, "/api/v1/stores/"+store, "")
	t.Fatalf("hqrig: store %s not online=%v at HQ within %v: %s\n%s", store, want, timeout, b, tail(h.Log(), 4000))
	return 0
}

// Store is a store broker linked to HQ through a fault proxy.
type Store struct {
	*storetest.Store
	ID string
	// Proxy stands between the store's cloudsync and HQ's broker.
	Proxy *faultproxy.Proxy
}

// Cut takes the store's internet away: its connection to HQ's broker is
// reset and new ones are refused until Restore.
func (s *Store) Cut() { s.Proxy.Down() }

// Restore gives the store its internet back; it reconnects by itself.
func (s *Store) Restore() { s.Proxy.Up() }

// LinkStore starts a store broker (storetest, in this process) with the
// id storeID whose cloudsync reaches HQ's broker through a faultproxy.
// Its clock starts at the real time now (HQ's replica and the store then
// agree on "today"). Its topic map (cloud.map_file) is the default one
// with home_url pointing at this HQ's page at home (URL + "/home/"), so
// the store's "Continue at home" links open it.
func (h *HQ) LinkStore(t testing.TB, storeID string) *Store {
	t.Helper()
	return h.LinkStoreWith(t, storeID, storetest.Options{Start: time.Now()})
}

// LinkStoreWith is LinkStore with the store's options (devices, clock,
// more configuration: o.Config runs after the link is set).
func (h *HQ) LinkStoreWith(t testing.TB, storeID string, o storetest.Options) *Store {
	t.Helper()
	p, err := faultproxy.New("127.0.0.1:0", h.MQTT.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	mapFile := ""
	if m, ok := homeMap(configs.Cloud, h.URL+"/home/"); ok {
		mapFile = filepath.Join(t.TempDir(), "cloud.yaml")
		if err := os.WriteFile(mapFile, m, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	more := o.Config
	o.Config = func(c *broker.Config) {
		c.StoreID = storeID
		c.Cloud.URL = "mqtt://" + p.Addr()
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
		if mapFile != "" {
			c.Cloud.MapFile = mapFile
		}
		if more != nil {
			more(c)
		}
	}
	return &Store{Store: storetest.Start(t, o), ID: storeID, Proxy: p}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds storeedge-hq once per test binary, in a directory named
// after this process; directories left by test binaries that are gone are
// removed first.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root := filepath.Join(os.TempDir(), "storeedge-hqrig")
		if err := os.MkdirAll(root, 0o700); err != nil {
			buildErr = err
			return
		}
		removeStale(root)
		dir := filepath.Join(root, strconv.Itoa(os.Getpid()))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "storeedge-hq")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", binPath, "github.com/storeedge/storeedge/hq/cmd/storeedge-hq").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("hqrig: go build storeedge-hq: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// removeStale removes the build directories of processes that have ended.
func removeStale(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// freeAddr turns listen into an address with a port that was free a
// moment ago on its host.
func freeAddr(listen string) (string, error) {
	host, port := "127.0.0.1", "0"
	if listen != "" {
		if h, p, err := net.SplitHostPort(listen); err == nil {
			host, port = h, p
		} else {
			host = listen
		}
	}
	if port != "0" && port != "" {
		return net.JoinHostPort(host, port), nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("hqrig: no free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// homeLine is cloud.yaml's home_url line.
var homeLine = regexp.MustCompile(`(?m)^home_url:.*$`)

// homeMap is the topic map src with its home_url set to url; false when
// src has no home_url.
func homeMap(src []byte, url string) ([]byte, bool) {
	if !homeLine.Match(src) {
		return nil, false
	}
	q, _ := json.Marshal(url) // a JSON string is a YAML string
	return homeLine.ReplaceAll(src, []byte("home_url: "+strings.ReplaceAll(string(q), "$", "$$"))), true
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
