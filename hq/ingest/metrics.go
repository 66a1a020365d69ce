package ingest

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// lagBuckets span a live link (milliseconds) to a store back after days.
var lagBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400, 7 * 86400}

// metrics are the consumer's Prometheus metrics.
type metrics struct {
	messages  *prometheus.CounterVec
	drained   prometheus.Counter
	unhandled *prometheus.CounterVec
	dbErrors  prometheus.Counter
	resyncs   prometheus.Counter
	lag       prometheus.Histogram
	applyLag  prometheus.Histogram
	connected prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hq_ingest_messages_total",
			Help: "Uplink messages taken, by outcome: applied, duplicate, parked, deferred (parked while another instance applied its stream), stale (its range was given up), bad (can never apply), status (a store's presence), dropped (QoS 0 with its worker's queue full).",
		}, []string{"outcome"}),
		drained: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hq_ingest_drained_total",
			Help: "Parked messages applied when the gap before them closed.",
		}),
		unhandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hq_ingest_unhandled_total",
			Help: "Messages of a local topic nobody handles (recorded as seen, their stream moved on).",
		}, []string{"topic"}),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hq_ingest_db_errors_total",
			Help: "Database errors while applying (the message stays unacknowledged and is tried again).",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hq_ingest_resync_requests_total",
			Help: "Resync requests (ranges and snapshots) sent to stores.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hq_ingest_lag_seconds",
			Help:    "From the store filing a message (its ts, the store's clock) to its receipt by HQ, for messages applied.",
			Buckets: lagBuckets,
		}),
		applyLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hq_ingest_apply_lag_seconds",
			Help:    "From the store filing a message (its ts, the store's clock) to its commit in the replica.",
			Buckets: lagBuckets,
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hq_ingest_connected",
			Help: "1 when connected to HQ's broker and subscribed.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.messages, m.drained, m.unhandled, m.dbErrors, m.resyncs, m.lag, m.applyLag, m.connected} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, err
		}
	}
	return m, nil
}
