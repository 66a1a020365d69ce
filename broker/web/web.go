// Package web holds the broker's HTTP listener: health, readiness and metrics endpoints, the browser pages (the camera viewer) and the server that runs them.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Options configures the handler returned by New.
type Options struct {
	// Metrics serves GET /metrics. Nil answers 404.
	Metrics http.Handler
	// Ready reports whether the broker can take traffic; nil means always
	// ready. It runs on every /readyz request, so it must be quick and must
	// not block.
	Ready func() error
	// Log receives readiness changes. Nil discards them.
	Log *slog.Logger
	// Routes are further handlers by exact path (e.g. the scan-to-chat
	// token redemption); each handles its own methods.
	Routes map[string]http.Handler
	// Assets are static files (Assets() gives the embedded pages) served
	// for GET and HEAD of any other path; a directory's path serves its
	// index.html. Nil serves none.
	Assets fs.FS
	// Client is served as GET /client.json, telling pages where MQTT over
	// WebSocket is. Nil answers 404.
	Client *ClientConfig
}

// New returns the HTTP handler of the broker's web listener:
//
//	GET /healthz      200 "ok" while the process serves HTTP
//	GET /readyz       200 {"ready":true}, or 503 {"ready":false,"reason":"..."}
//	GET /metrics      Options.Metrics
//	GET /client.json  Options.Client
//	GET /...          Options.Assets, after Options.Routes
//
// HEAD is accepted wherever GET is. Other methods on these paths get 405
// with an Allow header; other paths get 404. Errors are JSON.
func New(o Options) http.Handler {
	h := &handler{opts: o, log: o.Log}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if o.Assets != nil {
		h.assets = newAssets(o.Assets)
	}
	h.ready.Store(true)
	return h
}

type handler struct {
	opts   Options
	log    *slog.Logger
	assets *assets     // nil without Options.Assets
	ready  atomic.Bool // last readiness answered, to log changes only
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var serve http.HandlerFunc
	switch r.URL.Path {
	case "/healthz":
		serve = h.healthz
	case "/readyz":
		serve = h.readyz
	case "/metrics":
		if h.opts.Metrics == nil {
			writeJSON(w, http.StatusNotFound, errorBody{Error: "metrics are disabled"})
			return
		}
		serve = h.opts.Metrics.ServeHTTP
	case "/client.json":
		if h.opts.Client == nil {
			writeJSON(w, http.StatusNotFound, errorBody{Error: "not found"})
			return
		}
		serve = h.client
	default:
		if rh, ok := h.opts.Routes[r.URL.Path]; ok {
			rh.ServeHTTP(w, r)
			return
		}
		if h.assets != nil && h.assets.serve(w, r) {
			return
		}
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not found"})
		return
	}
	if !getOrHead(w, r) {
		return
	}
	serve(w, r)
}

// getOrHead answers 405 to other methods.
func getOrHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method not allowed"})
	return false
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

type readyBody struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
}

func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	var err error
	if h.opts.Ready != nil {
		err = h.opts.Ready()
	}
	if err != nil {
		if h.ready.Swap(false) {
			h.log.Warn("broker not ready", "reason", err)
		}
		writeJSON(w, http.StatusServiceUnavailable, readyBody{Ready: false, Reason: err.Error()})
		return
	}
	if !h.ready.Swap(true) {
		h.log.Info("broker ready")
	}
	writeJSON(w, http.StatusOK, readyBody{Ready: true})
}

type errorBody struct {
	Error string `json:"error"`
}

// writeJSON writes v with status. A write error means the client went away;
// there is nobody left to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain structs of strings and bools are passed
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Server timeouts. Scrapes, probes and pages are small (the largest page
// asset is the MQTT client, 340 KB); nothing here streams.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 5 * time.Second
)

// Serve listens on addr (":0" picks a free port) and serves h until ctx is
// cancelled, then shuts down gracefully, giving in-flight requests up to 5 s.
// It returns the bound address and a channel that is closed once the server
// has stopped; before closing it carries the error that stopped the server
// abnormally, if any. A listen error is returned directly.
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (net.Addr, <-chan error, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("web: listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	done := make(chan error, 1)
	go func() {
		defer close(done)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()

		select {
		case err := <-served: // Serve only returns early on an accept failure.
			done <- fmt.Errorf("web: serve %s: %w", ln.Addr(), err)
			return
		case <-ctx.Done():
		}

		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		var errs []error
		if err := srv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("web: shutdown %s: %w", ln.Addr(), err), srv.Close())
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("web: serve %s: %w", ln.Addr(), err))
		}
		if err := errors.Join(errs...); err != nil {
			done <- err
		}
	}()
	return ln.Addr(), done, nil
}
