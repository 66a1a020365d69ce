package ingest_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

// BenchmarkIngest measures how fast 1, 2 and 4 instances drain a backlog
// of 1 000 stores' chat messages and booking changes from mosquitto into
// PostgreSQL (each message applied in order, acknowledged after commit):
//
//	go test -run '^$' -bench Ingest -benchtime 1x ./hq/ingest/
func BenchmarkIngest(b *testing.B) {
	for _, instances := range []int{1, 2, 4} {
		b.Run(fmt.Sprint("instances=", instances), func(b *testing.B) {
			const stores, perStore = 1000, 20
			total := stores * perStore
			mq := mosquittotest.Start(b, mosquittotest.Options{Extra: "max_inflight_messages 1000\n"})
			pg := pgtest.Start(b)
			r := openReplica(b, pg.URL)
			// Subscribe the instances' sessions, then stop them: the backlog
			// waits in their sessions at the broker.
			var cs []*consumer
			for i := range instances {
				cs = append(cs, startConsumer(b, r, mq.Addr, fmt.Sprint("hq-", i), time.Hour))
			}
			for _, c := range cs {
				c.stop()
			}
			var wg sync.WaitGroup
			for p := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					pub := publisher(b, mq.Addr, fmt.Sprint("pub-", p), nil)
					for i := uint64(1); i <= perStore; i++ {
						for s := p; s < stores; s += 4 {
							store := fmt.Sprint("s", s)
							if i%2 == 1 {
								e, _ := json.Marshal(proto.HQChatEntry{V: 1, Type: "message", Conversation: "c1", Customer: "cust",
									Seq: i, From: "cust", Kind: "text", Text: "is 3pm free?", TS: time.Now()})
								up(b, pub, store, "e1", proto.StreamChat, i, i/2+1, "chat/c1/hq", e)
							} else {
								ch, _ := json.Marshal(proto.Change{V: 1, Seq: i / 2, Type: proto.ChangeCreated, Booking: fmt.Sprint("b", i),
									Customer: "cust", Rev: 1, TS: time.Now()})
								up(b, pub, store, "e1", proto.StreamBooking, i, i/2, "booking/changes", ch)
							}
						}
					}
				}()
			}
			wg.Wait()
			b.ResetTimer()
			start := time.Now()
			cs = cs[:0]
			for i := range instances {
				cs = append(cs, startConsumer(b, r, mq.Addr, fmt.Sprint("hq-", i), time.Hour))
			}
			acked := func() uint64 {
				var n uint64
				for _, c := range cs {
					n += c.Stats().Acked
				}
				return n
			}
			rows := func() int {
				return count(b, r.Pool(), `SELECT count(*) FROM messages`) + count(b, r.Pool(), `SELECT count(*) FROM booking_changes`)
			}
			waitFor(b, 10*time.Minute, "backlog drained", func() bool { return acked() >= uint64(total) && rows() >= total })
			el := time.Since(start)
			b.ReportMetric(float64(total)/el.Seconds(), "msg/s")
			if n := rows(); n != total {
				b.Fatalf("%d rows, want %d", n, total)
			}
		})
	}
}
