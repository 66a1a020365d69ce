package svc

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// BenchmarkRouterMQTT: requests/s through the whole path — paho clients
// publish QoS 1 requests with a Response Topic, the router answers from a
// no-op handler, the clients receive the answers.
func BenchmarkRouterMQTT(b *testing.B) {
	const clients = 8
	e := startEnv(b, envCfg{setup: func(r *Router) {
		mustHandle(b, r, "booking", "noop", func(context.Context, *Request) (any, error) { return nil, nil })
	}})
	cs := make([]*client, clients)
	for i := range cs {
		cs[i] = e.connect(b, connOpts{dev: kiosk, clientID: fmt.Sprintf("kiosk-01:b%d", i)})
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range cs {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		wg.Go(func() {
			for k := range n {
				p := &paho.Publish{Topic: "svc/booking/noop", QoS: 1,
					Payload:    fmt.Appendf(nil, `{"id":"b-%d","v":1}`, k),
					Properties: &paho.PublishProperties{ResponseTopic: "reply/" + c.id + "/r", CorrelationData: []byte("x")}}
				if _, err := c.c.Publish(context.Background(), p); err != nil {
					b.Error(err)
					return
				}
			}
			for range n {
				select {
				case <-c.msgs:
				case <-time.After(10 * time.Second):
					b.Error("answer missing")
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkServe: the decode, route and encode path alone (no MQTT).
func BenchmarkServe(b *testing.B) {
	r, out := fuzzRouter(b)
	cl := r.o.Server.NewClient(nil, "t", "kiosk-01", false)
	payload := []byte(`{"id":"01J9ZQ3W5Y0000000000000000","v":1,"text":"bath and groom for a golden retriever"}`)
	b.ReportAllocs()
	for b.Loop() {
		*out = (*out)[:0]
		r.serve(context.Background(), &job{topic: "svc/booking/echo", payload: payload, respTopic: "reply/kiosk-01/r", clientID: "kiosk-01", client: cl}, false)
	}
}
