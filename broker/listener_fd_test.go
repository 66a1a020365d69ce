package broker_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestListenerSurvivesRunningOutOfFileDescriptors: a broker limited to 64
// file descriptors is sent more connections than it can open. While it
// cannot accept, /readyz says so (over a connection opened before); once the
// connections are gone it accepts again by itself: /readyz is ready and a
// device logs in. (mochi's accept loop used to end at the first failed
// accept, for good, while /readyz still said ready.)
func TestListenerSurvivesRunningOutOfFileDescriptors(t *testing.T) {
	kiosk := storetest.Device{ID: "kiosk-1", Role: "kiosk"}
	s := storetest.Start(t, storetest.Options{
		Devices:      []storetest.Device{kiosk},
		Process:      true,
		MaxOpenFiles: 64,
		Config: func(c *broker.Config) {
			c.Limits.MaxPendingConnects = 1000
			c.Limits.MaxPendingConnectsPerAddress = 1000
			c.Limits.ConnectTimeout = time.Minute
		},
	})
	// One kept-alive HTTP connection, opened while the broker has
	// descriptors to spare, to ask it while it has none.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	get := func(path string) (int, string, error) {
		resp, err := hc.Get("http://" + s.HTTP + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if code, body, err := get("/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("readyz before: %d %s %v", code, body, err)
	}

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range 120 {
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}

	deadline := time.Now().Add(20 * time.Second)
	var code int
	var body string
	for {
		var err error
		code, body, err = get("/readyz")
		if err == nil && code == http.StatusServiceUnavailable && strings.Contains(body, "cannot accept connections") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz while the broker has no descriptor left: %d %s %v", code, body, err)
		}
		time.Sleep(50 * time.Millisecond) // polling readiness with a deadline
	}
	t.Logf("readyz while out of descriptors: %s", body)
	if _, m, err := get("/metrics"); err != nil || !strings.Contains(m, `storeedge_accept_errors_total{listener="tcp"}`) {
		t.Fatalf("accept errors not counted (%v):\n%s", err, grep(m, "accept"))
	}

	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, body, err := get("/readyz")
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the connections closed: %d %s %v", code, body, err)
		}
		time.Sleep(50 * time.Millisecond) // polling readiness with a deadline
	}
	s.Connect(t, kiosk, "after")
}

// grep returns the lines of s containing substr.
func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
