package listener

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn presents a WebSocket as the byte stream mochi expects. MQTT packets
// and WebSocket messages need not line up: one packet may span several
// messages (and a message several frames), and one message may carry several
// packets [MQTT-6.0.0-2]. Reads therefore run on across message boundaries.
type wsConn struct {
	ws *websocket.Conn
	r  io.Reader // the message being read; only mochi's read goroutine uses it

	wmu       sync.Mutex   // gorilla allows one writer at a time
	wdeadline atomic.Int64 // write deadline in Unix ns, 0 for none; see SetWriteDeadline
	closeOnce sync.Once
	closeErr  error
}

var _ net.Conn = (*wsConn)(nil)

// Read reads the stream of binary messages. A normal close from the peer is
// reported as io.EOF, like a TCP connection closed after its last packet.
func (c *wsConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				c.closeWith(websocket.CloseUnsupportedData, "mqtt needs binary messages")
				return 0, ErrNotBinary
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil // end of this message; the stream goes on
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// Write sends p as one binary message; gorilla splits it into frames.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var deadline time.Time
	if ns := c.wdeadline.Load(); ns != 0 {
		deadline = time.Unix(0, ns)
	}
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a normal close frame when no write is in progress, then closes
// the connection. It is safe to call more than once and concurrently.
func (c *wsConn) Close() error {
	c.closeWith(websocket.CloseNormalClosure, "")
	return c.closeErr
}

// closeWith closes the connection with code. The close frame is a courtesy:
// it is skipped when a write holds the connection (the peer is slow or gone)
// and its error is ignored, so closing never waits more than closeGrace.
func (c *wsConn) closeWith(code int, text string) {
	c.closeOnce.Do(func() {
		if c.wmu.TryLock() {
			_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(closeGrace))
			c.wmu.Unlock()
		}
		c.closeErr = c.ws.Close()
	})
}

// LocalAddr returns the local network address.
func (c *wsConn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr returns the peer's network address.
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// SetDeadline sets the read and write deadlines. As with TLS, a deadline that
// passes breaks the connection for good; mochi closes it then anyway.
func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for later writes. mochi calls it from
// the read goroutine while others write, and gorilla's own setter is not safe
// against a concurrent write, so the value is handed to the next Write.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.wdeadline.Store(ns)
	return nil
}
