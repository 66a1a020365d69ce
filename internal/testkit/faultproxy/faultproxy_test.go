package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// echoServer echoes every connection back until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads back the echo within a deadline.
func roundTrip(c net.Conn, msg []byte) error {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

// pattern is n bytes that reveal any loss or reordering.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i/251)
	}
	return b
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestForwardsBothWays(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	msg := pattern(200 << 10) // larger than one buffer, to cross chunk boundaries
	// Write and read concurrently: the echo would otherwise fill both
	// sockets' buffers and deadlock the test, not the proxy.
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs from what was sent")
	}
	// The counters move just after each write, so the peer may read the
	// last bytes a moment before they are counted.
	want := int64(len(msg))
	waitFor(t, "the byte counters", func() bool {
		st := p.Stats()
		return st.BytesUp == want && st.BytesDown == want
	})
	if st := p.Stats(); st.Accepted != 1 || st.Active != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHalfClosePassesOn(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c) // the echo, then EOF once the server closes
	if err != nil || string(got) != "bye" {
		t.Fatalf("got %q, %v", got, err)
	}
	waitFor(t, "the link to be dropped", func() bool { return p.Stats().Active == 0 })
}

func TestCutClosesLiveConnectionAndNextDialWorks(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if err := roundTrip(c, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Fatalf("read after Cut: n=%d err=%v, want the connection closed", n, err)
	}
	st := p.Stats()
	if st.Cuts != 1 || st.Active != 0 {
		t.Fatalf("stats %+v", st)
	}
	c2 := dial(t, p.Addr())
	if err := roundTrip(c2, []byte("again")); err != nil {
		t.Fatal(err)
	}
}

func TestCutManyTimes(t *testing.T) {
	p := newProxy(t, echoServer(t))
	for i := range 60 {
		c := dial(t, p.Addr())
		if err := roundTrip(c, []byte{byte(i)}); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		p.Cut()
		_ = c.Close()
	}
	if st := p.Stats(); st.Cuts != 60 || st.Accepted != 60 {
		t.Fatalf("stats %+v", st)
	}
}

// TestCutRacesWithTraffic cuts while connections are being opened and used;
// run with -race it checks the bookkeeping, and every connection must end.
func TestCutRacesWithTraffic(t *testing.T) {
	p := newProxy(t, echoServer(t))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				c, err := net.Dial("tcp", p.Addr())
				if err != nil {
					continue
				}
				_ = roundTrip(c, []byte("x")) // may fail: that is the point
				_ = c.Close()
			}
		}()
	}
	for range 20 {
		p.Cut()
	}
	wg.Wait()
	waitFor(t, "all links to end", func() bool { return p.Stats().Active == 0 })
}

func TestDownRefusesUpRestores(t *testing.T) {
	p := newProxy(t, echoServer(t))
	live := dial(t, p.Addr())
	if err := roundTrip(live, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	p.Down()
	if err := roundTrip(live, []byte("hi")); err == nil {
		t.Fatal("live connection survived Down")
	}
	// The dial itself may succeed (the listener stays bound), but the
	// connection must be dead at once.
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		if err := roundTrip(c, []byte("hi")); err == nil {
			t.Fatal("connection while down carried data")
		}
		_ = c.Close()
	}
	if st := p.Stats(); st.Refused == 0 {
		t.Fatalf("stats %+v, want a refusal", st)
	}
	p.Up()
	if err := roundTrip(dial(t, p.Addr()), []byte("back")); err != nil {
		t.Fatal(err)
	}
}

func TestStallHoldsBytesThenDeliversInOrder(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if err := roundTrip(c, []byte("warm")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the warm-up to be counted", func() bool { return p.Stats().BytesDown == 4 })
	p.Stall(true)
	msg := pattern(100 << 10)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	// Nothing may come back while stalled. An echo takes microseconds, so
	// a quarter second of silence is a generous check, not a wait for an event.
	if err := c.SetReadDeadline(time.Now().Add(250 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); !os.IsTimeout(err) {
		t.Fatalf("read while stalled: n=%d err=%v, want a timeout", n, err)
	}
	if st := p.Stats(); st.BytesDown != 4 || st.Active != 1 {
		t.Fatalf("bytes moved while stalled: %+v", st)
	}
	p.Stall(false)
	got := make([]byte, len(msg))
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("bytes after the stall differ from what was sent")
	}
}

func TestCutEndsAStall(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c := dial(t, p.Addr())
	if err := roundTrip(c, []byte("warm")); err != nil {
		t.Fatal(err)
	}
	p.Stall(true)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	// Close must not hang on the forwarder blocked in the stall.
	waitFor(t, "the stalled link to end", func() bool { return p.Stats().Active == 0 })
}

func TestThrottleLimitsRate(t *testing.T) {
	p := newProxy(t, echoServer(t))
	const rate = 10 << 10
	p.Throttle(rate)
	c := dial(t, p.Addr())
	msg := pattern(20 << 10)
	start := time.Now()
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, len(msg))
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("throttled bytes differ")
	}
	// 20 KiB at 10 KiB/s is 2 s less one initial burst (0.1 s); each
	// direction is limited separately but they overlap, so about 1.9 s.
	if took < 1500*time.Millisecond || took > 6*time.Second {
		t.Fatalf("20 KiB at 10 KiB/s took %v, want about 2 s", took)
	}

	// Lifting the limit frees a writer waiting off its debt: at 1 B/s these
	// four bytes would take three seconds. Whether the forwarder is already
	// waiting or not when the limit goes, they must arrive at once.
	p.Throttle(1)
	if _, err := c.Write([]byte("slow")); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	p.Throttle(0)
	got = make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "slow" {
		t.Fatalf("got %q, %v", got, err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("after Throttle(0) the rest took %v", took)
	}
}

func TestDialErrorDropsClient(t *testing.T) {
	// A target that was free a moment ago and is now closed refuses.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	_ = ln.Close()
	p := newProxy(t, target)
	c := dial(t, p.Addr())
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Fatalf("read: %v, want the connection closed", err)
	}
	waitFor(t, "the dial error to be counted", func() bool { return p.Stats().DialErrors == 1 })
}

func TestCloseIsIdempotent(t *testing.T) {
	p, err := New("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if err := roundTrip(c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}
