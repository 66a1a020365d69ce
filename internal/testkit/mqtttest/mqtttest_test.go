package mqtttest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// TestRequestAnswered: a requester's answer, published by another client
// on the Response Topic with the Correlation Data, comes back from Request;
// a message on another topic goes to the other handler.
func TestRequestAnswered(t *testing.T) {
	s := mqtttest.Start(t, mqtttest.Options{Hooks: []mqtt.Hook{new(auth.AllowHook)}})
	responder, _, err := mqtttest.Dial(t, s.Addr, &paho.Connect{ClientID: "responder", CleanStart: true, KeepAlive: 30}, nil)
	if err != nil {
		t.Fatal(err)
	}
	responder.AddOnPublishReceived(func(pr paho.PublishReceived) (bool, error) {
		p := pr.Packet
		go func() {
			_, _ = responder.Publish(context.Background(), &paho.Publish{Topic: p.Properties.ResponseTopic, QoS: 1,
				Payload: append([]byte("re: "), p.Payload...), Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData}})
		}()
		return true, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := responder.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "svc/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	other := make(chan string, 1)
	r := mqtttest.Connect(t, s.Addr, &paho.Connect{ClientID: "asker", CleanStart: true, KeepAlive: 30}, func(p *paho.Publish) { other <- p.Topic })
	for _, body := range []string{"one", "two"} {
		got, err := r.Request(ctx, "svc/x/y", []byte(body))
		if err != nil || string(got) != "re: "+body {
			t.Fatalf("Request(%s) = %q, %v", body, got, err)
		}
	}
	if _, err := r.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "news", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := responder.Publish(ctx, &paho.Publish{Topic: "news", QoS: 1, Payload: []byte("n")}); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-other:
		if topic != "news" {
			t.Fatalf("other got %s", topic)
		}
	case <-ctx.Done():
		t.Fatal("other handler got nothing")
	}
}

// TestCloseTwice: Close stops the listener and may be called again (the
// test's end calls it once more).
func TestCloseTwice(t *testing.T) {
	s := mqtttest.Start(t, mqtttest.Options{Hooks: []mqtt.Hook{new(auth.AllowHook)}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", s.Addr); err == nil {
		c.Close()
		t.Fatal("listener still accepting after Close")
	}
}

// TestClient: a client added to a server that never serves is one its
// hooks and its client list see.
func TestClient(t *testing.T) {
	srv := mqtttest.NewServer(mqtttest.Options{})
	cl := mqtttest.Client(srv, "kiosk-01:screen", "kiosk-01")
	got, ok := srv.Clients.Get("kiosk-01:screen")
	if !ok || got != cl || string(got.Properties.Username) != "kiosk-01" {
		t.Fatalf("got %v %v", got, ok)
	}
}
