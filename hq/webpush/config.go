package webpush

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is its settings in hq.yaml ("push:"); zero fields take the
// defaults.
type Config struct {
	// VAPIDKeyFile holds HQ's VAPID private key (PEM, PKCS #8, P-256); it
	// is made (mode 0600) at first start when missing (default
	// ./hq-vapid.pem). Changing the key ends every subscription: the
	// browsers hold the public key they subscribed with.
	VAPIDKeyFile string `yaml:"vapid_key_file"`
	// Subject is the VAPID "sub" claim the push services may use to reach
	// HQ's operator: a mailto: or https: URL.
	Subject string `yaml:"subject"`
	// TTL is how long a push service keeps a notification for a phone
	// that is off (the TTL header; default 24h). A reply older than this
	// when HQ learns of it is not pushed.
	TTL time.Duration `yaml:"ttl"`
	// SendTimeout bounds one request to a push service (default 10s).
	SendTimeout time.Duration `yaml:"send_timeout"`
	// MaxPayloadBytes bounds the notification's JSON before encryption
	// (default 3072; push services take about 4 KiB with the header).
	MaxPayloadBytes int `yaml:"max_payload_bytes"`
	// BodyChars is how much of a reply's text the notification shows
	// (default 120 characters).
	BodyChars int `yaml:"body_chars"`
	// Workers send at once (default 4); each sends one reply to all of
	// its customer's devices.
	Workers int `yaml:"workers"`
	// ReconnectWait is the pause before listening again after the
	// database connection is lost (default 2s); replies applied meanwhile
	// are found and pushed once it is back.
	ReconnectWait time.Duration `yaml:"reconnect_wait"`
	// SentKeep is how long the record of a pushed reply is kept (it keeps
	// two instances from sending it twice; default 168h, at least TTL).
	SentKeep time.Duration `yaml:"sent_keep"`
	// AllowedHosts are the push services a subscription may name (its
	// endpoint's host; "*.example.com" matches its subdomains; on another
	// port than 443 only as "name:port"). HQ posts to that address, so a
	// page cannot make it post anywhere else.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// Defaults of Config's zero fields.
const (
	DefaultVAPIDKeyFile    = "./hq-vapid.pem"
	DefaultTTL             = 24 * time.Hour
	DefaultSendTimeout     = 10 * time.Second
	DefaultMaxPayloadBytes = 3072
	DefaultBodyChars       = 120
	DefaultWorkers         = 4
	DefaultReconnectWait   = 2 * time.Second
	DefaultSentKeep        = 168 * time.Hour
)

// MaxPayloadLimit is the largest max_payload_bytes: one record of 4096
// bytes holds the payload, its delimiter and the 16-byte tag.
const MaxPayloadLimit = recordSize - 17

// DefaultAllowedHosts are the browsers' push services.
var DefaultAllowedHosts = []string{"fcm.googleapis.com", "updates.push.services.mozilla.com",
	"*.push.apple.com", "*.notify.windows.com"}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.VAPIDKeyFile == "" {
		c.VAPIDKeyFile = DefaultVAPIDKeyFile
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.MaxPayloadBytes == 0 {
		c.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if c.BodyChars == 0 {
		c.BodyChars = DefaultBodyChars
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.ReconnectWait == 0 {
		c.ReconnectWait = DefaultReconnectWait
	}
	if c.SentKeep == 0 {
		c.SentKeep = DefaultSentKeep
	}
	if c.AllowedHosts == nil {
		c.AllowedHosts = DefaultAllowedHosts
	}
	return c
}

// Validate checks the settings, naming each bad key (under "push.").
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("push.%s: "+format, append([]any{key}, a...)...))
	}
	if u, err := url.Parse(c.Subject); c.Subject == "" || err != nil || (u.Scheme != "mailto" && u.Scheme != "https") || (u.Opaque == "" && u.Host == "") {
		bad("subject", "%q: want a mailto: or https: address where the push services can reach HQ's operator", c.Subject)
	}
	if c.TTL < time.Minute || c.TTL > 28*24*time.Hour {
		bad("ttl", "%v is outside 1m..672h", c.TTL)
	}
	if c.SendTimeout < time.Second || c.SendTimeout > 2*time.Minute {
		bad("send_timeout", "%v is outside 1s..2m", c.SendTimeout)
	}
	if c.MaxPayloadBytes < 256 || c.MaxPayloadBytes > MaxPayloadLimit {
		bad("max_payload_bytes", "%d is outside 256..%d", c.MaxPayloadBytes, MaxPayloadLimit)
	}
	if c.BodyChars < 10 || c.BodyChars > 1000 {
		bad("body_chars", "%d is outside 10..1000", c.BodyChars)
	}
	if c.Workers < 1 || c.Workers > 64 {
		bad("workers", "%d is outside 1..64", c.Workers)
	}
	if c.ReconnectWait < 100*time.Millisecond || c.ReconnectWait > time.Minute {
		bad("reconnect_wait", "%v is outside 100ms..1m", c.ReconnectWait)
	}
	if c.SentKeep < c.TTL {
		bad("sent_keep", "%v is shorter than ttl %v", c.SentKeep, c.TTL)
	}
	if len(c.AllowedHosts) == 0 {
		bad("allowed_hosts", "empty: no subscription could be kept")
	}
	for _, h := range c.AllowedHosts {
		if strings.TrimPrefix(h, "*.") == "" || strings.ContainsAny(h, "/@ []") || strings.Count(h, ":") > 1 {
			bad("allowed_hosts", "%q is not a host name (*.domain, or name:port for another port than 443)", h)
		}
	}
	return errors.Join(errs...)
}

// hostAllowed says whether an endpoint's host (u.Host: a name, with a
// port when it has one) is one of the allowed push services: on the
// default port by name, on another port only as "name:port".
func (c Config) hostAllowed(host string) bool {
	host = strings.ToLower(host)
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, ""
	}
	for _, h := range c.AllowedHosts {
		h = strings.ToLower(h)
		if port != "" && port != "443" {
			if host == h {
				return true
			}
			continue
		}
		if d, ok := strings.CutPrefix(h, "*."); ok {
			if strings.HasSuffix(name, "."+d) {
				return true
			}
		} else if name == h {
			return true
		}
	}
	return false
}
