package cloudsync

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
)

// Probe steps: where reaching HQ's broker failed.
const (
	ProbeConnect   = "connect"   // the address, DNS, TCP
	ProbeTLS       = "tls"       // the TLS handshake
	ProbeWebsocket = "websocket" // the WebSocket upgrade
	ProbeLogin     = "login"     // MQTT CONNECT: no CONNACK, or a refusal
)

// ProbeError says at which step a Probe failed.
type ProbeError struct {
	Step string
	// Reason is the CONNACK reason code when HQ's broker refused the
	// login (Step ProbeLogin); 0 otherwise.
	Reason byte
	Err    error
}

func (e *ProbeError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *ProbeError) Unwrap() error { return e.Err }

// Probe reaches HQ's broker once, as the bridge would: TCP (or WebSocket),
// TLS for tls:// and wss://, and an MQTT 5 CONNECT with the store's
// username and password. It logs in under clientID + "-doctor" with a
// clean session that ends with the connection, so the bridge's own session
// (and the downlink queued in it) is left alone, then disconnects. ctx
// bounds the whole probe. The error is a *ProbeError.
func (c Config) Probe(ctx context.Context, clientID string) error {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" {
		return &ProbeError{Step: ProbeConnect, Err: fmt.Errorf("cloud.url %q: want scheme://host:port", c.URL)}
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return &ProbeError{Step: ProbeTLS, Err: err}
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = u.Hostname()
	}
	var conn net.Conn
	switch u.Scheme {
	case "ws", "wss":
		d := *websocket.DefaultDialer
		d.TLSClientConfig = tlsCfg
		d.Subprotocols = []string{"mqtt"}
		d.HandshakeTimeout = 0 // ctx bounds it
		ws, _, err := d.DialContext(ctx, u.String(), nil)
		if err != nil {
			step := ProbeWebsocket
			var ne net.Error
			var oe *net.OpError
			switch {
			case isTLSError(err):
				step = ProbeTLS
			case errors.As(err, &oe) || errors.As(err, &ne):
				step = ProbeConnect
			}
			return &ProbeError{Step: step, Err: err}
		}
		conn = &wsConn{Conn: ws}
	default:
		addr := u.Host
		if u.Port() == "" {
			port := "1883"
			if u.Scheme == "tls" || u.Scheme == "ssl" || u.Scheme == "mqtts" {
				port = "8883"
			}
			addr = net.JoinHostPort(u.Hostname(), port)
		}
		var d net.Dialer
		raw, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return &ProbeError{Step: ProbeConnect, Err: err}
		}
		conn = raw
		if u.Scheme == "tls" || u.Scheme == "ssl" || u.Scheme == "mqtts" {
			tc := tls.Client(raw, tlsCfg)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = raw.Close()
				return &ProbeError{Step: ProbeTLS, Err: err}
			}
			conn = tc
		}
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cli := paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: clientID + "-doctor"})
	pw := []byte(c.password())
	ack, err := cli.Connect(ctx, &paho.Connect{
		ClientID: clientID + "-doctor", KeepAlive: 30, CleanStart: true,
		Username: c.Username, UsernameFlag: c.Username != "", Password: pw, PasswordFlag: len(pw) > 0,
	})
	if err != nil {
		pe := &ProbeError{Step: ProbeLogin, Err: err}
		if ack != nil && ack.ReasonCode >= 0x80 {
			pe.Reason = ack.ReasonCode
			pe.Err = fmt.Errorf("refused with reason 0x%02x (%s)", ack.ReasonCode, connackReason(ack.ReasonCode))
		}
		return pe
	}
	_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
	return nil
}

// connackReason names the MQTT 5 CONNACK reason codes a store meets.
func connackReason(code byte) string {
	switch code {
	case 0x84:
		return "unsupported protocol version"
	case 0x85:
		return "client identifier not valid"
	case 0x86:
		return "bad user name or password"
	case 0x87:
		return "not authorized"
	case 0x88:
		return "server unavailable"
	case 0x89:
		return "server busy"
	case 0x8A:
		return "banned"
	case 0x97:
		return "quota exceeded"
	default:
		return "refused"
	}
}

func isTLSError(err error) bool {
	var ce *tls.CertificateVerificationError
	var re tls.RecordHeaderError
	var ae tls.AlertError
	return errors.As(err, &ce) || errors.As(err, &re) || errors.As(err, &ae)
}

// wsConn carries MQTT in WebSocket binary messages, for paho's client.
type wsConn struct {
	*websocket.Conn
	mu sync.Mutex
	r  io.Reader
}

func (c *wsConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}
