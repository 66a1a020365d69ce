package replica

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

// BenchmarkViews measures the fleet page's queries over a fleet of 1 000
// and 10 000 stores, each with 50 conversations (one customer in ten
// stores) and 2 messages per conversation:
//
//	go test -run '^$' -bench Views -benchtime 20x ./hq/replica/
//
// The stores' rows come through ApplyStatus; the conversations, messages
// and bookings, too many to file one by one here, are written with SQL in
// the shape Apply gives them.
func BenchmarkViews(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("stores=%d", n), func(b *testing.B) {
			r := openAt(b, pgtest.Start(b).URL, Options{})
			ctx := context.Background()
			t0 := time.Now()
			for i := range n {
				st := proto.StoreStatus{V: 1, Store: fmt.Sprintf("s%05d", i), Online: i%10 != 0, Epoch: "e", Version: "1.4.0",
					Backlog: int64(i % 7), TS: t0}
				if err := r.ApplyStatus(ctx, st.Store, st, t0); err != nil {
					b.Fatal(err)
				}
			}
			body, err := r.sealBody([]byte(`{"text":"hello"}`))
			if err != nil {
				b.Fatal(err)
			}
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO conversations (store, conversation, customer, opened_at, last_at, last_seq, first_customer_at, first_reply_at)
				  SELECT s.store, 'c' || c, 'cu' || ((s.n * 50 + c) % ($1::int * 5)), now() - c * interval '1 hour', now() - c * interval '1 hour', 2,
				         now() - c * interval '1 hour', now() - c * interval '1 hour' + interval '90 seconds'
				  FROM (SELECT store, row_number() OVER (ORDER BY store) AS n FROM stores) s, generate_series(1, 50) c`, []any{n}},
				{`INSERT INTO messages (store, conversation, seq, sender, kind, ts, body)
				  SELECT c.store, c.conversation, m, CASE m WHEN 1 THEN c.customer ELSE 'staff' END, 'text', c.last_at, $1::bytea
				  FROM conversations c, generate_series(1, 2) m`, []any{body}},
				{`INSERT INTO bookings (store, booking, customer, service, start_at, end_at, status)
				  SELECT s.store, 'b' || k, 'cu' || k, 'bath', date_trunc('day', now()) + k * interval '30 minutes',
				         date_trunc('day', now()) + (k + 1) * interval '30 minutes', 'confirmed'
				  FROM stores s, generate_series(1, 20) k`, nil},
				{`ANALYZE`, nil},
			} {
				if _, err := r.pool.Exec(ctx, q.sql, q.args...); err != nil {
					b.Fatalf("%s: %v", q.sql, err)
				}
			}
			b.Logf("seeded %d stores in %v", n, time.Since(t0).Round(time.Millisecond))
			view := View{Now: time.Now()}
			b.Run("fleet-page-200", func(b *testing.B) {
				for b.Loop() {
					if l, err := r.Stores(ctx, Filter{View: view}); err != nil || len(l.Stores) != 200 {
						b.Fatal(len(l.Stores), err)
					}
				}
			})
			b.Run("offline-filter", func(b *testing.B) {
				for b.Loop() {
					if _, err := r.Stores(ctx, Filter{State: StateOffline, BacklogOver: 1, View: view}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("search", func(b *testing.B) {
				for b.Loop() {
					if _, err := r.Stores(ctx, Filter{Query: "s0999", View: view}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("store-page", func(b *testing.B) {
				for b.Loop() {
					if d, err := r.Store(ctx, "s00042", view); err != nil || len(d.Conversations) == 0 {
						b.Fatal(err)
					}
				}
			})
			b.Run("customer-conversations", func(b *testing.B) {
				for b.Loop() {
					if c, err := r.CustomerConversations(ctx, "cu42", 0); err != nil || len(c.Conversations) == 0 {
						b.Fatal(len(c.Conversations), err)
					}
				}
			})
		})
	}
}
