package setup

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/quota"
	"github.com/storeedge/storeedge/broker/svc"
)

// Paths of the printed counter QR code.
const (
	// StartPath gives a phone that scanned the counter code a new
	// customer login (POST).
	StartPath = "/chat/start"
	// CounterPNGPath is the counter code as a PNG, CounterInfoPath what
	// it holds and the store's name (GET); the page /tablet/print shows
	// them.
	CounterPNGPath  = "/tablet/counter.png"
	CounterInfoPath = "/tablet/counter.json"
)

// Logins issues customer logins (*customer.Store).
type Logins interface {
	Issue(ctx context.Context, customer, issuedBy string) (customer.Ticket, error)
	Redeem(ctx context.Context, token string) (customer.Login, error)
}

// CounterOptions configure NewCounter.
type CounterOptions struct {
	Logins Logins
	// PublicURL is the customer page as phones reach it (chat.public_url);
	// the counter code holds it with start=1.
	PublicURL string
	// Name returns the store's name for the printed page.
	Name func() string
	// PerAddressPerHour new logins to one address, PerMinute to all.
	PerAddressPerHour int
	PerMinute         int
	Now               func() time.Time
	Log               *slog.Logger
}

// Counter serves the printed counter QR code: a code that does not
// expire, whose page asks the store for a new customer login itself.
type Counter struct {
	o              CounterOptions
	url            string
	perAddr, total *quota.Limiter
}

// NewCounter returns the counter's handlers' state.
func NewCounter(o CounterOptions) (*Counter, error) {
	if o.Logins == nil {
		return nil, errors.New("setup: counter: no customer logins")
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("setup: counter: public URL is not an absolute URL")
	}
	q := u.Query()
	q.Set("start", "1")
	u.RawQuery = q.Encode()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Name == nil {
		o.Name = func() string { return "" }
	}
	return &Counter{o: o, url: u.String(),
		perAddr: quota.New(quota.Options{Name: "counter_starts_per_address", Unit: "logins", Per: int64(o.PerAddressPerHour), Window: time.Hour, Now: o.Now, Log: o.Log}),
		total:   quota.New(quota.Options{Name: "counter_starts", Unit: "logins", Per: int64(o.PerMinute), Window: time.Minute, Now: o.Now, Log: o.Log}),
	}, nil
}

// URL is what the counter code holds.
func (c *Counter) URL() string { return c.url }

// Limiters are the counter's rate limits (per address, in total), for the
// metrics.
func (c *Counter) Limiters() []*quota.Limiter { return []*quota.Limiter{c.perAddr, c.total} }

// Routes returns the counter's handlers by path.
func (c *Counter) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		StartPath:       http.HandlerFunc(c.serveStart),
		CounterPNGPath:  http.HandlerFunc(c.servePNG),
		CounterInfoPath: http.HandlerFunc(c.serveInfo),
	}
}

type startError struct {
	Error startErrorDetail `json:"error"`
}

type startErrorDetail struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter int64  `json:"retry_after,omitempty"`
}

type startAnswer struct {
	Customer string    `json:"customer"`
	Username string    `json:"username"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
}

// serveStart: POST /chat/start (no body needed) gives a new customer
// login, as /chat/redeem does for a one-time code: 200
// {"customer","username","password","expires"}. 429 rate_limited with
// retry_after (seconds) past the limits; 405 for other methods; 500
// internal.
func (c *Counter) serveStart(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, startError{startErrorDetail{Code: "method_not_allowed", Message: "use POST"}})
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if err := c.perAddr.Take(host, 1); err != nil {
		c.refuse(w, err)
		return
	}
	if err := c.total.Take("*", 1); err != nil {
		c.perAddr.Give(host, 1)
		c.refuse(w, err)
		return
	}
	t, err := c.o.Logins.Issue(r.Context(), "", "counter")
	if err == nil {
		var l customer.Login
		if l, err = c.o.Logins.Redeem(r.Context(), t.Token); err == nil {
			writeJSON(w, http.StatusOK, startAnswer{Customer: l.Customer, Username: l.Username, Password: l.Password, Expires: l.Expires})
			return
		}
	}
	c.perAddr.Give(host, 1)
	c.total.Give("*", 1)
	if errors.Is(err, customer.ErrQuota) {
		writeJSON(w, http.StatusTooManyRequests, startError{startErrorDetail{Code: "rate_limited", Message: "too many open codes; retry in a minute", RetryAfter: 60}})
		return
	}
	c.o.Log.Error("counter: could not start a customer login", "err", err)
	writeJSON(w, http.StatusInternalServerError, startError{startErrorDetail{Code: "internal", Message: "could not start a chat"}})
}

func (c *Counter) refuse(w http.ResponseWriter, err error) {
	retry := int64(60)
	var se *svc.Error
	if errors.As(err, &se) {
		if d, ok := se.Details.(quota.Details); ok && d.RetryAfter > 0 {
			retry = d.RetryAfter
		}
	}
	writeJSON(w, http.StatusTooManyRequests, startError{startErrorDetail{Code: "rate_limited", Message: "too many new chats from here; retry later", RetryAfter: retry}})
}

func (c *Counter) servePNG(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, startError{startErrorDetail{Code: "method_not_allowed", Message: "use GET"}})
		return
	}
	png, err := customer.QRPNG(c.url, 1024)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, startError{startErrorDetail{Code: "internal", Message: "could not draw the code"}})
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(png)
}

func (c *Counter) serveInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, startError{startErrorDetail{Code: "method_not_allowed", Message: "use GET"}})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, struct {
		URL   string `json:"url"`
		Store string `json:"store"`
	}{c.url, c.o.Name()})
}
