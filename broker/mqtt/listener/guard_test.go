package listener_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/mqtt/listener"
)

// TestWebsocketPendingPerAddress: WebSocket connections that have not
// logged in count against the bound per address; past it a new one is
// closed at accept (its handshake fails) and counted; when one closes, a
// new one gets in.
func TestWebsocketPendingPerAddress(t *testing.T) {
	var refused atomic.Int32
	p := listener.NewPending(listener.PendingOptions{Max: 10, MaxPerAddress: 2,
		OnRefused: func(l, scope string) {
			if l == "ws" && scope == "address" {
				refused.Add(1)
			}
		}})
	ws := newWS(t, nil)
	ws.SetWrap(func(ln net.Listener) net.Listener {
		return listener.NewGuard(ln, listener.GuardOptions{ID: "ws", Pending: p})
	})
	startBroker(t, ws)

	a, _, err := dialRaw(t, wsURL(ws), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialRaw(t, wsURL(ws), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialRaw(t, wsURL(ws), nil); err == nil {
		t.Fatal("third WebSocket from one address accepted past the bound of 2")
	}
	if refused.Load() != 1 || p.Count() != 2 {
		t.Fatalf("refused %d, pending %d; want 1 and 2", refused.Load(), p.Count())
	}
	a.ws.Close()
	deadline := time.Now().Add(5 * time.Second)
	for p.Count() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("closed socket still counted: %d pending", p.Count())
		}
		time.Sleep(5 * time.Millisecond) // polling the count with a deadline
	}
	if _, _, err := dialRaw(t, wsURL(ws), nil); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
}

// failingListener fails its first n accepts with EMFILE, then accepts from
// the real listener.
type failingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// TestGuardRetriesFailedAccepts: accepts failing with EMFILE are retried
// (counted, logged once) instead of ending the accept loop, and Check
// reports the listener failing until it accepts again.
func TestGuardRetriesFailedAccepts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.n.Store(6)
	var errs atomic.Int32
	g := listener.NewGuard(fl, listener.GuardOptions{ID: "tcp", OnAcceptError: func(string) { errs.Add(1) }})
	defer g.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, err := g.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		got <- c
	}()
	deadline := time.Now().Add(5 * time.Second)
	for errs.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no failed accept counted")
		}
		time.Sleep(time.Millisecond) // polling the count with a deadline
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	if err := g.Check(ctx); err == nil || !strings.Contains(err.Error(), "too many open files") {
		t.Fatalf("Check while accepts fail: %v", err)
	}
	cancel()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case ac := <-got:
		ac.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("Guard never accepted after the failures")
	}
	if errs.Load() != 6 {
		t.Fatalf("%d failed accepts counted, want 6", errs.Load())
	}
	if err := g.Check(context.Background()); err != nil {
		t.Fatalf("Check after accepting again: %v", err)
	}
	g.Close()
	if _, err := g.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}
