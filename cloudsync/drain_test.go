package cloudsync_test

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
)

// drainResult is one long-outage drain.
type drainResult struct {
	entries  int
	elapsed  time.Duration // from the link's return to the last entry at HQ
	live     []time.Duration
	repeats  int
	baseline float64 // msg/s a plain QoS 1 publisher reaches on the same broker
}

func (r drainResult) rate() float64 { return float64(r.entries) / r.elapsed.Seconds() }

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// drain fills the outbox of a library-mode bridge with n entries while HQ
// (mosquitto) is unreachable, brings the link up, and times the drain while
// a live chat entry is filed every 20 ms; HQ's consumer checks every entry
// arrived once after dedup and in order per topic.
func drain(t testing.TB, n int) drainResult {
	// The bridge runs inside the daemon, with the daemon's collector
	// setting (runtime.gc_percent), not Go's default.
	def, err := broker.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	old := debug.SetGCPercent(def.Runtime.GCPercent)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	k := newConsumerTB(t, hqb.Addr, "hq-drain", "stores/+/up/#")
	px := link(t, hqb.Addr)
	px.Down()
	br, db := libraryBridge(t, testCloudConfig("mqtt://"+px.Addr()), nil)
	ob := br.Outbox()
	// The backlog: telemetry of 50 devices, booking changes, chat of 20
	// conversations, filed in commits of 1000 like a busy store's.
	for i := 0; i < n; i += 1000 {
		err := db.Update(context.Background(), func(tx *bolt.Tx) error {
			for j := i; j < min(n, i+1000); j++ {
				var topic string
				switch j % 10 {
				case 0:
					topic = fmt.Sprintf("chat/c%d/hq", j%20)
				case 1, 2, 3:
					topic = "booking/changes"
				default:
					topic = fmt.Sprintf("devices/d%d/telemetry", j%50)
				}
				if err := ob.PutOrigin(tx, topic, fmt.Sprintf("e%d", j), []byte(fmt.Sprintf(`{"n":%d,"pad":"%s"}`, j, strings.Repeat("x", 200)))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	px.Up()
	// Live chat starts once the link is back: what was filed before is
	// backlog.
	for dl := time.Now().Add(30 * time.Second); !br.Status().Connected; {
		if time.Now().After(dl) {
			t.Fatal("the bridge did not connect")
		}
		time.Sleep(time.Millisecond)
	}
	stopLive := make(chan struct{})
	var liveWG sync.WaitGroup
	liveN := 0
	liveWG.Go(func() {
		for ; ; liveN++ {
			select {
			case <-stopLive:
				return
			case <-time.After(20 * time.Millisecond):
			}
			err := db.Update(context.Background(), func(tx *bolt.Tx) error {
				return ob.PutOrigin(tx, "chat/live/hq", fmt.Sprintf("live%d", liveN), []byte(`{"live":true}`))
			})
			if err != nil {
				t.Errorf("live entry: %v", err)
				return
			}
		}
	})
	deadline := time.Now().Add(5 * time.Minute)
	var elapsed time.Duration
	for {
		_, f := k.counts()
		if f-k.originsWithPrefix("live") >= n {
			elapsed = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HQ has %d of %d entries after 5 minutes", f, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stopLive)
	liveWG.Wait()
	k.waitFirstTB(n+liveN, time.Minute)
	msgs := k.messages()
	lastSeq := map[string]uint64{}
	for _, m := range msgs {
		if m.Seq <= lastSeq[m.LocalTopic] {
			t.Fatalf("%s: seq %d after %d", m.LocalTopic, m.Seq, lastSeq[m.LocalTopic])
		}
		lastSeq[m.LocalTopic] = m.Seq
	}
	all, first := k.counts()
	if first != n+liveN {
		t.Fatalf("HQ has %d distinct entries, want %d", first, n+liveN)
	}
	res := drainResult{entries: n, elapsed: elapsed, live: k.liveLatency("live"), repeats: all - first}
	if st := br.Status(); st.Backlog != 0 {
		// Acks are deleted in the background: poll.
		for dl := time.Now().Add(10 * time.Second); br.Status().Backlog != 0; {
			if time.Now().After(dl) {
				t.Fatalf("outbox still holds %d entries after HQ has them all", br.Status().Backlog)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	res.baseline = baseline(t, hqb.Addr, min(n, 50_000))
	return res
}

// baseline is how fast one plain paho client publishing QoS 1 with the
// same window (HQ's Receive Maximum) gets PUBACKs from the same mosquitto:
// the ceiling a bridge on one connection could reach.
func baseline(t testing.TB, addr string, n int) float64 {
	c := hqPublisherTB(t, addr)
	ctx := context.Background()
	payload := []byte(fmt.Sprintf(`{"n":0,"pad":"%s"}`, strings.Repeat("x", 200)))
	sem := make(chan struct{}, 20)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := c.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("baseline/%d", i%50), QoS: 1, Payload: payload}); err != nil {
				t.Errorf("baseline publish: %v", err)
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func testCloudConfig(url string) cloudsync.Config {
	return cloudsync.Config{URL: url, KeepAlive: 30 * time.Second, ConnectTimeout: 5 * time.Second,
		SessionExpiry: time.Hour, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Inflight: 1000, DedupTTL: 2 * time.Hour, StatusInterval: time.Second}
}

// TestLongOutageDrains: 100 000 entries pile up while HQ is unreachable;
// when the link returns every one reaches HQ once (after dedup), in order
// per topic, while live chat keeps flowing. The figures are logged; `make
// bench` reports them (BenchmarkOutboxDrain).
func TestLongOutageDrains(t *testing.T) {
	r := drain(t, 100_000)
	t.Logf("drained %d entries in %s: %.0f msg/s (%.2f× a plain QoS 1 publisher's %.0f msg/s on the same mosquitto); %d repeats; live chat during the drain: p50 %s, p99 %s, max %s over %d messages",
		r.entries, r.elapsed.Round(time.Millisecond), r.rate(), r.rate()/r.baseline, r.baseline, r.repeats,
		percentile(r.live, 0.5), percentile(r.live, 0.99), percentile(r.live, 1), len(r.live))
	if len(r.live) == 0 {
		t.Fatal("no live message was sent during the drain")
	}
}

// BenchmarkOutboxDrain measures the drain of a 100 000-entry backlog to a
// local mosquitto (DESIGN.md §7: ≥ 20 000 msg/s) and the latency of live
// chat filed during it.
func BenchmarkOutboxDrain(b *testing.B) {
	for b.Loop() {
		r := drain(b, 100_000)
		b.ReportMetric(r.rate(), "msg/s")
		b.ReportMetric(r.rate()/r.baseline, "x_plain_publisher")
		b.ReportMetric(float64(percentile(r.live, 0.5))/1e6, "live_p50_ms")
		b.ReportMetric(float64(percentile(r.live, 0.99))/1e6, "live_p99_ms")
	}
}
