package device

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config configures Connect. DeviceID and Brokers are required; the rest
// has defaults.
type Config struct {
	// Brokers are the store broker's addresses, tried in turn:
	// mqtt://host:1883, mqtts://host:8883, ws://host:8083/mqtt.
	Brokers []string
	// DeviceID is the device's id in the store's registry; it is the MQTT
	// username.
	DeviceID string
	// Username overrides DeviceID as the MQTT username (a scan-to-chat
	// customer logs in with the username the redeem answer gives).
	Username string
	// ClientSuffix makes the client id "{DeviceID}:{suffix}", for a second
	// connection of the same device.
	ClientSuffix string
	// Password is the device's password; leave it empty when TLS carries a
	// client certificate.
	Password string
	// AppVersion names the device's app and its version ("kiosk/1.4.2");
	// it goes with the device's online status and the console lists it.
	AppVersion string
	// Dial, when set, opens the network connection to a broker address
	// (a proxy, a test's fault injector); the result must be safe for
	// concurrent writes. Default: TCP, TLS or WebSocket by the URL's scheme.
	Dial func(ctx context.Context, u *url.URL) (net.Conn, error)
	// TLS is used for mqtts:// and wss:// brokers (CA, client certificate).
	TLS *tls.Config

	// QueueDir keeps the request queue on disk (queue.db, bbolt) so that
	// requests survive a restart of the device program. Empty: in memory
	// only (the queue still survives broker restarts and Wi-Fi drops).
	QueueDir string
	// MaxQueued bounds the requests waiting for an answer (default 10 000);
	// past it a new request fails with ErrQueueFull.
	MaxQueued int
	// Window is how many requests may wait for their answers at once
	// (default 32).
	Window int
	// ResendAfter sends a request again, with the same id, when it has
	// waited that long for an answer on one connection (default 40 s: more
	// than the broker's 30 s limit on one op).
	ResendAfter time.Duration

	// SessionExpiry is how long the broker keeps the session (the
	// subscriptions and the answers and events waiting) while the device
	// is away (default 24 h; the broker caps it at limits.max_session_expiry).
	SessionExpiry time.Duration
	// KeepAlive is the MQTT keep-alive (default 30 s).
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (default 10 s).
	ConnectTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the randomized, growing wait
	// between connection attempts (default 250 ms and 30 s).
	ReconnectMin, ReconnectMax time.Duration

	// Heartbeat is how often telemetry is published on
	// devices/{id}/telemetry (default 30 s; negative: never).
	Heartbeat time.Duration
	// Telemetry adds fields to each heartbeat (battery, temperature, …).
	Telemetry func() map[string]any
	// NoPresence turns off the status messages, the Last Will and the
	// heartbeats: for logins whose role may not publish them (customers).
	NoPresence bool

	// OnAnswer receives answers nobody waits for: those of Enqueue and of
	// requests left in the disk queue by an earlier run of the program. It
	// runs on the client's receiving goroutine: return quickly.
	OnAnswer func(Answer)
	// OnConnection is told when the connection comes up (err nil, up
	// true), goes down, or an attempt fails (err set).
	OnConnection func(up bool, err error)
	// Log receives the client's log lines (default: discarded).
	Log *slog.Logger
}

func (c *Config) clientID() string {
	if c.ClientSuffix == "" {
		return c.DeviceID
	}
	return c.DeviceID + ":" + c.ClientSuffix
}

func (c *Config) username() string {
	if c.Username != "" {
		return c.Username
	}
	return c.DeviceID
}

// withDefaults checks cfg and fills in the defaults.
func (c Config) withDefaults() (Config, []*url.URL, error) {
	var errs []error
	if c.DeviceID == "" {
		errs = append(errs, errors.New("DeviceID is required"))
	}
	if strings.ContainsAny(c.DeviceID+c.ClientSuffix, "+#/") {
		errs = append(errs, errors.New("DeviceID and ClientSuffix may not hold + # /"))
	}
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("Brokers: at least one address is required"))
	}
	var urls []*url.URL
	for _, b := range c.Brokers {
		u, err := url.Parse(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("Brokers: %q: %w", b, err))
			continue
		}
		switch u.Scheme {
		case "mqtt", "tcp", "mqtts", "ssl", "tls", "ws", "wss":
		default:
			errs = append(errs, fmt.Errorf("Brokers: %q: scheme must be mqtt, mqtts, ws or wss", b))
			continue
		}
		urls = append(urls, u)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ResendAfter, 40*time.Second)
	def(&c.SessionExpiry, 24*time.Hour)
	def(&c.KeepAlive, 30*time.Second)
	def(&c.ConnectTimeout, 10*time.Second)
	def(&c.ReconnectMin, 250*time.Millisecond)
	def(&c.ReconnectMax, 30*time.Second)
	def(&c.Heartbeat, 30*time.Second)
	if c.MaxQueued == 0 {
		c.MaxQueued = 10000
	}
	if c.Window == 0 {
		c.Window = 32
	}
	switch {
	case c.MaxQueued < 0:
		errs = append(errs, errors.New("MaxQueued must be positive"))
	case c.Window < 0:
		errs = append(errs, errors.New("Window must be positive"))
	case c.ResendAfter < 0, c.SessionExpiry < 0, c.KeepAlive < 0, c.ConnectTimeout < 0:
		errs = append(errs, errors.New("ResendAfter, SessionExpiry, KeepAlive and ConnectTimeout must be positive"))
	case c.SessionExpiry > time.Duration(1<<32-1)*time.Second:
		errs = append(errs, errors.New("SessionExpiry is at most 136 years"))
	case c.KeepAlive > 65535*time.Second:
		errs = append(errs, errors.New("KeepAlive is at most 65535 s"))
	case c.ReconnectMin < time.Millisecond || c.ReconnectMax <= c.ReconnectMin:
		errs = append(errs, errors.New("ReconnectMin must be ≥ 1 ms and below ReconnectMax"))
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if err := errors.Join(errs...); err != nil {
		return c, nil, fmt.Errorf("device: config: %w", err)
	}
	return c, urls, nil
}
