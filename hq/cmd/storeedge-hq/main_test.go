package main

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/eclipse/paho.golang/paho"
	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "storeedge-hq-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "storeedge-hq")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The binary takes the stores' messages into the replica, says it is ready
// only with database and broker, exports metrics, and stops on SIGTERM.
func TestBinary(t *testing.T) {
	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pg := pgtest.Start(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hq.yaml")
	if err := os.WriteFile(cfg, []byte("seal:\n  keys_env: \"\"\n  keys_file: "+filepath.Join(dir, "seal.keys")+"\ningest:\n  drain_timeout: 5s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	var out syncBuf
	cmd := exec.Command(binary(t), "-config", cfg, "-postgres", pg.URL, "-mqtt", "mqtt://"+mq.Addr,
		"-listen", httpAddr, "-client-id", "hq-test-1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	base := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _ := get(base + "/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 30s (last %d)\n%s", code, out.String())
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if code, _ := get(base + "/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if fi, err := os.Stat(filepath.Join(dir, "seal.keys")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}

	// A store publishes its status and a booking change.
	conn, err := net.Dial("tcp", mq.Addr)
	if err != nil {
		t.Fatal(err)
	}
	pub := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "store-s1", OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := pub.Connect(ctx, &paho.Connect{ClientID: "store-s1", KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	defer pub.Disconnect(&paho.Disconnect{})
	st, _ := json.Marshal(proto.StoreStatus{V: 1, Store: "s1", Online: true, Epoch: "e1", TS: time.Now()})
	if _, err := pub.Publish(ctx, &paho.Publish{QoS: 1, Retain: true, Topic: proto.CloudStatusTopic("s1"), Payload: st}); err != nil {
		t.Fatal(err)
	}
	ch, _ := json.Marshal(proto.Change{V: 1, Seq: 1, Type: proto.ChangeCreated, Booking: "b1", Customer: "c1", Rev: 1, TS: time.Now()})
	props := paho.UserProperties{{Key: proto.PropStore, Value: "s1"}, {Key: proto.PropOrigin, Value: "e1/1"},
		{Key: proto.PropSeq, Value: "1"}, {Key: proto.PropStored, Value: time.Now().UTC().Format(time.RFC3339Nano)},
		{Key: proto.PropEpoch, Value: "e1"}, {Key: proto.PropStream, Value: "booking"}, {Key: proto.PropSSeq, Value: strconv.Itoa(1)}}
	if _, err := pub.Publish(ctx, &paho.Publish{QoS: 1, Topic: proto.CloudUpTopic("s1", "booking/changes"), Payload: ch,
		Properties: &paho.PublishProperties{User: props}}); err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	for {
		var n int
		if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM bookings WHERE booking = 'b1') + (SELECT count(*) FROM stores WHERE store = 's1' AND online)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("booking and status not in the replica\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	code, metrics := get(base + "/metrics")
	if code != 200 || !strings.Contains(metrics, `hq_ingest_messages_total{outcome="applied"} 1`) ||
		!strings.Contains(metrics, `hq_ingest_messages_total{outcome="status"} 1`) ||
		!strings.Contains(metrics, "hq_ingest_apply_lag_seconds_count 1") || !strings.Contains(metrics, "hq_ingest_lag_seconds_count 1") {
		t.Fatalf("metrics %d:\n%s", code, metrics)
	}
	// The fleet page wants a sign-in; a key made with "key add" opens the API.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get(base + "/"); err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/signin?next=%2F" {
		t.Fatalf("the fleet page without a sign-in: %v %v", resp, err)
	}
	if code, _ := get(base + "/api/v1/stores"); code != http.StatusUnauthorized {
		t.Fatalf("the API without a key: %d", code)
	}
	keyOut, err := exec.Command(binary(t), "-config", cfg, "-postgres", pg.URL, "key", "add", "ops desk").CombinedOutput()
	if err != nil {
		t.Fatalf("key add: %v\n%s", err, keyOut)
	}
	key := regexp.MustCompile(`hqk_[0-9a-f]{12}_[a-z2-7]+`).FindString(string(keyOut))
	req, _ := http.NewRequest("GET", base+"/api/v1/stores/s1/status", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"online":true`) {
		t.Fatalf("s1's status with the key: %d %s\n%s", resp.StatusCode, body, keyOut)
	}
	// The downlink's API behind the same sign-in: refused without the key,
	// sent with it, its audit naming the key.
	notice := `{"id":"n-bin","kind":"notice","title":"Closed on the 1st","all":true}`
	if resp, err := http.Post(base+"/api/v1/notices", "application/json", strings.NewReader(notice)); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a notice without a key: %v %v", resp, err)
	}
	req, _ = http.NewRequest("POST", base+"/api/v1/notices", strings.NewReader(notice))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HQ-Actor", "someone else")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("a notice with the key: %d %s", resp.StatusCode, body)
	}
	var actor string
	if err := db.QueryRow(ctx, `SELECT actor FROM hq_audit ORDER BY id DESC LIMIT 1`).Scan(&actor); err != nil || actor != "ops desk" {
		t.Fatalf("the notice's audit names %q (%v), want the key's name", actor, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGTERM\n%s", out.String())
	}
	if !strings.Contains(out.String(), "storeedge-hq stopped") {
		t.Fatalf("no orderly stop:\n%s", out.String())
	}
}

// A bad setting stops the binary before it connects anywhere, naming the key.
func TestBinaryRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hq.yaml")
	if err := os.WriteFile(cfg, []byte("ingest:\n  workers: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t), "-config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "ingest.workers 0") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}
