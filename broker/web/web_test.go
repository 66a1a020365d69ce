package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/storeedge/storeedge/broker/mqtt/metrics"
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

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var testAssets = fstest.MapFS{
	"index.html":             {Data: []byte("<!doctype html><title>root</title>")},
	"camera/index.html":      {Data: []byte("<!doctype html><title>camera</title>")},
	"camera/camera.js":       {Data: []byte("'use strict';")},
	"camera/camera.css":      {Data: []byte("body{}")},
	"img/logo.png":           {Data: []byte("\x89PNG\r\n\x1a\n")},
	"img/logo.svg":           {Data: []byte("<svg/>")},
	"data.bin":               {Data: []byte("<html>not html</html>")},
	".secret":                {Data: []byte("hidden")},
	"camera/.notes.md":       {Data: []byte("hidden")},
	"nolisting/file.txt":     {Data: []byte("a file")},
	"healthz":                {Data: []byte("a file shadowed by the endpoint")},
	"redeem/index.html":      {Data: []byte("shadowed by a route")},
	"vendor/mqtt.LICENSE.md": {Data: []byte("MIT")},
}

func TestAssetsServed(t *testing.T) {
	h := web.New(web.Options{Assets: testAssets, Routes: map[string]http.Handler{
		"/redeem/": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "route") }),
	}})
	for _, tc := range []struct {
		path, body, ctype string
	}{
		{"/", "<!doctype html><title>root</title>", "text/html; charset=utf-8"},
		{"/index.html", "<!doctype html><title>root</title>", "text/html; charset=utf-8"},
		{"/camera/", "<!doctype html><title>camera</title>", "text/html; charset=utf-8"},
		{"/camera/?camera=cam-1&u=staff-anna", "<!doctype html><title>camera</title>", "text/html; charset=utf-8"},
		{"/camera/camera.js", "'use strict';", "text/javascript; charset=utf-8"},
		{"/camera/camera.css", "body{}", "text/css; charset=utf-8"},
		{"/img/logo.png", "\x89PNG\r\n\x1a\n", "image/png"},
		{"/img/logo.svg", "<svg/>", "image/svg+xml"},
		// Unknown extensions are not sniffed into HTML.
		{"/data.bin", "<html>not html</html>", "application/octet-stream"},
		{"/vendor/mqtt.LICENSE.md", "MIT", "text/markdown; charset=utf-8"},
	} {
		rec := get(t, h, http.MethodGet, tc.path)
		if rec.Code != http.StatusOK || rec.Body.String() != tc.body {
			t.Errorf("GET %s = %d %q, want 200 %q", tc.path, rec.Code, rec.Body, tc.body)
			continue
		}
		hd := rec.Header()
		if got := hd.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if hd.Get("X-Content-Type-Options") != "nosniff" || hd.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: nosniff %q, Cache-Control %q", tc.path, hd.Get("X-Content-Type-Options"), hd.Get("Cache-Control"))
		}
		csp := hd.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws: wss:", "media-src 'self' blob:", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", tc.path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q allows inline or eval", tc.path, csp)
		}
		if etag := hd.Get("ETag"); len(etag) < 10 || etag[0] != '"' {
			t.Errorf("GET %s: ETag %q", tc.path, etag)
		}
		if n := hd.Get("Content-Length"); n != fmt.Sprint(len(tc.body)) {
			t.Errorf("GET %s: Content-Length %q, want %d", tc.path, n, len(tc.body))
		}
	}

	// Endpoints and routes come before the assets.
	if rec := get(t, h, http.MethodGet, "/healthz"); rec.Body.String() != "ok\n" {
		t.Errorf("GET /healthz served %q", rec.Body)
	}
	if rec := get(t, h, http.MethodGet, "/redeem/"); rec.Body.String() != "route" {
		t.Errorf("GET /redeem/ served %q, want the route", rec.Body)
	}
}

func TestAssetsETag(t *testing.T) {
	h := web.New(web.Options{Assets: testAssets})
	rec := get(t, h, http.MethodGet, "/camera/camera.js")
	etag := rec.Header().Get("ETag")
	if other := get(t, h, http.MethodGet, "/camera/camera.css").Header().Get("ETag"); other == etag {
		t.Fatalf("two files share the ETag %s", etag)
	}
	if again := get(t, h, http.MethodGet, "/camera/camera.js").Header().Get("ETag"); again != etag {
		t.Fatalf("ETag changed from %s to %s", etag, again)
	}
	for _, inm := range []string{etag, "W/" + etag, `"nope", ` + etag, "*"} {
		rec := get(t, h, http.MethodGet, "/camera/camera.js", "If-None-Match", inm)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: %d with %d body bytes, want 304 and none", inm, rec.Code, rec.Body.Len())
		}
		if rec.Header().Get("ETag") != etag || rec.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("If-None-Match %s: 304 headers %v", inm, rec.Header())
		}
	}
	if rec := get(t, h, http.MethodGet, "/camera/camera.js", "If-None-Match", `"other"`); rec.Code != http.StatusOK || rec.Body.String() != "'use strict';" {
		t.Errorf("stale ETag: %d %q, want the file", rec.Code, rec.Body)
	}
}

func TestAssetsETagFollowsEdits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.js")
	if err := os.WriteFile(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := web.New(web.Options{Assets: os.DirFS(dir)})
	first := get(t, h, http.MethodGet, "/app.js")
	if err := os.WriteFile(path, []byte("second"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := get(t, h, http.MethodGet, "/app.js")
	if second.Body.String() != "second" || second.Header().Get("ETag") == first.Header().Get("ETag") {
		t.Fatalf("after an edit: %q with ETag %s (was %s)", second.Body, second.Header().Get("ETag"), first.Header().Get("ETag"))
	}
}

func TestAssetsHead(t *testing.T) {
	h := web.New(web.Options{Assets: testAssets})
	rec := get(t, h, http.MethodHead, "/camera/camera.js")
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("HEAD = %d with %d body bytes", rec.Code, rec.Body.Len())
	}
	if rec.Header().Get("Content-Length") != "13" || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" || rec.Header().Get("ETag") == "" {
		t.Fatalf("HEAD headers %v", rec.Header())
	}
}

func TestAssetsRefused(t *testing.T) {
	h := web.New(web.Options{Assets: testAssets})
	for _, path := range []string{
		"/missing.js",
		"/camera/missing.js",
		"/camera/camera.js/",
		"/nolisting/", // a directory without index.html: no listing
		"/nolisting",  // nor a redirect to one
		"/img/",       // idem
		"/.secret",    // hidden files
		"/camera/.notes.md",
		"/../web.go", // out of the tree
		"/camera/../index.html",
		"/camera/./camera.js",
		"/%2e%2e/web.go",
		"/camera/%2e%2e/index.html",
		"//camera/camera.js",
		"/camera//camera.js",
		"/camera\\camera.js",
	} {
		rec := get(t, h, http.MethodGet, path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d %q, want 404", path, rec.Code, rec.Body)
			continue
		}
		decode(t, rec)
	}

	rec := get(t, h, http.MethodGet, "/camera?camera=cam-1")
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/camera/?camera=cam-1" {
		t.Errorf("GET /camera = %d Location %q, want 301 to /camera/?camera=cam-1", rec.Code, rec.Header().Get("Location"))
	}

	rec = get(t, h, http.MethodPost, "/camera/camera.js")
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST an asset = %d Allow %q, want 405 GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
	if rec := get(t, h, http.MethodPost, "/missing.js"); rec.Code != http.StatusNotFound {
		t.Errorf("POST a missing asset = %d, want 404", rec.Code)
	}
}

// The embedded pages must run under the CSP: no inline script, style or
// event handler attributes, and nothing loaded from another origin.
func TestEmbeddedAssets(t *testing.T) {
	assets := web.Assets()
	for _, name := range []string{"camera/index.html", "camera/camera.js", "camera/camera.css", "vendor/mqtt.min.js", "vendor/mqtt.LICENSE.md"} {
		if st, err := fs.Stat(assets, name); err != nil || st.Size() == 0 {
			t.Errorf("embedded %s: %v", name, err)
		}
	}
	script := regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)
	inline := []*regexp.Regexp{
		regexp.MustCompile(`(?i)<style`),
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`),
		regexp.MustCompile(`(?i)javascript:`),
	}
	err := fs.WalkDir(assets, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".html") {
			return err
		}
		b, err := fs.ReadFile(assets, name)
		if err != nil {
			return err
		}
		for _, m := range script.FindAllSubmatch(b, -1) {
			if !bytes.Contains(m[1], []byte("src=")) || len(bytes.TrimSpace(m[2])) != 0 {
				t.Errorf("%s: inline script %q would be blocked by the CSP", name, m[0])
			}
		}
		for _, re := range inline {
			if m := re.Find(b); m != nil {
				t.Errorf("%s: %q would be blocked by the CSP or loads from elsewhere", name, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	h := web.New(web.Options{Assets: assets})
	rec := get(t, h, http.MethodGet, "/camera/")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `src="/vendor/mqtt.min.js"`) {
		t.Fatalf("GET /camera/ = %d, not the viewer page", rec.Code)
	}
	rec = get(t, h, http.MethodGet, "/vendor/mqtt.min.js")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" || rec.Body.Len() < 100<<10 {
		t.Fatalf("GET /vendor/mqtt.min.js = %d %s, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}

func TestClientJSON(t *testing.T) {
	h := web.New(web.Options{Client: &web.ClientConfig{
		MQTT:  web.ClientMQTT{WSPort: 8083, WSPath: "/mqtt"},
		Store: "demo-store",
	}})
	rec := get(t, h, http.MethodGet, "/client.json")
	// Before the owner names the store, its name is its id.
	want := `{"v":1,"mqtt":{"ws_port":8083,"ws_path":"/mqtt"},"store":"demo-store","name":"demo-store"}` + "\n"
	if rec.Code != http.StatusOK || rec.Body.String() != want {
		t.Fatalf("GET /client.json = %d %q, want %q", rec.Code, rec.Body, want)
	}
	// The name she set is read at each request.
	name := "Paws & Cradle"
	named := web.New(web.Options{Client: &web.ClientConfig{Store: "demo-store", NameFunc: func() string { return name }}})
	if rec := get(t, named, http.MethodGet, "/client.json"); !strings.Contains(rec.Body.String(), `"name":"Paws \u0026 Cradle"`) {
		t.Fatalf("GET /client.json with a name = %q", rec.Body)
	}
	name = "宠爱母婴"
	if rec := get(t, named, http.MethodGet, "/client.json"); !strings.Contains(rec.Body.String(), `"name":"宠爱母婴"`) {
		t.Fatalf("GET /client.json after renaming = %q", rec.Body)
	}
	if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /client.json headers %v", rec.Header())
	}
	if rec := get(t, h, http.MethodHead, "/client.json"); rec.Code != http.StatusOK {
		t.Fatalf("HEAD /client.json = %d", rec.Code)
	}
	if rec := get(t, h, http.MethodPost, "/client.json"); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /client.json = %d, want 405", rec.Code)
	}
	if rec := get(t, web.New(web.Options{}), http.MethodGet, "/client.json"); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /client.json without Client = %d, want 404", rec.Code)
	}
}
