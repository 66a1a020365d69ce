package setup_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// The printed counter code holds the customer page with start=1 and never
// expires; each phone that opens it gets its own customer login, and one
// address gets at most counter_starts_per_address_per_hour of them.
func TestCounterStarts(t *testing.T) {
	s := storetest.Start(t, storetest.Options{
		Config: func(c *broker.Config) {
			c.Chat.PublicURL = "http://shop.lan:8080/chat"
			c.Setup.CounterStartsPerAddress = 3
		},
	})
	resp, err := http.Get("http://" + s.HTTP + "/tablet/counter.json")
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ URL, Store string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if info.URL != "http://shop.lan:8080/chat?start=1" || info.Store != "demo-store" {
		t.Fatalf("counter.json: %+v", info)
	}
	resp, err = http.Get("http://" + s.HTTP + "/tablet/counter.png")
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatalf("counter.png: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(png))
	}

	seen := map[string]bool{}
	for i := range 3 {
		a := post(t, s.HTTP, "/chat/start", `{}`)
		var l struct{ Customer, Username, Password string }
		if err := json.Unmarshal([]byte(a.body), &l); err != nil || a.status != http.StatusOK || !strings.HasPrefix(l.Customer, "cust-") {
			t.Fatalf("start %d: %d %s", i, a.status, a.body)
		}
		if seen[l.Customer] {
			t.Fatalf("start %d gave customer %s again", i, l.Customer)
		}
		seen[l.Customer] = true
		// The login works (and is that customer).
		c := s.ConnectAs(t, l.Username, l.Password, "phone", false)
		storetest.OK(t, c.Call(t, "chat", "open", `{}`))
	}
	// The fourth from the same address in the hour: refused, with when to
	// retry, and no customer made.
	a := post(t, s.HTTP, "/chat/start", `{}`)
	if a.status != http.StatusTooManyRequests || a.err.Code != "rate_limited" || a.err.RetryAfter < 60 {
		t.Fatalf("4th start from one address: %d %s, want 429 rate_limited with retry_after", a.status, a.body)
	}
	// The budget refills over the hour: 20 minutes give one more.
	s.Advance(20 * time.Minute)
	if a := post(t, s.HTTP, "/chat/start", `{}`); a.status != http.StatusOK {
		t.Fatalf("20 min later (one login refilled): %d %s", a.status, a.body)
	}
	if a := post(t, s.HTTP, "/chat/start", `{}`); a.status != http.StatusTooManyRequests {
		t.Fatalf("and one more: %d %s, want 429", a.status, a.body)
	}
	if m := metric(t, s.HTTP, `storeedge_http_rate_limited_total{limit="counter_starts_per_address"}`); m != "2" {
		t.Errorf("refused starts counted %q, want 2", m)
	}
	// GET is not a start (a link preview or a crawler makes no customer).
	resp, err = http.Get("http://" + s.HTTP + "/chat/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /chat/start = %d, want 405", resp.StatusCode)
	}
}

// metric reads one sample of /metrics ("" when it is not there).
func metric(t *testing.T, httpAddr, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// All addresses together get at most counter_starts_per_minute.
func TestCounterStartsTotal(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Config: func(c *broker.Config) {
		c.Setup.CounterStartsPerAddress = 100
		c.Setup.CounterStartsPerMinute = 2
	}})
	for i := range 2 {
		if a := post(t, s.HTTP, "/chat/start", `{}`); a.status != http.StatusOK {
			t.Fatalf("start %d: %d %s", i, a.status, a.body)
		}
	}
	if a := post(t, s.HTTP, "/chat/start", `{}`); a.status != http.StatusTooManyRequests || a.err.RetryAfter < 1 {
		t.Fatalf("3rd start in a minute: %d %s", a.status, a.body)
	}
}
