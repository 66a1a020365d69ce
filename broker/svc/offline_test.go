package svc

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestAnswerReachesOfflinePersistentSession: with the durable session hook,
// an answer published while the requester is offline is queued for its
// persistent session and delivered, with its MQTT 5 properties, when it
// reconnects.
func TestAnswerReachesOfflinePersistentSession(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	e := startEnv(t, envCfg{sessions: true, setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(ctx context.Context, req *Request) (any, error) {
			started <- struct{}{}
			<-release
			return echo(ctx, req)
		}, Mutating())
	}})
	const id = "kiosk-01:tablet"
	c := e.connect(t, connOpts{dev: kiosk, clientID: id, expiry: 3600})
	c.request(t, "svc/booking/create", `{"id":"o-1","v":1,"text":"Tuesday 15:00"}`, "corr-o")
	<-started
	if err := c.c.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "client offline", func() bool {
		cl, ok := e.srv.Clients.Get(id)
		return ok && cl.Closed()
	})
	close(release)
	poll(t, "answer published", func() bool { return e.router.Stats().Answered == 1 })

	c2 := e.connect(t, connOpts{dev: kiosk, clientID: id, expiry: 3600, resume: true})
	m := c2.next(t)
	want := `{"v":1,"id":"o-1","ok":true,"echo":"Tuesday 15:00","from":"kiosk-01/kiosk"}`
	if m.Topic != "reply/"+id+"/r" || string(m.Payload) != want {
		t.Fatalf("got %s %s", m.Topic, m.Payload)
	}
	if m.Properties == nil || string(m.Properties.CorrelationData) != "corr-o" || m.Properties.ContentType != "application/json" {
		t.Fatalf("properties %+v", m.Properties)
	}
}
