package webpush

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	replies    *prometheus.CounterVec
	sent       *prometheus.CounterVec
	reconnects prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hq_push_replies_total",
			Help: "Staff replies to customers with notifications on, by outcome: pushed (this instance sent it), claimed_elsewhere (another instance did), stale (older than push.ttl), error (not pushed; logged).",
		}, []string{"outcome"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hq_push_sent_total",
			Help: "Notifications posted to push services, by result: delivered, gone (404/410: the subscription was deleted), rejected (other 4xx), unavailable (429, 5xx), error (no answer).",
		}, []string{"result"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hq_push_listen_reconnects_total",
			Help: "Times the connection listening for new replies was lost and made again.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.replies, m.sent, m.reconnects} {
			if err := reg.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					return nil, fmt.Errorf("webpush: metrics: %w", err)
				}
			}
		}
	}
	return m, nil
}

// burst logs the first failure of a burst and how many followed it: a
// line at most once a minute while failures go on, and one when they
// stop.
type burst struct {
	mu      sync.Mutex
	first   time.Time // of the line last logged; zero: no burst
	quieted int       // failures since that line
}

func (b *burst) note(log *slog.Logger, msg string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if b.first.IsZero() || now.Sub(b.first) >= time.Minute {
		if b.quieted > 0 {
			args = append(args, "more_failures_not_logged", b.quieted)
		}
		log.Warn(msg, args...)
		b.first, b.quieted = now, 0
		return
	}
	b.quieted++
}

func (b *burst) ok(log *slog.Logger) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first.IsZero() {
		return
	}
	if b.quieted > 0 {
		log.Info("webpush: working again", "failures_not_logged", b.quieted)
	}
	b.first, b.quieted = time.Time{}, 0
}
