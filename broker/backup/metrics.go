package backup

import "github.com/prometheus/client_golang/prometheus"

var (
	descEnabled     = prometheus.NewDesc("storeedge_backup_enabled", "1 when daily backups are on (a passphrase or a recipient is set), 0 when off.", nil, nil)
	descLastOK      = prometheus.NewDesc("storeedge_backup_last_success_timestamp_seconds", "When the newest daily backup was made (Unix seconds); 0: none.", nil, nil)
	descLastAttempt = prometheus.NewDesc("storeedge_backup_last_attempt_timestamp_seconds", "When the last daily backup was attempted since start (Unix seconds); 0: none yet.", nil, nil)
	descAttemptOK   = prometheus.NewDesc("storeedge_backup_last_attempt_ok", "1 when the last daily backup attempt succeeded, 0 when it failed (absent before the first attempt).", nil, nil)
	descBytes       = prometheus.NewDesc("storeedge_backup_bytes", "Size of the newest daily backup file.", nil, nil)
	descKept        = prometheus.NewDesc("storeedge_backup_files_kept", "Daily backup files in the backup folder.", nil, nil)
	descFailures    = prometheus.NewDesc("storeedge_backup_failures_total", "Daily backup attempts that failed since start.", nil, nil)
)

// Collector exports the daily backups' state on /metrics.
func (d *Daily) Collector() prometheus.Collector { return collector{d} }

type collector struct{ d *Daily }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEnabled, descLastOK, descLastAttempt, descAttemptOK, descBytes, descKept, descFailures} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.State()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	unix := func(t interface{ IsZero() bool }, s float64) float64 {
		if t.IsZero() {
			return 0
		}
		return s
	}
	ch <- prometheus.MustNewConstMetric(descEnabled, prometheus.GaugeValue, b2f(st.Enabled))
	ch <- prometheus.MustNewConstMetric(descLastOK, prometheus.GaugeValue, unix(st.LastOK, float64(st.LastOK.UnixMilli())/1000))
	ch <- prometheus.MustNewConstMetric(descLastAttempt, prometheus.GaugeValue, unix(st.LastAttempt, float64(st.LastAttempt.UnixMilli())/1000))
	if !st.LastAttempt.IsZero() {
		ch <- prometheus.MustNewConstMetric(descAttemptOK, prometheus.GaugeValue, b2f(st.LastError == ""))
	}
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(descKept, prometheus.GaugeValue, float64(st.Kept))
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(st.Failures))
}
