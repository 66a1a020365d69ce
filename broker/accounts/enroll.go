package accounts

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/proto"
)

// MaxEnrollBytes bounds the body of POST /enroll.
const MaxEnrollBytes = 1 << 10

// Error codes of POST /enroll.
const (
	CodeBadRequest       = "bad_request"        // 400: not JSON, or no code
	CodeNotFound         = "not_found"          // 404: unknown or used code
	CodeExpired          = "expired"            // 410: the code's 10 minutes are over
	CodeMethodNotAllowed = "method_not_allowed" // 405: not a POST
	CodeTooLarge         = "too_large"          // 413: body over MaxEnrollBytes
	CodeQuotaExceeded    = "quota_exceeded"     // 429: too many attempts; Retry-After says when
	CodeInternal         = "internal"           // 500: the store failed
)

// EnrollOptions configure EnrollHandler.
type EnrollOptions struct {
	// PerAddressPerMinute is how many attempts one source address may make
	// in a minute; TotalPerMinute bounds all addresses together. Past
	// either, 429 quota_exceeded. 0 = the defaults (10, 60).
	PerAddressPerMinute int
	TotalPerMinute      int
	// MQTT and WebSocket are told to the device with its credentials.
	MQTT, WebSocket string
	// OnRefused is called for each attempt refused by the limits (a metric).
	OnRefused func()
	Log       *slog.Logger
}

// EnrollHandler serves POST /enroll:
//
//	POST {"code":"K7M2-QX9P"}  (JSON, at most 1 KiB; case, spaces and dashes ignored)
//	200 {"id":"kiosk-…","password":"…","role":"kiosk","name":"…","room":"…","mqtt":"host:port","websocket":"…"}
//
// Errors carry {"error":{"code":…,"message":…}}: 400 bad_request, 404
// not_found (unknown or already used), 410 expired, 405, 413, 429
// quota_exceeded (with Retry-After), 500 internal. Every answer is
// Cache-Control: no-store.
func (r *Registry) EnrollHandler(o EnrollOptions) http.Handler {
	if o.PerAddressPerMinute <= 0 {
		o.PerAddressPerMinute = DefaultEnrollPerMinute
	}
	if o.TotalPerMinute <= 0 {
		o.TotalPerMinute = DefaultEnrollTotalPerMin
	}
	if o.Log == nil {
		o.Log = r.log
	}
	return &enrollHandler{r: r, o: o, per: map[string]*window{}}
}

type enrollHandler struct {
	r *Registry
	o EnrollOptions

	mu      sync.Mutex
	per     map[string]*window
	total   window
	refused atomic.Int64
}

// window counts attempts in the current minute.
type window struct {
	start  time.Time
	n      int
	logged bool
}

func (w *window) take(now time.Time, limit int) (ok, first bool) {
	if now.Sub(w.start) >= time.Minute || now.Before(w.start) {
		*w = window{start: now}
	}
	w.n++
	if w.n <= limit {
		return true, false
	}
	first = !w.logged
	w.logged = true
	return false, first
}

// allow applies both limits (on the store's clock).
func (h *enrollHandler) allow(src string) (bool, time.Duration) {
	now := h.r.o.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.per) > 4096 {
		for k, w := range h.per {
			if now.Sub(w.start) >= time.Minute {
				delete(h.per, k)
			}
		}
	}
	w := h.per[src]
	if w == nil {
		w = &window{start: now}
		h.per[src] = w
	}
	ok, first := w.take(now, h.o.PerAddressPerMinute)
	if ok {
		if ok, first = h.total.take(now, h.o.TotalPerMinute); ok {
			return true, 0
		}
		w = &h.total
	}
	if first {
		h.o.Log.Warn("accounts: too many enrolment attempts: refusing for the rest of the minute (accounts.enroll_per_minute, accounts.enroll_total_per_minute)",
			"remote", src, "per_address", h.o.PerAddressPerMinute, "total", h.o.TotalPerMinute)
	}
	return false, w.start.Add(time.Minute).Sub(now)
}

func (h *enrollHandler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST")
		return
	}
	src, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		src = req.RemoteAddr
	}
	if ok, wait := h.allow(src); !ok {
		h.refused.Add(1)
		if h.o.OnRefused != nil {
			h.o.OnRefused()
		}
		w.Header().Set("Retry-After", itoa(int(wait/time.Second)+1))
		writeError(w, http.StatusTooManyRequests, CodeQuotaExceeded, "too many enrolment attempts; try again in a minute")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxEnrollBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, "the request body is too large")
			return
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, "could not read the request body")
		return
	}
	var q struct {
		Code *string `json:"code"`
	}
	if err := json.Unmarshal(body, &q); err != nil || q.Code == nil || *q.Code == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, `want a JSON object {"code": "…"}`)
		return
	}
	e, pw, err := h.r.Redeem(req.Context(), *q.Code)
	switch {
	case err == nil:
		h.o.Log.Info("accounts: device enrolled", "device", e.ID, "role", e.Role, "remote", src)
		writeJSON(w, http.StatusOK, proto.EnrollAnswer{ID: e.ID, Password: pw, Role: e.Role, Name: e.Name, Room: e.Room,
			MQTT: h.o.MQTT, WebSocket: h.o.WebSocket})
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, "unknown or already used pairing code")
	case errors.Is(err, ErrExpired):
		writeError(w, http.StatusGone, CodeExpired, "the pairing code has expired; add the device again or ask for a new code")
	default:
		h.o.Log.Error("accounts: enrolment failed", "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, "could not enrol the device")
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.Error(w, status, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
