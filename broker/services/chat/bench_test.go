package chat

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkSend: durable sends (answered after commit) through the whole
// path — paho clients publish svc/chat/send, the router runs the handler,
// the group commit fsyncs, the answers come back. 16 senders, one
// conversation each (8 tablets, 8 staff), so seqs contend per conversation.
func BenchmarkSend(b *testing.B) {
	const senders = 16
	e := newEnv(b, Options{})
	cs := make([]*client, senders)
	for i := range cs {
		dev := tablet
		if i%2 == 1 {
			dev = anna
		}
		cs[i] = e.connect(b, dev, fmt.Sprintf("b%d", i))
		ok(b, cs[i].call(b, "open", "", fmt.Sprintf(`{"conversation":"bench-%d","members":["tablet-01","staff-anna"]}`, i/2)))
	}
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		n := b.N / senders
		if i < b.N%senders {
			n++
		}
		wg.Go(func() {
			own := make([]time.Duration, 0, n)
			for k := range n {
				t0 := time.Now()
				a, err := c.try("send", fmt.Sprintf("b%d-%d", i, k), fmt.Sprintf(`{"conversation":"bench-%d","kind":"text","text":"is she OK? which step now? %d"}`, i/2, k))
				if err != nil || !a.OK {
					b.Errorf("send: %v %s", err, a.raw)
					return
				}
				own = append(own, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "sends/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}
