package broker_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// dialFrom opens a TCP connection to addr from the local address ip (any
// 127.x.y.z is this host).
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByPeer reports whether the broker has closed c (a read ends with
// EOF or a reset within wait).
func closedByPeer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// metric returns the value of one sample of the broker's /metrics.
func metric(t *testing.T, s *storetest.Store, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestPendingSocketsBoundedPerAddress: one host opening 40 sockets that
// never log in keeps 10 (limits.max_pending_connects_per_address); the
// others are closed at once and counted, and a device elsewhere logs in.
// At shutdown the sockets still waiting are closed at once.
func TestPendingSocketsBoundedPerAddress(t *testing.T) {
	kiosk := storetest.Device{ID: "kiosk-1", Role: "kiosk"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{kiosk}, Config: func(c *broker.Config) {
		c.Limits.MaxPendingConnects = 30
		c.Limits.MaxPendingConnectsPerAddress = 10
	}})
	var socks []net.Conn
	for range 40 {
		socks = append(socks, dialFrom(t, "127.0.0.2", s.Addr))
	}
	closed := 0
	for _, c := range socks {
		if closedByPeer(c, 300*time.Millisecond) {
			closed++
		}
	}
	if closed != 30 {
		t.Fatalf("%d of 40 silent sockets from one address closed, want 30 (10 kept)", closed)
	}
	if n := metric(t, s, `storeedge_pending_connects_refused_total{listener="tcp",scope="address"}`); n != 30 {
		t.Fatalf("refusals counted: %v, want 30", n)
	}
	s.Connect(t, kiosk, "") // from 127.0.0.1

	// Shutting down does not wait for the 10 silent sockets' CONNECT
	// timeout (limits.connect_timeout, 10 s).
	start := time.Now()
	s.Stop()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with sockets not logged in", took)
	}
}

// TestLargeConnectClosedBeforeItIsRead: 200 sockets each announcing a ~1 MB
// CONNECT and sending 256 KiB of it are closed after the fixed header
// (limits.max_connect_bytes, 64 KiB), counted, and the broker's heap does
// not grow by what they sent.
func TestLargeConnectClosedBeforeItIsRead(t *testing.T) {
	const n, sent = 200, 256 << 10
	s := storetest.Start(t, storetest.Options{Config: func(c *broker.Config) {
		c.Limits.MaxPendingConnects = 1000
		c.Limits.MaxPendingConnectsPerAddress = 1000
		c.Limits.ConnectTimeout = time.Minute
	}})
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	// CONNECT, remaining length 1 000 000 (variable byte integer C0 84
	// 3D): under limits.max_packet_size, far over max_connect_bytes.
	header := []byte{0x10, 0xC0, 0x84, 0x3D}
	chunk := make([]byte, sent)
	socks := make([]net.Conn, n)
	var wg sync.WaitGroup
	for i := range socks {
		socks[i] = dialFrom(t, "127.0.0.3", s.Addr)
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(header); err != nil {
				return
			}
			_, _ = c.Write(chunk) // fails once the broker has closed it
		}(socks[i])
	}
	wg.Wait()
	grown := int64(heap()) - int64(before)
	t.Logf("heap in use grew by %d KiB for %d sockets that sent %d KiB each", grown>>10, n, sent>>10)
	if grown > 16<<20 {
		t.Fatalf("heap grew by %d MiB for %d sockets that have not logged in", grown>>20, n)
	}
	for i, c := range socks {
		if !closedByPeer(c, 2*time.Second) {
			t.Fatalf("socket %d with a 1 MB CONNECT still open", i)
		}
	}
	if got := metric(t, s, "storeedge_connects_too_large_total"); got != n {
		t.Fatalf("storeedge_connects_too_large_total %v, want %d", got, n)
	}
}
