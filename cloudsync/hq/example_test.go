package hq_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/cloudsync/hq"
)

// consumer is one of HQ's consumers of the stores' uplink. Several run
// side by side in the shared subscription's group; those in one process
// share one Dedup.
type consumer struct {
	dedup *hq.Dedup
	// next takes the first copy of each message: store it, update HQ's
	// replica of the store's bookings, show a chat message. It should not
	// fail for a reason a retry would fix: the copy is recorded as seen
	// before next runs. A consumer that writes to a database keeps a
	// unique key (store, origin) there, in the same transaction, instead.
	next func(hq.Message)
	log  *slog.Logger
}

// take handles one message from HQ's broker: first copies go on, repeats
// (a store sends again what HQ's broker did not acknowledge) and messages
// that are not from a store's cloudsync are dropped.
func (c *consumer) take(p *paho.Publish) {
	m, err := hq.Parse(p)
	if err != nil {
		c.log.Warn("not an uplink message; dropped", "topic", p.Topic, "err", err)
		return
	}
	if !c.dedup.First(m.Store, m.Origin) {
		return
	}
	c.next(m)
}

// run connects to HQ's broker and consumes until ctx ends. The example
// does not call it: it needs a broker.
func (c *consumer) run(ctx context.Context, broker *url.URL, clientID string) error {
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{broker},
		KeepAlive:  30,
		// A session that outlives the connection: messages the broker gave
		// this consumer wait for it while it reconnects.
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         3600,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			// Every consumer subscribes to the same shared filter; the
			// broker gives each message to one of them.
			s := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: hq.SharedFilter, QoS: 1}}}
			if _, err := cm.Subscribe(ctx, s); err != nil {
				c.log.Warn("subscribe", "filter", hq.SharedFilter, "err", err)
			}
		},
		ClientConfig: paho.ClientConfig{
			ClientID: clientID,
			// paho acknowledges a message when its handlers have returned,
			// so a message is handed on before HQ's broker forgets it.
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					c.take(pr.Packet)
					return true, nil
				},
			},
		},
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	dctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return cm.Disconnect(dctx)
}

// uplink builds a message as a store's cloudsync sends it.
func uplink(store, origin, seq, local, payload string) *paho.Publish {
	return &paho.Publish{
		QoS:     1,
		Topic:   "stores/" + store + "/up/" + local,
		Payload: []byte(payload),
		Properties: &paho.PublishProperties{User: paho.UserProperties{
			{Key: cloudsync.PropStore, Value: store},
			{Key: cloudsync.PropOrigin, Value: origin},
			{Key: cloudsync.PropSeq, Value: seq},
			{Key: cloudsync.PropStored, Value: "2026-11-24T06:00:00.123456789Z"},
		}},
	}
}

// A consumer hands on the first copy of each (store, origin) and drops the
// repeats. With a broker, run does the same for every message of the
// shared subscription.
func Example_consumer() {
	c := &consumer{
		dedup: hq.NewDedup(),
		next: func(m hq.Message) {
			fmt.Printf("%s seq %d %s: %s\n", m.Store, m.Seq, m.LocalTopic, m.Payload)
		},
		log: slog.New(slog.DiscardHandler),
	}
	// With HQ's broker, run hands take every message of the shared
	// subscription: go c.run(ctx, brokerURL, "hq-consumer-1"). Here the
	// messages are handed to take directly.
	c.take(uplink("s1", "41", "41", "booking/changes", `{"seq":7}`))
	c.take(uplink("s1", "41", "41", "booking/changes", `{"seq":7}`)) // sent again after a cut link
	c.take(uplink("s2", "41", "41", "booking/changes", `{"seq":3}`)) // another store's 41
	c.take(&paho.Publish{Topic: "stores/s1/up/booking/changes", Payload: []byte(`{}`)})
	fmt.Println(c.dedup.Len(), "distinct")

	_, err := hq.Parse(&paho.Publish{Topic: "stores/s1/up/booking/changes"})
	fmt.Println(err)
	// Output:
	// s1 seq 41 booking/changes: {"seq":7}
	// s2 seq 41 booking/changes: {"seq":3}
	// 2 distinct
	// hq: not a cloudsync uplink message
}
