package cloudsync_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
)

// A message from HQ that the store cannot take right now (a busy service,
// a full disk) is retried until it is taken, and the messages behind it
// wait their turn; an invalid one is dropped once and not retried.
func TestDownlinkRetriesPassingFailures(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	var mu sync.Mutex
	var got []string
	attempts := map[string]int{}
	deliver := func(_ context.Context, in cloudsync.Inbound) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[in.ID]++
		switch {
		case in.ID == "m1" && attempts["m1"] <= 2:
			return errors.New("database full")
		case in.ID == "bad":
			return fmt.Errorf("%w: not JSON", cloudsync.ErrInvalid)
		}
		got = append(got, in.ID+" "+in.Topic)
		return nil
	}
	br, _ := libraryBridge(t, testCloudConfig("mqtt://"+hqb.Addr), deliver)
	deadline := time.Now().Add(10 * time.Second)
	for !br.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatal("never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}

	pub := hqPublisherTB(t, hqb.Addr)
	send := func(topic, id string) {
		t.Helper()
		for {
			r, err := pub.Publish(context.Background(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(`{}`),
				Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: id}}}})
			if err != nil {
				t.Fatal(err)
			}
			if r.ReasonCode == 0 {
				return
			}
			// 0x10: no subscriber yet (the store subscribes right after connecting).
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: reason 0x%02x", id, r.ReasonCode)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	send("stores/s1/down/promo/a", "m0")
	send("stores/s1/down/chat/message", "m1")
	send("stores/s1/down/promo/b", "bad")
	send("hq/broadcast/notice", "m2")
	send("stores/s1/down/chat/message", "m1") // HQ's replay: already delivered

	want := []string{"m0 hq/promo/a", "m1 hq/chat/message", "m2 hq/broadcast/notice"}
	for deadline := time.Now().Add(10 * time.Second); ; {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) && br.Status().Downlink.Duplicates >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) || attempts["m1"] != 3 || attempts["bad"] != 1 {
		t.Fatalf("delivered %v after attempts %v; want %v, m1 tried 3 times, bad once", got, attempts, want)
	}
	s := br.Status()
	if s.Downlink.Retries != 2 || s.Downlink.Failed != 1 || s.LastError == "" {
		t.Fatalf("status %+v", s.Downlink)
	}
}

// An entry HQ's broker takes while no consumer of HQ is subscribed (PUBACK
// 0x10, no matching subscribers: HQ not started yet, or a restart of its
// broker that lost the shared subscriptions) is kept, not counted as
// delivered; the status says why, and it arrives once a consumer
// subscribes.
func TestUplinkKeepsWhatNoConsumerTook(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	br, db := libraryBridge(t, testCloudConfig("mqtt://"+hqb.Addr), func(context.Context, cloudsync.Inbound) error { return nil })
	// Only the store's hello and this booking change go up; nobody at HQ
	// is subscribed yet.
	if err := db.Update(context.Background(), func(tx *bolt.Tx) error {
		return br.Outbox().Put(tx, "booking/changes", []byte(`{"v":1,"seq":1,"type":"created"}`))
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := br.Status()
		if s.Connected && s.Rejected >= 1 && s.Backlog >= 1 && strings.Contains(s.LastError, "no subscriber") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v: want the entry kept, refused for want of a subscriber", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	k := newConsumer(t, hqb.Addr, "hq-late", "stores/+/up/#")
	for deadline := time.Now().Add(30 * time.Second); ; {
		found := false
		for _, m := range k.messages() {
			found = found || m.LocalTopic == "booking/changes"
		}
		if found && br.Status().Backlog == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kept change never reached the late consumer; status %+v", br.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
