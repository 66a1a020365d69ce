package device_test

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// lossyConn loses the first answer the broker sends on it, as a
// connection does when the answer is lost on the way: the MQTT stream is
// re-framed and that one PUBLISH left out.
type lossyConn struct {
	net.Conn
	mu      sync.Mutex
	in, out []byte
	dropped bool
}

func (c *lossyConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) == 0 {
		buf := make([]byte, 4096)
		n, err := c.Conn.Read(buf)
		c.in = append(c.in, buf[:n]...)
		c.frame()
		if err != nil && len(c.out) == 0 {
			return 0, err
		}
	}
	n := copy(b, c.out)
	c.out = c.out[n:]
	return n, nil
}

// frame moves whole packets from in to out, leaving out the first PUBLISH
// on a reply/ topic.
func (c *lossyConn) frame() {
	for len(c.in) >= 2 {
		size, mul, i := 0, 1, 1
		for ; i < len(c.in) && i < 5; i++ {
			size += int(c.in[i]&127) * mul
			mul *= 128
			if c.in[i]&128 == 0 {
				break
			}
		}
		if i >= len(c.in) || len(c.in) < i+1+size {
			return
		}
		pk := c.in[:i+1+size]
		c.in = c.in[i+1+size:]
		if body := pk[i+1:]; !c.dropped && pk[0]>>4 == 3 && len(body) > 2 {
			if tl := int(body[0])<<8 | int(body[1]); len(body) >= 2+tl && strings.HasPrefix(string(body[2:2+tl]), "reply/") {
				c.dropped = true
				continue
			}
		}
		c.out = append(c.out, pk...)
	}
}

// TestLostAnswerIsAskedAgain: a request whose answer never arrives is
// sent again with the same id after ResendAfter, and the repeat's answer
// (the first one, remembered by the broker) ends the call once.
func TestLostAnswerIsAskedAgain(t *testing.T) {
	s := startStore(t, storetest.Options{})
	cfg := config(s, "tablet-1")
	cfg.ResendAfter = 300 * time.Millisecond
	cfg.Dial = func(ctx context.Context, u *url.URL) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		return &lossyConn{Conn: conn}, nil
	}
	tb := connect(t, cfg)
	var open struct{ Conversation string }
	if err := tb.Do(ctxFor(t, 10*time.Second), "chat", "open", map[string]any{"members": []string{"staff-anna"}}, &open); err != nil {
		t.Fatal(err)
	}
	if st := tb.Stats(); st.Resent != 1 || st.Answered != 1 {
		t.Fatalf("after one lost answer: %+v, want 1 resent and 1 answered", st)
	}
}
