package broker

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/storeedge/storeedge/broker/quota"
	mediasvc "github.com/storeedge/storeedge/broker/services/media"
	"github.com/storeedge/storeedge/broker/store"
)

// customerQuotas are the budgets of one customer (chat.customer_*): nil
// when set to 0. The bytes budget is shared by chat texts and media uploads.
func customerQuotas(cfg Config, log *slog.Logger) (msgs, bytes *quota.Limiter) {
	msgs = quota.New(quota.Options{Name: "messages_per_minute", Unit: "messages",
		Per: int64(cfg.Chat.CustomerMessagesPerMinute), Window: time.Minute, Now: cfg.Now, Log: log})
	bytes = quota.New(quota.Options{Name: "bytes_per_day", Unit: "bytes",
		Per: cfg.Chat.CustomerBytesPerDay, Window: 24 * time.Hour, Now: cfg.Now, Log: log})
	return msgs, bytes
}

// quotaCollector exports the refusals of the per-client quotas on /metrics:
// storeedge_quota_refused_total{limit}.
type quotaCollector struct {
	limiters []*quota.Limiter
	media    *mediasvc.Service
}

var quotaRefused = prometheus.NewDesc("storeedge_quota_refused_total",
	"Requests answered quota_exceeded by a per-client limit: limit is messages_per_minute or bytes_per_day "+
		"(a customer's chat and upload budgets), or uploads, reserved_bytes or media_full (media begin).",
	[]string{"limit"}, nil)

func (quotaCollector) Describe(ch chan<- *prometheus.Desc) { ch <- quotaRefused }

func (c quotaCollector) Collect(ch chan<- prometheus.Metric) {
	n := map[string]uint64{}
	for _, l := range c.limiters {
		if l != nil {
			n[l.Name()] += l.Refused()
		}
	}
	for reason, v := range c.media.QuotaRefusals() {
		n[reason] += v
	}
	for limit, v := range n {
		ch <- prometheus.MustNewConstMetric(quotaRefused, prometheus.CounterValue, float64(v), limit)
	}
}

// checkDBCap warns at start when persistence.max_db_bytes cannot do its
// job: no cap at all, a cap that does not hold media.max_total_bytes plus
// room for the rest, or a cap the disk does not have room for (then the disk
// fills before the cap is reached, and the system with it).
func (b *Broker) checkDBCap() {
	cfg := b.cfg
	limit := cfg.Persistence.MaxDBBytes
	if limit == 0 {
		b.log.Warn("persistence.max_db_bytes is 0: the database may grow until the disk is full")
		return
	}
	if mediaTotal := cfg.Media.MaxTotalBytes; mediaTotal > 0 && limit < mediaTotal+dbHeadroom {
		b.log.Warn("persistence.max_db_bytes is less than media.max_total_bytes plus 512 MiB: the database may fill before media reaches its own limit",
			"max_db_bytes", limit, "media_max_total_bytes", mediaTotal)
	}
	free, ok := store.FreeBytes(cfg.DataDir)
	if ok && free < cfg.Persistence.MinFreeDiskBytes {
		b.log.Warn("the disk has less free than persistence.min_free_disk_bytes: writes are refused until there is room",
			"free_disk_bytes", free, "min_free_disk_bytes", cfg.Persistence.MinFreeDiskBytes, "data_dir", cfg.DataDir)
	}
	if ok && b.db.Size()+free-cfg.Persistence.MinFreeDiskBytes < limit {
		b.log.Warn("the disk has less room than persistence.max_db_bytes: it fills before the database reaches its cap",
			"max_db_bytes", limit, "db_bytes", b.db.Size(), "free_disk_bytes", free, "data_dir", cfg.DataDir)
	}
}
