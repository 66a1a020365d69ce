package cloudsync_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/audit"
	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestKill9DuringDrainLosesNothing: a backlog of device status messages
// and booking changes builds while HQ is unreachable; the link returns and
// the daemon is killed with SIGKILL twice while draining. After the last
// restart HQ has, after dedup, every message once, in order per topic.
func TestKill9DuringDrainLosesNothing(t *testing.T) {
	hqb := startMosquitto(t, mosquittotest.Options{})
	k := newConsumer(t, hqb.Addr, "hq-consumer", "stores/+/up/#")
	px := link(t, hqb.Addr)
	px.Down()
	const devices, perDevice, pairs = 20, 150, 150
	devs := []st.Device{staffDev, kioskDev}
	for i := range devices {
		devs = append(devs, st.Device{ID: fmt.Sprintf("kiosk-%02d", i+10), Role: "kiosk"})
	}
	s := st.Start(t, st.Options{Devices: devs, Process: true, Config: cloudConfig(px.Addr(), nil)})

	var wg sync.WaitGroup
	for _, d := range devs[2:] {
		wg.Go(func() {
			c := s.Connect(t, d, "")
			for n := range perDevice {
				c.Publish(t, "devices/"+d.ID+"/status", fmt.Appendf(nil, `{"v":1,"n":%d}`, n))
			}
		})
	}
	staff := s.Connect(t, staffDev, "")
	kiosk := s.Connect(t, kioskDev, "")
	start := s.Now().Add(24 * time.Hour).Truncate(24 * time.Hour).Add(7 * time.Hour)
	for i := range pairs {
		var b struct {
			Booking struct{ ID string } `json:"booking"`
		}
		st.OK(t, kiosk.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-bath","start":%q,"customer":"cust-%d"}`, start.Format(time.RFC3339), i))).Decode(t, &b)
		st.OK(t, staff.Call(t, "booking", "cancel", fmt.Sprintf(`{"booking":%q}`, b.Booking.ID)))
	}
	wg.Wait()
	var last struct {
		Last uint64 `json:"last"`
	}
	st.OK(t, staff.Call(t, "booking", "changes", `{"limit":1}`)).Decode(t, &last)
	// Each staff cancel is also an entry of the activity log, sent up on
	// audit/entries; each change's card in its customer's conversation is
	// a chat entry (every conversation goes to HQ).
	cards := 0
	for i := range pairs {
		var h struct {
			LastSeq int `json:"last_seq"`
		}
		st.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":"cust-%d"}`, i))).Decode(t, &h)
		cards += h.LastSeq
	}
	total := devices*perDevice + int(last.Last) + pairs + cards
	if _, f := k.counts(); f != 0 {
		t.Fatalf("HQ got %d messages while unreachable", f)
	}

	px.Up()
	for _, frac := range []float64{0.3, 0.7} {
		waitAtLeast(t, k, int(frac*float64(total)), s)
		s.Kill()
		_, f := k.counts()
		t.Logf("killed with %d of %d at HQ", f, total)
		s.Up()
	}
	k.waitFirst(total, 60*time.Second)

	msgs := k.messages()
	all, first := k.counts()
	if first != total {
		t.Fatalf("HQ has %d distinct, want %d", first, total)
	}
	next := map[string]int{}
	for _, m := range msgs {
		var p struct {
			N   int    `json:"n"`
			Seq uint64 `json:"seq"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatalf("%s: %v", m.Payload, err)
		}
		got := p.N
		if m.LocalTopic == booking.HQChangesTopic || m.LocalTopic == audit.Topic || strings.HasPrefix(m.LocalTopic, "chat/") {
			got = int(p.Seq) - 1
		} else if !strings.HasPrefix(m.LocalTopic, "devices/") {
			t.Fatalf("unexpected topic %s", m.LocalTopic)
		}
		if got != next[m.LocalTopic] {
			t.Fatalf("%s: message %d after %d (lost or out of order)", m.LocalTopic, got, next[m.LocalTopic]-1)
		}
		next[m.LocalTopic]++
	}
	// The booking stream (the hello, the shop of the first link's
	// backfill, the changes, the activity log) and
	// the chat stream (the booking cards in customers' conversations) are
	// each numbered 1..n without gap or repeat across both kills, under
	// one epoch; device status carries no number.
	k.mu.Lock()
	hellos := append([]hq.Message(nil), k.hellos...)
	shops := append([]hq.Message(nil), k.shops...)
	k.mu.Unlock()
	if len(hellos) == 0 {
		t.Fatal("no hello from the store's first link")
	}
	if len(shops) == 0 {
		t.Fatal("no shop from the store's first link's backfill")
	}
	nums := map[string]map[uint64]string{"booking": {}, "chat": {}}
	epochs := map[string]bool{}
	for _, m := range append(msgs, hellos[0], shops[0]) {
		epochs[m.Epoch] = true
		switch m.Stream {
		case "booking", "chat":
			if o, dup := nums[m.Stream][m.SSeq]; dup && o != m.Origin {
				t.Fatalf("%s sseq %d on %s and %s", m.Stream, m.SSeq, o, m.Origin)
			}
			nums[m.Stream][m.SSeq] = m.Origin
		case "telemetry":
			if m.SSeq != 0 {
				t.Fatalf("%s: telemetry with sseq %d", m.LocalTopic, m.SSeq)
			}
		default:
			t.Fatalf("%s: stream %q", m.LocalTopic, m.Stream)
		}
	}
	numbered := 0
	for stream, got := range nums {
		for i := uint64(1); i <= uint64(len(got)); i++ {
			if _, ok := got[i]; !ok {
				t.Fatalf("%s stream: sseq %d missing of %d", stream, i, len(got))
			}
		}
		numbered += len(got)
	}
	if len(epochs) != 1 || numbered != total-devices*perDevice+2 {
		t.Fatalf("epochs %v, %d numbered entries; want one epoch and %d", epochs, numbered, total-devices*perDevice+2)
	}
	t.Logf("2 × kill -9 mid-drain: %d entries, HQ got %d copies (%d repeats dropped by dedup)", total, all, all-first)
}

func waitAtLeast(t *testing.T, k *consumer, n int, s *st.Store) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, f := k.counts(); f >= n {
			return
		}
		if time.Now().After(deadline) {
			_, f := k.counts()
			log, _ := os.ReadFile(filepath.Join(s.Dir, "broker.log"))
			t.Fatalf("HQ has %d, want at least %d\n%s", f, n, log)
		}
		time.Sleep(time.Millisecond)
	}
}
