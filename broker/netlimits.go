package broker

import (
	"fmt"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/broker/mqtt/listener"
)

// netMetrics count what the listeners and the login limits refuse.
type netMetrics struct {
	acceptErrors   *prometheus.CounterVec
	pendingRefused *prometheus.CounterVec
	loginBackoff   prometheus.Counter
}

func (b *Broker) registerNetMetrics() error {
	b.netm = netMetrics{
		acceptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storeedge_accept_errors_total",
			Help: "Failed accepts of an MQTT listener (out of file descriptors...); the listener retries after 5 ms to 1 s.",
		}, []string{"listener"}),
		pendingRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storeedge_pending_connects_refused_total",
			Help: "Sockets closed at accept: too many not logged in yet, in total (limits.max_pending_connects) or from one address (scope=address).",
		}, []string{"listener", "scope"}),
		loginBackoff: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "storeedge_login_backoff_refused_total",
			Help: "Logins refused unchecked after repeated wrong passwords for the device from that address (auth.login_backoff_after).",
		}),
	}
	srv := b.srv
	for _, c := range []prometheus.Collector{
		b.netm.acceptErrors, b.netm.pendingRefused, b.netm.loginBackoff,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "storeedge_pending_connects",
			Help: "Sockets open and not logged in yet.",
		}, func() float64 {
			if b.pending == nil {
				return 0
			}
			return float64(b.pending.Count())
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "storeedge_connects_too_large_total",
			Help: "Connections closed for a CONNECT longer than limits.max_connect_bytes.",
		}, func() float64 { return float64(atomic.LoadInt64(&srv.Info.ConnectsTooLarge)) }),
	} {
		if err := b.metrics.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// loggedIn takes a client's socket out of the count of sockets not logged
// in once it is authenticated.
type loggedIn struct {
	mqtt.HookBase
	pending *listener.Pending
}

func (h *loggedIn) ID() string { return "storeedge-logged-in" }

func (h *loggedIn) Provides(b byte) bool { return b == mqtt.OnSessionEstablish }

func (h *loggedIn) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	h.pending.LoggedIn(cl.Net.Remote)
}
