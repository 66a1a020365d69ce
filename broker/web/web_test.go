package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/metrics"
	"github.com/storeedge/storeedge/broker/web"
)

func do(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body, err)
	}
	return v
}

func TestHealthz(t *testing.T) {
	h := web.New(web.Options{Ready: func() error { return errors.New("store closed") }})
	rec := do(t, h, http.MethodGet, "/healthz")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Fatalf("GET /healthz = %d %q, want 200 ok (health ignores readiness)", rec.Code, rec.Body)
	}
	if rec := do(t, h, http.MethodHead, "/healthz"); rec.Code != http.StatusOK {
		t.Fatalf("HEAD /healthz = %d, want 200", rec.Code)
	}
}

func TestReadyz(t *testing.T) {
	var logs bytes.Buffer
	var notReady atomic.Pointer[error]
	h := web.New(web.Options{
		Ready: func() error {
			if p := notReady.Load(); p != nil {
				return *p
			}
			return nil
		},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})

	rec := do(t, h, http.MethodGet, "/readyz")
	if rec.Code != http.StatusOK || decode(t, rec)["ready"] != true {
		t.Fatalf("ready broker: %d %s", rec.Code, rec.Body)
	}

	err := errors.New(`store "main" is migrating`)
	notReady.Store(&err)
	for range 2 {
		rec = do(t, h, http.MethodGet, "/readyz")
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("not ready: status %d, want 503", rec.Code)
		}
		v := decode(t, rec)
		if v["ready"] != false || v["reason"] != err.Error() {
			t.Fatalf("not ready: body %s", rec.Body)
		}
	}
	if n := strings.Count(logs.String(), "broker not ready"); n != 1 {
		t.Errorf("logged 'broker not ready' %d times, want once per change:\n%s", n, logs.String())
	}

	notReady.Store(nil)
	if rec := do(t, h, http.MethodGet, "/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("ready again: status %d", rec.Code)
	}
	if !strings.Contains(logs.String(), "broker ready") {
		t.Errorf("return to ready not logged:\n%s", logs.String())
	}

	if rec := do(t, web.New(web.Options{}), http.MethodGet, "/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("nil Ready: status %d, want 200", rec.Code)
	}
}

func TestMetrics(t *testing.T) {
	m := metrics.New(nil)
	m.IncQueueDropped()
	h := web.New(web.Options{Metrics: m.Handler()})
	rec := do(t, h, http.MethodGet, "/metrics")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "storeedge_session_queue_dropped_total 1") {
		t.Fatalf("GET /metrics = %d:\n%s", rec.Code, rec.Body)
	}

	rec = do(t, web.New(web.Options{}), http.MethodGet, "/metrics")
	if rec.Code != http.StatusNotFound {
		t.Fatalf("metrics disabled: status %d, want 404", rec.Code)
	}
	decode(t, rec)
}

func TestNotFoundAndMethods(t *testing.T) {
	h := web.New(web.Options{Metrics: http.NotFoundHandler()})
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/healthz/x", http.StatusNotFound},
		{http.MethodPost, "/nope", http.StatusNotFound},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
		{http.MethodPut, "/readyz", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/metrics", http.StatusMethodNotAllowed},
	} {
		rec := do(t, h, tc.method, tc.path)
		if rec.Code != tc.code {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, rec.Code, tc.code)
			continue
		}
		if msg, _ := decode(t, rec)["error"].(string); msg == "" {
			t.Errorf("%s %s: no error text in %s", tc.method, tc.path, rec.Body)
		}
		if tc.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow = %q", tc.method, tc.path, rec.Header().Get("Allow"))
		}
	}
}

// waitDone waits for Serve's channel to close and returns what it carried.
func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
		return nil
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done, err := web.Serve(ctx, "127.0.0.1:0", web.New(web.Options{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if addr.(*net.TCPAddr).Port == 0 {
		t.Fatalf("bound address %v has no port", addr)
	}
	base := "http://" + addr.String()

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("GET /healthz = %d %q %v", resp.StatusCode, body, err)
	}

	resp, err = http.Head(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("HEAD /readyz = %d with %d body bytes", resp.StatusCode, len(body))
	}

	cancel()
	if err := waitDone(t, done); err != nil {
		t.Fatalf("clean shutdown reported %v", err)
	}
	if _, ok := <-done; ok {
		t.Fatal("done channel not closed")
	}
	if c, err := net.Dial("tcp", addr.String()); err == nil {
		c.Close()
		t.Fatal("still accepting after shutdown")
	}
}

func TestServeFinishesInFlightRequests(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "late")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done, err := web.Serve(ctx, "127.0.0.1:0", slow, nil)
	if err != nil {
		t.Fatal(err)
	}

	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr.String() + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{string(b), err}
	}()
	<-entered
	cancel()

	// The listener closes at once; the request in flight is still served.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still open after cancel")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("server stopped before its in-flight request finished")
	default:
	}
	close(release)
	if r := <-res; r.err != nil || r.body != "late" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := waitDone(t, done); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, _, err := web.Serve(context.Background(), ln.Addr().String(), web.New(web.Options{}), nil); err == nil {
		t.Fatal("Serve on a used port succeeded")
	}
}
