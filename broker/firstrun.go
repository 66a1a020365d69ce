package broker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/broker/quota"
	"github.com/storeedge/storeedge/broker/setup"
	"github.com/storeedge/storeedge/proto"
)

// startSetup checks whether the store has an admin account. When it has
// none (and the build has an account registry, cfg.Admins), it makes the
// one-time setup code; printSetup tells the owner where to use it once the
// HTTP listener is up.
func (b *Broker) startSetup(ctx context.Context) error {
	s, code, err := setup.New(ctx, setup.Options{
		Admins:                 b.admins(),
		MinPasswordLength:      b.cfg.Accounts.MinPasswordLength,
		Settings:               b.svcs.settings,
		Catalogs:               b.catalogs(),
		FAQ:                    b.svcs.faq,
		Auditor:                b.svcs.audit,
		AttemptsPerMinute:      b.cfg.Setup.AttemptsPerMinute,
		AttemptsTotalPerMinute: b.cfg.Setup.AttemptsTotalPerMinute,
		Now:                    b.cfg.Now,
		Log:                    b.log,
	})
	if err != nil {
		return err
	}
	b.setup, b.setupCode = s, code
	return b.metrics.Register(rateLimitCollector{limiters: append(s.Limiters(), b.svcs.counter.Limiters()...)})
}

// admins is what makes the first admin at setup: cfg.Admins when set,
// else the store's account registry.
func (b *Broker) admins() setup.Admins {
	if b.cfg.Admins != nil {
		return b.cfg.Admins
	}
	return b.acc.reg
}

// catalogs is what installs a starter catalogue at setup: cfg.Catalogs
// when set, else the booking desk, whose catalogue lives in the database.
func (b *Broker) catalogs() setup.Catalogs {
	if b.cfg.Catalogs != nil {
		return b.cfg.Catalogs
	}
	return b.svcs.booking
}

// rateLimitCollector exports the refusals of the HTTP endpoints' rate
// limits on /metrics: storeedge_http_rate_limited_total{limit}.
type rateLimitCollector struct{ limiters []*quota.Limiter }

var httpRateLimited = prometheus.NewDesc("storeedge_http_rate_limited_total",
	"HTTP requests answered 429 rate_limited: limit is setup_attempts_per_address or setup_attempts (POST /setup), "+
		"counter_starts_per_address or counter_starts (POST /chat/start).",
	[]string{"limit"}, nil)

func (rateLimitCollector) Describe(ch chan<- *prometheus.Desc) { ch <- httpRateLimited }

func (c rateLimitCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.limiters {
		if l != nil {
			ch <- prometheus.MustNewConstMetric(httpRateLimited, prometheus.CounterValue, float64(l.Refused()), l.Name())
		}
	}
}

// webRoutes are the HTTP listener's handlers besides the pages.
func (b *Broker) webRoutes() map[string]http.Handler {
	r := map[string]http.Handler{RedeemPath: b.svcs.customers.Handler(), setup.Path: b.setup.Handler(), proto.EnrollPath: b.enrollHandler()}
	for p, h := range b.svcs.counter.Routes() {
		r[p] = h
	}
	return r
}

// printSetup prints the setup address on stderr and logs it, once, at
// start; the code is not kept anywhere else.
func (b *Broker) printSetup() {
	if b.setupCode == "" {
		return
	}
	addr := b.setupBase() + setup.Path + "?code=" + b.setupCode
	out := b.cfg.Stderr
	if out == nil {
		out = os.Stderr
	}
	fmt.Fprintf(out, "\nThis store has no admin account yet. To set it up, open this address in a browser\n"+
		"on the store's network (it works once, until it is used, and changes at each start):\n\n  %s\n\n", addr)
	b.log.Warn("first run: no admin account; open the setup address to set the store up", "address", addr)
}

// SetupAddress is the one-time setup address while the setup waits for
// it; "" once it was used, or when no setup is needed.
func (b *Broker) SetupAddress() string {
	if b.setupCode == "" || b.setup == nil || !b.setup.Pending() {
		return ""
	}
	return b.setupBase() + setup.Path + "?code=" + b.setupCode
}

// setupBase is http://host:port of the HTTP listener as a browser on the
// store's network reaches it: the box's LAN address when the listener is
// on every address and one can be told, else the listener's own.
func (b *Broker) setupBase() string {
	host, port, err := net.SplitHostPort(b.addrs.HTTP)
	if err != nil {
		return "http://" + b.addrs.HTTP
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if lan := lanAddress(); lan != "" {
			host = lan
		} else if ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// lanAddress is the box's first private IPv4 address on an interface that
// is up, else its first global unicast IPv4 address; "" when it has none.
func lanAddress() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	var global string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil || !n.IP.IsGlobalUnicast() {
				continue
			}
			if n.IP.IsPrivate() {
				return n.IP.String()
			}
			if global == "" {
				global = n.IP.String()
			}
		}
	}
	return global
}
