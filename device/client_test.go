package device_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

func TestDoAnswersAndErrors(t *testing.T) {
	s := startStore(t, storetest.Options{})
	kiosk := connect(t, config(s, "kiosk-1"))

	var svcs struct {
		Services []struct{ ID string } `json:"services"`
		TimeZone string                `json:"time_zone"`
	}
	if err := kiosk.Do(ctxFor(t, 10*time.Second), "booking", "services", nil, &svcs); err != nil {
		t.Fatal(err)
	}
	if len(svcs.Services) == 0 || svcs.TimeZone == "" {
		t.Fatalf("services answer: %+v", svcs)
	}

	// A service's refusal: an *Error matching its code.
	err := kiosk.Do(ctxFor(t, 10*time.Second), "booking", "get", map[string]string{"booking": "bk-nothere"}, nil)
	var se *device.Error
	if !errors.Is(err, device.ErrNotFound) || !errors.As(err, &se) || se.Reason != "unknown_booking" {
		t.Fatalf("get of an unknown booking: %v", err)
	}
	if errors.Is(err, device.ErrConflict) {
		t.Fatal("a not_found error matches ErrConflict")
	}

	// The broker's refusal of the publish (a kiosk may not use chat).
	err = kiosk.Do(ctxFor(t, 10*time.Second), "chat", "list", nil, nil)
	if !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("kiosk calling chat: %v", err)
	}

	// Wrong credentials are refused at once, not retried forever.
	bad := config(s, "kiosk-1")
	bad.Password = "wrong"
	start := time.Now()
	if _, err := device.Connect(ctxFor(t, 10*time.Second), bad); !errors.Is(err, device.ErrRefused) {
		t.Fatalf("wrong password: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("wrong password took %v to report", time.Since(start))
	}
}

// TestStatusAndWill: the device is online while connected; when its
// connection vanishes its Last Will marks it offline, it comes back online
// by itself, and a clean Close marks it offline too.
func TestStatusAndWill(t *testing.T) {
	s := startStore(t, storetest.Options{})
	staff := connect(t, config(s, "staff-anna"))
	var mu sync.Mutex
	var states []string // kiosk-1's status messages, in order
	if err := staff.Subscribe(ctxFor(t, 5*time.Second), "devices/kiosk-1/status", func(m device.Message) {
		var st struct{ State string }
		_ = json.Unmarshal(m.Payload, &st)
		mu.Lock()
		states = append(states, st.State)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	seen := func(want ...string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return strings.Join(states, ",") == strings.Join(want, ",")
		}
	}
	var connMu sync.Mutex
	var conn net.Conn
	cfg := config(s, "kiosk-1")
	cfg.Heartbeat = 20 * time.Millisecond
	cfg.Dial = func(ctx context.Context, u *url.URL) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", u.Host)
		connMu.Lock()
		conn = c
		connMu.Unlock()
		return c, err
	}
	kiosk := connect(t, cfg)
	eventually(t, 5*time.Second, "kiosk online", seen("online"))
	eventually(t, 5*time.Second, "heartbeats", func() bool { return kiosk.Stats().Heartbeat >= 3 })

	connMu.Lock()
	conn.Close() // the Wi-Fi drops: no DISCONNECT, the broker sends the will
	connMu.Unlock()
	eventually(t, 5*time.Second, "offline by the will, then online again", seen("online", "offline", "online"))

	if err := kiosk.Close(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "offline after Close", seen("online", "offline", "online", "offline"))
}

// TestBurstAcrossBrokerRestart: chat tablets send a burst of messages
// while the broker restarts in the middle of it. Every send is answered
// exactly once, and the conversation holds each message exactly once, in
// the order each tablet sent them.
func TestBurstAcrossBrokerRestart(t *testing.T) {
	for _, mode := range []string{"restart", "kill"} {
		t.Run(mode, func(t *testing.T) {
			s := startStore(t, storetest.Options{Process: mode == "kill"})
			const perTablet = 60
			// No resend on a timer: every request sent after the restart
			// must be answered on its own.
			strict := func(id string) device.Config {
				c := config(s, id)
				c.ResendAfter = 10 * time.Minute
				return c
			}
			tablets := []*device.Client{connect(t, strict("tablet-1")), connect(t, strict("tablet-2"))}
			convs := make([]string, len(tablets))
			for i, tb := range tablets {
				var open struct{ Conversation string }
				if err := tb.Do(ctxFor(t, 10*time.Second), "chat", "open", map[string]any{"members": []string{"staff-anna"}}, &open); err != nil {
					t.Fatal(err)
				}
				convs[i] = open.Conversation
			}

			// Each tablet has typists sending one after the other, as a
			// chat screen does; the broker restarts in the middle.
			const typists = 4
			type sent struct {
				seq int
				err error
			}
			results := make([][]sent, len(tablets))
			var wg sync.WaitGroup
			var calls atomic.Int64
			var once sync.Once
			for i, tb := range tablets {
				results[i] = make([]sent, perTablet)
				for g := range typists {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for n := g; n < perTablet; n += typists {
							if n == perTablet/3 {
								once.Do(func() { // the broker goes away while sends are in flight
									go func() {
										if mode == "kill" {
											s.Kill()
											s.Up()
										} else {
											s.Restart()
										}
									}()
								})
							}
							var a struct{ Seq int }
							err := tb.Do(ctxFor(t, 60*time.Second), "chat", "send",
								map[string]any{"conversation": convs[i], "kind": "text", "text": fmt.Sprintf("m%03d", n)},
								&a, device.InLane("chat/"+convs[i]))
							calls.Add(1)
							results[i][n] = sent{a.Seq, err}
						}
					}()
				}
			}
			wg.Wait()
			if int(calls.Load()) != perTablet*len(tablets) {
				t.Fatalf("%d calls returned, want %d", calls.Load(), perTablet*len(tablets))
			}

			staff := connect(t, config(s, "staff-anna"))
			for i, tb := range tablets {
				seen := map[int]bool{}
				for n, r := range results[i] {
					if r.err != nil {
						t.Fatalf("tablet %d send %d: %v", i, n, r.err)
					}
					if seen[r.seq] {
						t.Fatalf("tablet %d: seq %d answered twice", i, r.seq)
					}
					seen[r.seq] = true
				}
				var h struct {
					Messages []struct {
						Seq  int
						From string
						Text string
					}
				}
				if err := staff.Do(ctxFor(t, 10*time.Second), "chat", "history",
					map[string]any{"conversation": convs[i], "limit": 100}, &h); err != nil {
					t.Fatal(err)
				}
				var texts []string
				for _, m := range h.Messages {
					if m.From == tb.ClientID() {
						texts = append(texts, m.Text)
					}
				}
				if len(texts) != perTablet {
					t.Fatalf("tablet %d: conversation holds %d of its messages, want %d: %v", i, len(texts), perTablet, texts)
				}
				// Each typist's messages are stored once each, in its order.
				last := map[int]int{}
				stored := map[string]bool{}
				for _, txt := range texts {
					var n int
					fmt.Sscanf(txt, "m%03d", &n)
					if stored[txt] {
						t.Fatalf("tablet %d: %q stored twice", i, txt)
					}
					stored[txt] = true
					if g := n % typists; last[g] > n {
						t.Fatalf("tablet %d: %q stored after m%03d (order)", i, txt, last[g])
					} else {
						last[g] = n
					}
				}
				st := tb.Stats()
				t.Logf("tablet %d: %d connects, %d sent, %d resent, %d repeats dropped", i, st.Connects, st.Sent, st.Resent, st.Repeats)
				if st.Connects < 2 {
					t.Fatalf("tablet %d never reconnected: the broker restart came too late", i)
				}
			}
		})
	}
}

// TestQueueSurvivesProgramRestart: requests made while the broker is down
// are kept on disk; the device program restarts, and the next run sends
// them and hands their answers to OnAnswer, each once.
func TestQueueSurvivesProgramRestart(t *testing.T) {
	s := startStore(t, storetest.Options{})
	dir := t.TempDir()
	cfg := config(s, "tablet-1")
	cfg.QueueDir = dir
	first := connect(t, cfg)
	var open struct{ Conversation string }
	if err := first.Do(ctxFor(t, 10*time.Second), "chat", "open", map[string]any{"members": []string{"staff-anna"}}, &open); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	var ids []string
	for n := range 20 {
		id, err := first.Enqueue("chat", "send", map[string]any{"conversation": open.Conversation, "kind": "text", "text": fmt.Sprintf("offline %d", n)},
			device.InLane("chat/"+open.Conversation))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := first.Close(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	s.Up()

	var mu sync.Mutex
	got := map[string]int{}
	cfg.OnAnswer = func(a device.Answer) {
		mu.Lock()
		defer mu.Unlock()
		if a.Err != nil {
			t.Errorf("answer %s: %v", a.ID, a.Err)
		}
		got[a.ID]++
	}
	second := connect(t, cfg)
	t.Logf("second run at start: %+v", second.Stats())
	eventually(t, 20*time.Second, "20 queued sends answered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 20
	})
	t.Logf("second run: %+v", second.Stats())
	for _, id := range ids {
		if got[id] != 1 {
			t.Fatalf("answer for %s delivered %d times", id, got[id])
		}
	}
	if q := second.Stats().Queued; q != 0 {
		t.Fatalf("%d requests still queued", q)
	}
	// History: the 20 in order, once each.
	var h struct {
		Messages []struct{ From, Text string }
	}
	if err := second.Do(ctxFor(t, 10*time.Second), "chat", "history", map[string]any{"conversation": open.Conversation}, &h); err != nil {
		t.Fatal(err)
	}
	var mine []struct{ From, Text string }
	for _, m := range h.Messages {
		if m.From == "tablet-1" { // the assistant answers too
			mine = append(mine, m)
		}
	}
	if len(mine) != 20 {
		t.Fatalf("history holds %d of the tablet's messages, want 20", len(mine))
	}
	for n, m := range mine {
		if want := fmt.Sprintf("offline %d", n); m.Text != want {
			t.Fatalf("message %d: %q, want %q", n, m.Text, want)
		}
	}
}

// TestDoWithdrawnOnDeadline: a request that cannot go out is withdrawn
// when its caller's context ends; nothing is sent later.
func TestDoWithdrawnOnDeadline(t *testing.T) {
	s := startStore(t, storetest.Options{})
	tb := connect(t, config(s, "tablet-1"))
	var open struct{ Conversation string }
	if err := tb.Do(ctxFor(t, 10*time.Second), "chat", "open", map[string]any{"members": []string{"staff-anna"}}, &open); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	eventually(t, 5*time.Second, "the tablet sees the broker gone", func() bool { return !tb.Connected() })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := tb.Do(ctx, "chat", "send", map[string]any{"conversation": open.Conversation, "kind": "text", "text": "never"}, nil)
	if !errors.Is(err, device.ErrNoAnswer) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send while the broker is down: %v", err)
	}
	s.Up()
	if err := tb.AwaitConnection(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	var h struct{ Messages []json.RawMessage }
	if err := tb.Do(ctxFor(t, 10*time.Second), "chat", "history", map[string]any{"conversation": open.Conversation}, &h); err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 0 {
		t.Fatalf("a withdrawn send was stored: %d messages", len(h.Messages))
	}
	if q := tb.Stats().Queued; q != 0 {
		t.Fatalf("%d requests still queued", q)
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for range 10000 {
		id := device.NewID()
		if len(id) != 26 || seen[id] || id <= prev {
			t.Fatalf("id %q after %q (seen: %v)", id, prev, seen[id])
		}
		seen[id] = true
		prev = id
	}
}

func TestConfigRefused(t *testing.T) {
	for name, cfg := range map[string]device.Config{
		"no id":         {Brokers: []string{"mqtt://x:1"}},
		"no broker":     {DeviceID: "k"},
		"bad scheme":    {DeviceID: "k", Brokers: []string{"http://x"}},
		"wildcard id":   {DeviceID: "k/1", Brokers: []string{"mqtt://x:1"}},
		"reconnect min": {DeviceID: "k", Brokers: []string{"mqtt://x:1"}, ReconnectMin: time.Second, ReconnectMax: time.Millisecond},
	} {
		if _, err := device.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPresenceEndKept: ending a customer's presence changes state
// (PROTOCOL.md marks presence_end mutating), so a kiosk keeps the call on
// disk like the other such ops: made while the broker is away, it is still
// queued when the kiosk's program starts again.
func TestPresenceEndKept(t *testing.T) {
	s := startStore(t, storetest.Options{})
	cfg := config(s, "kiosk-1")
	cfg.QueueDir = t.TempDir()
	first := connect(t, cfg)
	s.Stop()
	eventually(t, 5*time.Second, "the kiosk sees the broker gone", func() bool { return !first.Connected() })

	done := make(chan error, 1)
	go func() {
		_, err := first.KioskPresenceEnd(context.Background())
		done <- err
	}()
	eventually(t, 5*time.Second, "the call queued", func() bool { return first.Stats().Queued == 1 })
	if err := first.Close(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, device.ErrClosed) {
		t.Fatalf("the call ended with %v, want ErrClosed", err)
	}

	second, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close(ctxFor(t, 5*time.Second))
	if q := second.Stats().Queued; q != 1 {
		t.Fatalf("%d requests kept on disk, want the presence_end", q)
	}
}
