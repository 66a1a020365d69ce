package cloudsync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
)

// At most cloud.inflight entries await HQ's PUBACK: with the line silent
// (bytes held, no acknowledgement comes back) the uplink sends exactly
// that many and waits; when the line speaks again everything arrives.
func TestInflightWindowHolds(t *testing.T) {
	hqb := mosquittotest.Start(t, mosquittotest.Options{})
	k := newConsumerTB(t, hqb.Addr, "hq-window", "stores/+/up/#")
	px := link(t, hqb.Addr)
	cfg := testCloudConfig("mqtt://" + px.Addr())
	cfg.Inflight = 5
	cfg.KeepAlive = time.Minute // a silent line must not look dead during the test
	br, db := libraryBridge(t, cfg, nil)
	deadline := time.Now().Add(10 * time.Second)
	// Connected, and the hello filed for the new database acknowledged.
	for s := br.Status(); !s.Connected || s.Acked != hello || s.Backlog != 0; s = br.Status() {
		if time.Now().After(deadline) {
			t.Fatalf("never connected with the hello acknowledged: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
	px.Stall(true)
	const n = 50
	err := db.Update(context.Background(), func(tx *bolt.Tx) error {
		for i := range n {
			if err := br.Outbox().Put(tx, "booking/changes", fmt.Appendf(nil, `{"seq":%d}`, i+1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for br.Status().Sent < uint64(hello+cfg.Inflight) {
		if time.Now().After(deadline) {
			t.Fatalf("sent %d, want %d", br.Status().Sent, hello+cfg.Inflight)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Give the uplink every chance to overrun the window: the stalled line
	// holds the bytes, so nothing is acknowledged meanwhile.
	for range 20 {
		if s := br.Status(); s.Sent != uint64(hello+cfg.Inflight) || s.Inflight != cfg.Inflight || s.Acked != hello {
			t.Fatalf("with the line silent: sent %d, inflight %d, acked %d; want %d, %d, %d", s.Sent, s.Inflight, s.Acked, hello+cfg.Inflight, cfg.Inflight, hello)
		}
		time.Sleep(10 * time.Millisecond)
	}
	px.Stall(false)
	k.waitFirstTB(n, 10*time.Second)
	for i, m := range k.messages() {
		if want := fmt.Sprintf(`{"seq":%d}`, i+1); string(m.Payload) != want {
			t.Fatalf("message %d: %s, want %s", i, m.Payload, want)
		}
	}
}
