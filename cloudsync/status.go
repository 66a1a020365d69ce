package cloudsync

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync/outbox"
)

// Status is the bridge's state, published retained on StatusTopic
// (PROTOCOL.md, "cloudsync/status").
type Status struct {
	V         int       `json:"v"`
	Store     string    `json:"store"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"` // of the last connect or disconnect
	// Backlog is what waits in the outbox (in flight included).
	Backlog      int64 `json:"backlog"`
	BacklogBytes int64 `json:"backlog_bytes"`
	// OverBudget is how far the backlog is past max_outbox_bytes (chat
	// and bookings are kept even then).
	OverBudget int64   `json:"over_budget_bytes"`
	OldestAge  float64 `json:"oldest_age_s"`
	Inflight   int     `json:"inflight"`
	// DrainRate is entries acknowledged by HQ per second since the last
	// status.
	DrainRate float64 `json:"drain_rate"`
	Sent      uint64  `json:"sent"`
	Acked     uint64  `json:"acked"`
	// Evicted counts entries dropped to stay within budget, by class,
	// since the database was made.
	Evicted map[string]int64 `json:"evicted"`
	// Refused counts device messages not filed because the budget held
	// only chat and bookings.
	Refused uint64 `json:"refused"`
	// Dropped counts device QoS 0 messages not filed: the capture queue
	// was full or its commit failed.
	Dropped uint64 `json:"dropped"`
	// Looped counts device messages on hq/… not sent back to HQ.
	Looped uint64 `json:"looped"`
	// Rejected counts entries HQ's broker refused (they are kept and
	// sent again after a pause).
	Rejected uint64 `json:"rejected"`
	// Kept is the acknowledged chat and booking entries kept for HQ's
	// resync requests (uplink.keep_sent_for, keep_sent_bytes).
	Kept Kept `json:"kept"`
	// Resync counts what HQ's resync requests and the backfill did.
	Resync     Resync    `json:"resync"`
	Downlink   Downlink  `json:"downlink"`
	LastError  string    `json:"last_error,omitempty"`
	LastErrAt  time.Time `json:"last_error_at,omitzero"`
	Reconnects uint64    `json:"connects"`
	// ClockSynced: the box's clock is set from a time source; absent when
	// not known. Entries filed while it is false go up marked
	// clock=unsynced.
	ClockSynced *bool `json:"clock_synced,omitempty"`
}

// Kept describes the kept range.
type Kept struct {
	Count int64 `json:"count"`
	Bytes int64 `json:"bytes"`
	// Dropped counts entries dropped from it (too old or past the
	// bound) since the database was made.
	Dropped int64 `json:"dropped"`
}

// Resync counts resync work since start.
type Resync struct {
	Resent          uint64 `json:"resent"`           // ranges filed again
	Gone            uint64 `json:"gone"`             // ranges answered gone
	Snapshots       uint64 `json:"snapshots"`        // snapshots filed (backfill included)
	SnapshotEntries uint64 `json:"snapshot_entries"` // entries they filed
	Failed          uint64 `json:"failed"`           // attempts that failed and are retried
}

// Downlink counts what came from HQ.
type Downlink struct {
	Received   uint64 `json:"received"`
	Duplicates uint64 `json:"duplicates"`
	Failed     uint64 `json:"failed"`  // invalid, dropped
	Retries    uint64 `json:"retries"` // delivery attempts that failed and were retried
}

type statusSnapshot struct {
	at      time.Time
	acked   uint64
	evicted map[string]int64
}

// markChange notes a connect or disconnect and publishes the status.
func (b *Bridge) markChange() {
	b.statusMu.Lock()
	b.since = b.o.Now()
	b.statusMu.Unlock()
	go b.publish(false)
}

// Status reads the current status (one read transaction).
func (b *Bridge) Status() Status {
	var st outbox.Stats
	_ = b.o.DB.View(func(tx *bolt.Tx) error {
		var err error
		st, err = b.ob.Stats(tx)
		return err
	})
	now := b.o.Now()
	s := Status{V: 1, Store: b.o.StoreID, Connected: b.connected.Load(),
		Backlog: st.Count, BacklogBytes: st.Bytes, OverBudget: st.Over,
		Inflight: b.up.inflight(), Sent: b.up.sent.Load(), Acked: b.up.acked.Load(),
		Evicted: map[string]int64{}, Refused: b.refused.Load(), Rejected: b.up.refused.Load(),
		Downlink: Downlink{Received: b.down.received.Load(), Duplicates: b.down.duplicates.Load(), Failed: b.down.failed.Load(), Retries: b.down.retries.Load()},
		Dropped:  b.dropped.Load(), Looped: b.looped.Load(),
		Kept: Kept{Count: st.Kept.Count, Bytes: st.Kept.Bytes, Dropped: st.Kept.Dropped},
		Resync: Resync{Resent: b.jobs.resent.Load(), Gone: b.jobs.gone.Load(), Snapshots: b.jobs.snapshots.Load(),
			SnapshotEntries: b.jobs.snapshotEntries.Load(), Failed: b.jobs.failed.Load()},
		Reconnects: b.reconnects.Load(), ClockSynced: b.clockSynced()}
	if !st.Oldest.IsZero() && !st.OldestUnsynced {
		s.OldestAge = now.Sub(st.Oldest).Seconds()
	}
	for c, cs := range st.Classes {
		s.Evicted[c] = cs.Evicted
	}
	b.statusMu.Lock()
	s.Since = b.since
	if !b.last.at.IsZero() {
		if d := now.Sub(b.last.at).Seconds(); d > 0 {
			s.DrainRate = float64(s.Acked-b.last.acked) / d
		}
	}
	b.statusMu.Unlock()
	b.errMu.Lock()
	s.LastError, s.LastErrAt = b.lastErr, b.lastErrAt
	b.errMu.Unlock()
	return s
}

func (b *Bridge) runStatus(ctx context.Context) {
	t := time.NewTicker(b.o.Config.StatusInterval)
	defer t.Stop()
	b.publish(true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.publish(true)
		}
	}
}

// publishStatus publishes the status now (at shutdown).
func (b *Bridge) publishStatus() { b.publish(false) }

// publish publishes the status; tick says it is the periodic one, which
// alone moves the drain rate's and the eviction log's reference point (an
// extra status on a connect must not make the next rate a burst over a few
// milliseconds). It also logs evictions once per burst: when they start,
// and their total when a status interval passes without any. publishMu
// keeps two statuses from being published out of order, which would leave
// the older one retained.
func (b *Bridge) publish(tick bool) {
	b.publishMu.Lock()
	defer b.publishMu.Unlock()
	s := b.Status()
	if !tick {
		if b.o.Status != nil {
			if p, err := json.Marshal(s); err == nil {
				_ = b.o.Status(p) // a later status follows within an interval
			}
		}
		return
	}
	b.statusMu.Lock()
	prev := b.last.evicted
	var now, ended map[string]int64
	for c, n := range s.Evicted {
		if d := n - prev[c]; prev != nil && d > 0 {
			if now == nil {
				now = map[string]int64{}
			}
			now[c] = d
		}
	}
	started := now != nil && len(b.burst) == 0
	if now == nil && len(b.burst) > 0 {
		ended = maps.Clone(b.burst)
		clear(b.burst)
	}
	for c, d := range now {
		b.burst[c] += d
	}
	b.last = statusSnapshot{at: b.o.Now(), acked: s.Acked, evicted: s.Evicted}
	b.statusMu.Unlock()
	if started {
		b.o.Log.Warn("cloudsync: outbox over budget: evicting oldest low-priority entries", "evicted", now,
			"backlog_bytes", s.BacklogBytes, "max_outbox_bytes", b.o.Config.MaxOutboxBytes)
	}
	if ended != nil {
		b.o.Log.Warn("cloudsync: outbox evictions stopped", "evicted_in_burst", ended, "backlog_bytes", s.BacklogBytes)
	}
	if b.o.Status != nil {
		if p, err := json.Marshal(s); err == nil {
			if err := b.o.Status(p); err != nil {
				b.o.Log.Debug("cloudsync: publish status", "err", err)
			}
		}
	}
}

// Collector exports the status as Prometheus metrics.
func (b *Bridge) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Bridge }

var (
	descConnected  = prometheus.NewDesc("storeedge_cloud_connected", "1 while the link to HQ's broker is up.", nil, nil)
	descBacklog    = prometheus.NewDesc("storeedge_cloud_backlog_entries", "Entries waiting in the outbox for HQ's PUBACK.", nil, nil)
	descBytes      = prometheus.NewDesc("storeedge_cloud_backlog_bytes", "Bytes (topic + origin + payload) in the outbox.", nil, nil)
	descOldest     = prometheus.NewDesc("storeedge_cloud_oldest_entry_age_seconds", "Age of the oldest outbox entry.", nil, nil)
	descInflight   = prometheus.NewDesc("storeedge_cloud_inflight", "Entries sent and awaiting HQ's PUBACK.", nil, nil)
	descSent       = prometheus.NewDesc("storeedge_cloud_sent_total", "Entries written to HQ (resends included).", nil, nil)
	descAcked      = prometheus.NewDesc("storeedge_cloud_acked_total", "Entries acknowledged by HQ and deleted; its rate is the drain rate.", nil, nil)
	descEvicted    = prometheus.NewDesc("storeedge_cloud_evicted_total", "Entries evicted to stay within max_outbox_bytes.", []string{"class"}, nil)
	descRefused    = prometheus.NewDesc("storeedge_cloud_refused_total", "Device messages not filed for HQ: the budget held only what they may not evict.", nil, nil)
	descDropped    = prometheus.NewDesc("storeedge_cloud_dropped_total", "Device QoS 0 messages not filed for HQ: the capture queue was full.", nil, nil)
	descRejected   = prometheus.NewDesc("storeedge_cloud_rejected_total", "Entries HQ's broker refused (kept, sent again after a pause).", nil, nil)
	descDown       = prometheus.NewDesc("storeedge_cloud_downlink_total", "Messages from HQ, by outcome.", []string{"outcome"}, nil)
	descReconnects = prometheus.NewDesc("storeedge_cloud_connects_total", "Connections made to HQ's broker.", nil, nil)
	descKept       = prometheus.NewDesc("storeedge_cloud_kept_entries", "Acknowledged chat and booking entries kept for HQ's resync requests.", nil, nil)
	descKeptBytes  = prometheus.NewDesc("storeedge_cloud_kept_bytes", "Bytes (topic + origin + payload) of the kept entries.", nil, nil)
	descKeptDrop   = prometheus.NewDesc("storeedge_cloud_kept_dropped_total", "Kept entries dropped: older than uplink.keep_sent_for or past uplink.keep_sent_bytes.", nil, nil)
	descResync     = prometheus.NewDesc("storeedge_cloud_resync_total", "HQ's resync requests and the backfill, by outcome.", []string{"outcome"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descBacklog, descBytes, descOldest, descInflight, descSent,
		descAcked, descEvicted, descRefused, descDropped, descRejected, descDown, descReconnects,
		descKept, descKeptBytes, descKeptDrop, descResync} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Status()
	conn := 0.0
	if s.Connected {
		conn = 1
	}
	g, ctr := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(descConnected, g, conn)
	ch <- prometheus.MustNewConstMetric(descBacklog, g, float64(s.Backlog))
	ch <- prometheus.MustNewConstMetric(descBytes, g, float64(s.BacklogBytes))
	ch <- prometheus.MustNewConstMetric(descOldest, g, s.OldestAge)
	ch <- prometheus.MustNewConstMetric(descInflight, g, float64(s.Inflight))
	ch <- prometheus.MustNewConstMetric(descSent, ctr, float64(s.Sent))
	ch <- prometheus.MustNewConstMetric(descAcked, ctr, float64(s.Acked))
	for class, n := range s.Evicted {
		ch <- prometheus.MustNewConstMetric(descEvicted, ctr, float64(n), class)
	}
	ch <- prometheus.MustNewConstMetric(descRefused, ctr, float64(s.Refused))
	ch <- prometheus.MustNewConstMetric(descDropped, ctr, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(descRejected, ctr, float64(s.Rejected))
	ch <- prometheus.MustNewConstMetric(descDown, ctr, float64(s.Downlink.Retries), "retried")
	ch <- prometheus.MustNewConstMetric(descDown, ctr, float64(s.Downlink.Received-s.Downlink.Duplicates-s.Downlink.Failed), "delivered")
	ch <- prometheus.MustNewConstMetric(descDown, ctr, float64(s.Downlink.Duplicates), "duplicate")
	ch <- prometheus.MustNewConstMetric(descDown, ctr, float64(s.Downlink.Failed), "failed")
	ch <- prometheus.MustNewConstMetric(descReconnects, ctr, float64(s.Reconnects))
	ch <- prometheus.MustNewConstMetric(descKept, g, float64(s.Kept.Count))
	ch <- prometheus.MustNewConstMetric(descKeptBytes, g, float64(s.Kept.Bytes))
	ch <- prometheus.MustNewConstMetric(descKeptDrop, ctr, float64(s.Kept.Dropped))
	ch <- prometheus.MustNewConstMetric(descResync, ctr, float64(s.Resync.Resent), "resent")
	ch <- prometheus.MustNewConstMetric(descResync, ctr, float64(s.Resync.Gone), "gone")
	ch <- prometheus.MustNewConstMetric(descResync, ctr, float64(s.Resync.Snapshots), "snapshot")
	ch <- prometheus.MustNewConstMetric(descResync, ctr, float64(s.Resync.Failed), "failed")
}
