package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/hqrig"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// BenchmarkHomeToConsole measures a customer's message from home to the
// store's staff, the link up: from the start of her POST
// /home/api/v1/messages at storeedge-hq (hqrig: PostgreSQL, mosquitto,
// storeedge-hq as a process) to the message event on chat/{her}/events at a
// staff client of the store, through HQ's broker, the store's cloudsync
// (via a fault proxy, not cut) and the chat service. One message at a
// time; reported as p50-ms and p99-ms over b.N messages.
//
//	go test -run '^$' -bench HomeToConsole -benchtime 200x ./hq/scale/
func BenchmarkHomeToConsole(b *testing.B) {
	hq := hqrig.Start(b, hqrig.Options{
		// The bench sends faster than a person; the limit is lifted for it.
		YAML: "home:\n  messages_per_minute: 1000000\n",
	})
	const storeID = "s-bench-home"
	s := hq.LinkStoreWith(b, storeID, storetest.Options{Start: time.Now(),
		Devices: []storetest.Device{{ID: "staff-anna", Role: "staff"}, {ID: "tablet-1", Role: "chat-tablet"}},
		// Nor does the store hold her to a person's pace.
		Config: func(c *broker.Config) { c.Chat.CustomerMessagesPerMinute = 0 }})
	hq.WaitOnline(b, storeID, true, 30*time.Second)

	// A customer of the store continues at home.
	tablet := s.Connect(b, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	phone := s.CustomerLogin(b, tablet, "", "phone", false)
	customer := phone.Username
	var open struct{ Conversation string }
	storetest.OK(b, phone.Call(b, "chat", "open", `{}`)).Decode(b, &open)
	storetest.OK(b, phone.Call(b, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Hello"}`, open.Conversation)))
	var link proto.HomeLinkAnswer
	storetest.OK(b, phone.Call(b, proto.ServiceHome, "link", `{}`)).Decode(b, &link)
	var login struct {
		Token string `json:"token"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; { // the vouch may not be at HQ yet
		code, body := homePost(hq.URL, "", "/login", fmt.Sprintf(`{"store":%q,"code":%q,"device":"bench"}`, storeID, link.Code))
		if code == http.StatusOK {
			if err := json.Unmarshal(body, &login); err != nil || login.Token == "" {
				b.Fatalf("login: %s (%v)", body, err)
			}
			break
		}
		if code != http.StatusNotFound || time.Now().After(deadline) {
			b.Fatalf("login: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}

	staff := s.Connect(b, storetest.Device{ID: "staff-anna", Role: "staff"}, "console")
	staff.Subscribe(b, "chat/"+customer+"/events")

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		marker := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
		start := time.Now()
		done := make(chan error, 1)
		go func() {
			code, body := homePost(hq.URL, login.Token, "/messages", fmt.Sprintf(`{"id":%q,"kind":"text","text":%q}`, marker, "How is Dou? "+marker))
			if code != http.StatusOK {
				done <- fmt.Errorf("POST /messages: %d %s", code, body)
				return
			}
			done <- nil
		}()
		var posted error
		seen := false
		for deadline := start.Add(20 * time.Second); !seen; {
			seen = len(staff.Msgs(func(m storetest.Msg) bool { return strings.Contains(string(m.Payload), marker) })) > 0
			if seen {
				lat = append(lat, time.Since(start))
				break
			}
			select {
			case posted = <-done:
				if posted != nil {
					b.Fatal(posted)
				}
				done = nil // answered; the event may still be on its way
			default:
			}
			if time.Now().After(deadline) {
				b.Fatalf("message %d not at the store's staff within 20 s (HQ answered: %v)", i, done == nil)
			}
			time.Sleep(time.Millisecond) // polling the staff client's messages: the figure's resolution
		}
		if done != nil {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(ms(quantile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// quantile is the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

// homePost POSTs body to HQ's API at home (path under /home/api/v1) with
// the login token (none: "").
func homePost(base, token, path, body string) (int, []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/home/api/v1"+path, strings.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}
