package ingest

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
)

// bufConn reads through a buffer: the client reads each packet's header
// and fields in small reads, one system call each on a bare connection.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// dialTimeout bounds one connection attempt.
const dialTimeout = 10 * time.Second

// dialBuffered connects to mqtt:// and mqtts:// brokers with a read
// buffer (ok false for other schemes: autopaho's own dialers serve them).
func dialBuffered(brokers []*url.URL) (func(context.Context, autopaho.ClientConfig, *url.URL) (net.Conn, error), bool) {
	for _, u := range brokers {
		switch strings.ToLower(u.Scheme) {
		case "mqtt", "tcp", "mqtts", "ssl", "tls":
		default:
			return nil, false
		}
	}
	return func(ctx context.Context, cfg autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		var d net.Dialer
		var conn net.Conn
		var err error
		switch strings.ToLower(u.Scheme) {
		case "mqtts", "ssl", "tls":
			td := tls.Dialer{NetDialer: &d, Config: cfg.TlsCfg}
			conn, err = td.DialContext(ctx, "tcp", u.Host)
		default:
			conn, err = d.DialContext(ctx, "tcp", u.Host)
		}
		if err != nil {
			return nil, err
		}
		return &bufConn{Conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}, nil
	}, true
}
