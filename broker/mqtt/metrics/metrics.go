// Package metrics holds the Prometheus metrics of the store broker: a mochi hook that counts MQTT traffic, gauges read from mochi's server info, and store metrics fed by other packages.
package metrics

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "storeedge"

// Drop reasons used as the "reason" label of storeedge_messages_dropped_total.
const (
	// DropSendBufferFull counts QoS 0 deliveries dropped because the
	// subscriber's send buffer (limits.send_buffer_bytes) was full.
	DropSendBufferFull = "send_buffer_full"
	// DropQueueFull counts QoS 1/2 deliveries not queued for a connected
	// session because it held limits.max_queued_messages already; the client
	// is disconnected for it (storeedge_disconnects_total{reason="queue_full"}),
	// and a persistent session has them in its store.
	DropQueueFull = "queue_full"
)

// DisconnectQueueFull is the reason label of clients the broker disconnected
// (MQTT 5: DISCONNECT 0x97) because their session queue was full.
const DisconnectQueueFull = "queue_full"

// commitBuckets are the storeedge_store_commit_seconds buckets: 100µs to 1s.
var commitBuckets = []float64{
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1,
}

// Metrics owns a Prometheus registry with the broker's metrics. Build it with
// New. The Observe/Inc/Set methods are safe for concurrent use and are no-ops
// on a nil *Metrics, so callers may run without metrics.
type Metrics struct {
	reg  *prometheus.Registry
	hook *hook

	commitSeconds   prometheus.Histogram
	commitWrites    prometheus.Counter
	queueDropped    prometheus.Counter
	publishRejected *prometheus.CounterVec
	storeSize       *funcGauge
}

// New builds the metrics of the broker srv on a registry of their own, with
// the Go runtime and process collectors. srv may be nil (no broker gauges);
// otherwise it must be the server the Hook is added to.
func New(srv *mqtt.Server) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg:  reg,
		hook: newHook(),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "store_commit_seconds",
			Help:      "Duration of store (bbolt) commits, fsync included.",
			Buckets:   commitBuckets,
		}),
		commitWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "store_commit_writes_total",
			Help:      "Writes carried by store commits (a group commit carries several).",
		}),
		queueDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "session_queue_dropped_total",
			Help:      "Messages dropped because a client's offline session queue was full.",
		}),
		publishRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "publish_rejected_total",
			Help:      "Inbound publishes rejected by the broker, by reason.",
		}, []string{"reason"}),
		storeSize: newFuncGauge(prometheus.NewDesc(
			prometheus.BuildFQName(namespace, "", "store_bytes"),
			"Size of the store's database file in bytes.",
			nil, nil)),
	}

	// The descriptors below are fixed and distinct, so registration cannot
	// fail at run time; MustRegister only guards against editing mistakes,
	// which every test of this package exercises.
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.commitSeconds,
		m.commitWrites,
		m.queueDropped,
		m.publishRejected,
		m.storeSize,
	)
	m.hook.register(reg)
	if srv != nil {
		registerServer(reg, srv)
	}
	return m
}

// registerServer exposes the counters and gauges mochi keeps in srv.Info,
// read atomically at scrape time.
func registerServer(reg *prometheus.Registry, srv *mqtt.Server) {
	info := srv.Info
	load := func(p *int64) func() float64 {
		return func() float64 { return float64(atomic.LoadInt64(p)) }
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, f)
	}
	counter := func(name, help string, labels prometheus.Labels, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help, ConstLabels: labels}, f)
	}
	const droppedHelp = "PUBLISH deliveries not made to a connected client, by reason."
	reg.MustRegister(
		gauge("connections", "Currently connected MQTT clients.", load(&info.ClientsConnected)),
		counter("bytes_received_total", "Bytes received from MQTT clients.", nil, load(&info.BytesReceived)),
		counter("bytes_sent_total", "Bytes sent to MQTT clients.", nil, load(&info.BytesSent)),
		counter("messages_dropped_total", droppedHelp, prometheus.Labels{"reason": DropSendBufferFull}, load(&info.MessagesDropped)),
		counter("messages_dropped_total", droppedHelp, prometheus.Labels{"reason": DropQueueFull}, load(&info.InflightDropped)),
		counter("disconnects_total", "Clients the broker disconnected, by reason.",
			prometheus.Labels{"reason": DisconnectQueueFull}, load(&info.SlowDisconnects)),
		counter("connect_timeouts_total", "Connections closed for sending no CONNECT within limits.connect_timeout.",
			nil, load(&info.ConnectTimeouts)),
		// mochi does not update Info.Retained when retained messages expire,
		// so count the retained index itself (a read-locked len).
		gauge("retained_messages", "Retained messages held by the broker.", func() float64 {
			return float64(srv.Topics.Retained.Len())
		}),
		gauge("subscriptions", "Active subscriptions.", load(&info.Subscriptions)),
		gauge("inflight_messages", "QoS 1/2 messages in flight to clients, offline sessions included.", load(&info.Inflight)),
	)
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Register adds a collector (cloudsync's, for one) to /metrics.
func (m *Metrics) Register(c prometheus.Collector) error {
	if err := m.reg.Register(c); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// Hook returns the mochi hook that counts connections and PUBLISH packets.
// Add it to the server given to New with srv.AddHook(m.Hook(), nil). Every
// call returns the same hook.
func (m *Metrics) Hook() mqtt.Hook {
	return m.hook
}

// ObserveCommit records one store commit that took d and carried writes writes.
func (m *Metrics) ObserveCommit(d time.Duration, writes int) {
	if m == nil {
		return
	}
	m.commitSeconds.Observe(d.Seconds())
	if writes > 0 {
		m.commitWrites.Add(float64(writes))
	}
}

// SetStoreSize makes storeedge_store_bytes report f() at each scrape. f must
// be cheap and must not block; until it is set the metric is absent.
func (m *Metrics) SetStoreSize(f func() int64) {
	if m == nil {
		return
	}
	m.storeSize.set(f)
}

// IncQueueDropped counts one message dropped from a full session queue.
func (m *Metrics) IncQueueDropped() {
	if m == nil {
		return
	}
	m.queueDropped.Inc()
}

// IncPublishRejected counts one rejected inbound publish. reason must come
// from a small fixed set (the protocol's error codes, such as "too_large" or
// "quota_exceeded"): each distinct value becomes a time series.
func (m *Metrics) IncPublishRejected(reason string) {
	if m == nil {
		return
	}
	m.publishRejected.WithLabelValues(reason).Inc()
}

// funcGauge is a gauge whose value function can be set after registration;
// it exports nothing while the function is unset.
type funcGauge struct {
	desc *prometheus.Desc
	f    atomic.Pointer[func() int64]
}

func newFuncGauge(desc *prometheus.Desc) *funcGauge {
	return &funcGauge{desc: desc}
}

func (g *funcGauge) set(f func() int64) {
	if f == nil {
		g.f.Store(nil)
		return
	}
	g.f.Store(&f)
}

// Describe implements prometheus.Collector.
func (g *funcGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector.
func (g *funcGauge) Collect(ch chan<- prometheus.Metric) {
	f := g.f.Load()
	if f == nil {
		return
	}
	mt, err := prometheus.NewConstMetric(g.desc, prometheus.GaugeValue, float64((*f)()))
	if err != nil {
		mt = prometheus.NewInvalidMetric(g.desc, err)
	}
	ch <- mt
}
