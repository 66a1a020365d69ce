package replica

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

// BenchmarkApply measures Apply alone (no broker): booking changes and chat
// messages of many stores in order, from `workers` goroutines, each with
// its own stores (as ingest's per-store workers). Prints messages/s.
//
//	go test -run '^$' -bench Apply -benchtime 1x ./hq/replica/
func BenchmarkApply(b *testing.B) {
	for _, c := range []struct{ workers, batch int }{{1, 1}, {4, 1}, {1, 64}, {4, 64}, {16, 64}} {
		workers, batch := c.workers, c.batch
		b.Run(fmt.Sprintf("workers=%d/batch=%d", workers, batch), func(b *testing.B) {
			r := openAt(b, pgtest.Start(b).URL, Options{MaxConns: int32(workers + 2)})
			const perStore = 50
			stores := 400
			total := stores * perStore
			msgs := make([][]hq.Message, workers)
			for s := range stores {
				store := fmt.Sprint("s", s)
				for i := uint64(1); i <= perStore; i++ {
					var m hq.Message
					if i%2 == 0 {
						m = msg(store, "e1", proto.StreamBooking, i, i/2, "booking/changes", proto.Change{V: 1, Seq: i / 2,
							Type: proto.ChangeCreated, Booking: fmt.Sprint("b", i), Customer: "c1", Rev: 1, TS: time.Now()})
					} else {
						m = msg(store, "e1", proto.StreamChat, i, i/2+1, "chat/c1/hq", chatMsg("c1", "cust", "cust", i/2+1, "hello there", false))
					}
					msgs[s%workers] = append(msgs[s%workers], m)
				}
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			var failed atomic.Value
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					all := msgs[w]
					for len(all) > 0 {
						n := min(batch, len(all))
						if _, err := r.ApplyBatch(context.Background(), all[:n]); err != nil {
							failed.Store(err)
							return
						}
						all = all[n:]
					}
				}()
			}
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			b.ReportMetric(float64(total)/el.Seconds(), "msg/s")
		})
	}
}
