package chat

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/proto"
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

// BenchmarkReport: one report over a year of a busy store's closings
// (20 000, about 55 a day, each rated), by staff member, through the whole
// path (a paho client asks svc/chat/report and waits for the answer).
func BenchmarkReport(b *testing.B) {
	e := newEnv(b, Options{})
	boss := e.connect(b, owner, "")
	year := time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC)
	const closings = 20000
	err := e.db.Update(b.Context(), func(tx *bolt.Tx) error {
		cb, err := tx.CreateBucketIfNotExists(bucketClosings)
		if err != nil {
			return err
		}
		rb, err := tx.CreateBucketIfNotExists(bucketRatings)
		if err != nil {
			return err
		}
		for i := range closings {
			opened := year.Add(time.Duration(i) * (365 * 24 * time.Hour / closings))
			first, closed := opened.Add(time.Duration(30+i%300)*time.Second), opened.Add(time.Duration(5+i%40)*time.Minute)
			cl := closing{ID: fmt.Sprintf("r%d", i), ChatClosing: proto.ChatClosing{Conversation: fmt.Sprintf("cust-%d", i%3000),
				Closing: uint64(i/3000 + 1), Staff: fmt.Sprintf("staff-%d", i%8), By: "owner", Opened: &opened, FirstResponse: &first, Closed: closed}}
			v, _ := json.Marshal(cl)
			if err := cb.Put(closingKey(cl.Conversation, cl.Closing), v); err != nil {
				return err
			}
			rv, _ := json.Marshal(rating{ID: cl.ID, Stars: 1 + i%5, TS: closed, Staff: cl.Staff})
			if err := rb.Put(closingKey(cl.Conversation, cl.Closing), rv); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		a := ok(b, boss.call(b, "report", "", `{"from":"2025-01-01","to":"2026-01-01","by":"staff"}`))
		if !strings.Contains(a.raw, `"handled":20000`) {
			b.Fatalf("report: %s", a.raw[max(0, len(a.raw)-400):])
		}
	}
}
