package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/internal/testkit/testbroker"
)

// openACL grants everything to the lab role: this test is about durability,
// not access control.
const openACL = `roles:
  lab:
    publish: ["#"]
    subscribe: ["#"]
`

// dial connects an MQTT 5 client; persistent sessions use Clean Start false
// and a one-hour expiry.
func dial(ctx context.Context, addr, id string, persistent bool, onMsg func(*paho.Publish)) (*paho.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	cfg := paho.ClientConfig{Conn: conn, ClientID: id}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { onMsg(pr.Packet); return true, nil },
		}
	}
	c := paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: !persistent}
	if persistent {
		exp := uint32(3600)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &exp}
	}
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if ca.ReasonCode != 0 {
		conn.Close()
		return nil, fmt.Errorf("connack reason 0x%02x", ca.ReasonCode)
	}
	return c, nil
}

// TestKill9LosesNoAcknowledgedMessage publishes QoS 1 from several clients,
// SIGKILLs the broker at a random moment, restarts it, and repeats; a
// persistent-session subscriber must end up with every message that got a
// PUBACK.
func TestKill9LosesNoAcknowledgedMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess test")
	}
	rounds := 5
	if s := os.Getenv("STOREEDGE_KILL_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	const publishers, streams = 4, 8
	dir := t.TempDir()
	opts := testbroker.Options{
		Dir: dir, TCP: testbroker.FreePort(t), HTTP: testbroker.FreePort(t),
		ACL: openACL, Anonymous: "lab",
		Extra: "limits:\n  max_queued_messages: 60000\n  connect_rate_per_minute: 0\n",
	}

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		received = map[string]int{}
	)
	onMsg := func(p *paho.Publish) {
		mu.Lock()
		received[string(p.Payload)]++
		mu.Unlock()
	}
	ctx := context.Background()

	// The subscriber's session is created once and outlives every crash.
	p := testbroker.Start(t, opts)
	sub, err := dial(ctx, opts.TCP, "kill-sub", true, onMsg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "load/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	var next [publishers * streams]atomic.Int64
	for round := 0; round < rounds; round++ {
		if round > 0 {
			p = testbroker.Start(t, opts)
			// Half the rounds the subscriber is online during the load,
			// half it comes back only after it.
			if round%2 == 0 {
				if sub, err = dial(ctx, opts.TCP, "kill-sub", true, onMsg); err != nil {
					t.Fatalf("round %d: subscriber reconnect: %v", round, err)
				}
			} else {
				sub = nil
			}
		}
		var wg sync.WaitGroup
		for i := 0; i < publishers; i++ {
			c, err := dial(ctx, opts.TCP, fmt.Sprintf("kill-pub-%d", i), false, nil)
			if err != nil {
				t.Fatalf("round %d: publisher: %v", round, err)
			}
			// Several streams share each connection, so the broker has many
			// of its publishes waiting for a commit when it dies.
			for w := 0; w < streams; w++ {
				wg.Add(1)
				go func(i, w int) {
					defer wg.Done()
					for {
						n := next[i*streams+w].Add(1)
						msg := fmt.Sprintf("p%d.%d-%d", i, w, n)
						pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
						r, err := c.Publish(pctx, &paho.Publish{Topic: fmt.Sprintf("load/%d", i), QoS: 1, Payload: []byte(msg)})
						cancel()
						if err != nil || r == nil {
							return // the broker is gone
						}
						if r.ReasonCode < 0x80 {
							mu.Lock()
							acked[msg] = true
							mu.Unlock()
						}
					}
				}(i, w)
			}
		}
		time.Sleep(time.Duration(150+rand.IntN(600)) * time.Millisecond) // the random moment of the crash, not a synchronisation
		p.Kill()
		wg.Wait()
		if sub != nil {
			<-sub.Done()
		}
	}

	// Final restart: the subscriber collects what is left.
	p = testbroker.Start(t, opts)
	if sub, err = dial(ctx, opts.TCP, "kill-sub", true, onMsg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var missing []string
	for {
		mu.Lock()
		missing = missing[:0]
		for m := range acked {
			if received[m] == 0 {
				missing = append(missing, m)
			}
		}
		total, dups := len(acked), 0
		for _, n := range received {
			if n > 1 {
				dups++
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			t.Logf("%d rounds: %d messages acknowledged, all %d delivered (%d delivered more than once, allowed for QoS 1)", rounds, total, total, dups)
			if total < rounds*10 {
				t.Fatalf("only %d messages acknowledged in %d rounds: the load did not run", total, rounds)
			}
			break
		}
		if time.Now().After(deadline) {
			if len(missing) > 10 {
				missing = missing[:10]
			}
			t.Fatalf("%d acknowledged messages never delivered, e.g. %s\nbroker log:\n%s", len(missing), strings.Join(missing, ", "), p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = sub.Disconnect(&paho.Disconnect{})
}
