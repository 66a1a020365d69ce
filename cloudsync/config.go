package cloudsync

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/internal/strictyaml"
)

// Config is the cloud: section of store.yaml (configs/store.yaml documents
// every key). An empty URL turns cloudsync off.
type Config struct {
	// URL of HQ's broker: mqtt://, tls://, ws:// or wss://.
	URL string `yaml:"url"`
	// ClientID on HQ's broker; "" means "store-" + the store id. It must
	// stay the same across restarts: HQ's broker keeps the session (and
	// the downlink queued while the store is away) under it.
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// Password is read from the environment variable PasswordEnv when that
	// is set and not empty, else from Password.
	Password    string `yaml:"password"`
	PasswordEnv string `yaml:"password_env"`
	// CAFile verifies HQ's certificate (default: the system roots).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the store's client certificate.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in HQ's certificate.
	ServerName string `yaml:"server_name"`
	// MapFile is the topic map (default: the embedded configs/cloud.yaml).
	MapFile string `yaml:"map_file"`
	// HomeURL is HQ's page for customers at home, which the store's
	// "continue at home" links open; it wins over the map file's home_url.
	HomeURL string `yaml:"home_url"`

	KeepAlive      time.Duration `yaml:"keepalive"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// SessionExpiry is how long HQ's broker keeps the session, and queues
	// the downlink, while the store is away.
	SessionExpiry time.Duration `yaml:"session_expiry"`
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// connection attempts (with jitter).
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// Inflight is the most uplink messages awaiting HQ's PUBACK at once;
	// HQ's Receive Maximum lowers it.
	Inflight int `yaml:"inflight"`
	// Rate is the most uplink messages per second (0: no limit), so that
	// draining a long backlog leaves room on the store's line.
	Rate float64 `yaml:"rate"`
	// MaxOutboxBytes is the outbox's byte budget (0: none).
	MaxOutboxBytes int64 `yaml:"max_outbox_bytes"`
	// DedupTTL is how long the id of a downlink message is remembered; it
	// must be longer than SessionExpiry, the longest HQ's broker may hold
	// a message back.
	DedupTTL time.Duration `yaml:"dedup_ttl"`
	// StatusInterval is how often cloudsync/status is refreshed.
	StatusInterval time.Duration `yaml:"status_interval"`
}

// Enabled reports whether HQ's broker is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate reports every setting that cannot work; an off config is valid.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	if c.HomeURL != "" {
		if err := CheckHomeURL(c.HomeURL); err != nil {
			errs = append(errs, fmt.Errorf("cloud.%w", err))
		}
	}
	if u, err := url.Parse(c.URL); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("cloud.url %q: want scheme://host:port", c.URL))
	} else {
		switch u.Scheme {
		case "mqtt", "tcp", "tls", "ssl", "mqtts", "ws", "wss":
		default:
			errs = append(errs, fmt.Errorf("cloud.url %q: scheme mqtt, tls, ws or wss", c.URL))
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("cloud: set both cert_file and key_file, or neither"))
	}
	if c.KeepAlive < time.Second || c.KeepAlive > 65535*time.Second {
		errs = append(errs, fmt.Errorf("cloud.keepalive %s: 1s to 18h", c.KeepAlive))
	}
	if c.ConnectTimeout < time.Second {
		errs = append(errs, fmt.Errorf("cloud.connect_timeout %s: at least 1s", c.ConnectTimeout))
	}
	if c.SessionExpiry < time.Minute || c.SessionExpiry > (1<<32-1)*time.Second {
		errs = append(errs, fmt.Errorf("cloud.session_expiry %s: 1m to 136 years", c.SessionExpiry))
	}
	if c.ReconnectMin < 10*time.Millisecond || c.ReconnectMax < c.ReconnectMin {
		errs = append(errs, fmt.Errorf("cloud: reconnect_min %s at least 10ms, reconnect_max %s at least reconnect_min", c.ReconnectMin, c.ReconnectMax))
	}
	if c.Inflight < 1 || c.Inflight > 65535 {
		errs = append(errs, fmt.Errorf("cloud.inflight %d: 1 to 65535", c.Inflight))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("cloud.rate %g: 0 (no limit) or more", c.Rate))
	}
	if c.MaxOutboxBytes < 0 {
		errs = append(errs, fmt.Errorf("cloud.max_outbox_bytes %d: 0 (no budget) or more", c.MaxOutboxBytes))
	}
	if c.DedupTTL < c.SessionExpiry {
		errs = append(errs, fmt.Errorf("cloud.dedup_ttl %s: at least session_expiry (%s), or a message HQ's broker held back arrives twice", c.DedupTTL, c.SessionExpiry))
	}
	if c.StatusInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("cloud.status_interval %s: at least 100ms", c.StatusInterval))
	}
	return errors.Join(errs...)
}

// password is the configured password, the environment first.
func (c Config) password() string {
	if c.PasswordEnv != "" {
		if p := os.Getenv(c.PasswordEnv); p != "" {
			return p
		}
	}
	return c.Password
}

// tlsConfig builds the TLS settings for tls:// and wss:// URLs.
func (c Config) tlsConfig() (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cloud.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cloud.ca_file %s: no PEM certificate in it", c.CAFile)
		}
		t.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cloud.cert_file/key_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// Uplink is the uplink: section of cloud.yaml (configs/cloud.yaml documents
// every key): presence, the kept range for resync, snapshots and media on
// demand.
type Uplink struct {
	// StatusEvery is how often the retained presence on HQ's broker
	// (stores/{store}/status) is refreshed while connected.
	StatusEvery time.Duration `yaml:"status_every"`
	// KeepSentFor is how long acknowledged chat and booking entries are
	// kept, for HQ to ask for them again; 0 keeps none.
	KeepSentFor time.Duration `yaml:"keep_sent_for"`
	// KeepSentBytes bounds the kept entries (topic + origin + payload);
	// past it the oldest are dropped first. 0 means no bound.
	KeepSentBytes int64 `yaml:"keep_sent_bytes"`
	// SnapshotBatch is how many entries a snapshot files per transaction.
	SnapshotBatch int `yaml:"snapshot_batch"`
	// MaxMediaBytes is the largest blob the store sends on media/{hash}
	// when HQ asks for it (hq/media/get).
	MaxMediaBytes int64 `yaml:"max_media_bytes"`
}

// DefaultUplink is the uplink section's defaults (configs/cloud.yaml).
func DefaultUplink() Uplink {
	return Uplink{StatusEvery: 30 * time.Second, KeepSentFor: 72 * time.Hour, KeepSentBytes: 64 << 20,
		SnapshotBatch: 256, MaxMediaBytes: 16 << 20}
}

// Validate reports every setting that cannot work.
func (u Uplink) Validate() error {
	var errs []error
	if u.StatusEvery < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("uplink.status_every %s: at least 100ms", u.StatusEvery))
	}
	if u.KeepSentFor < 0 {
		errs = append(errs, fmt.Errorf("uplink.keep_sent_for %s: 0 (keep none) or more", u.KeepSentFor))
	}
	if u.KeepSentBytes < 0 {
		errs = append(errs, fmt.Errorf("uplink.keep_sent_bytes %d: 0 (no bound) or more", u.KeepSentBytes))
	}
	if u.SnapshotBatch < 1 || u.SnapshotBatch > 10000 {
		errs = append(errs, fmt.Errorf("uplink.snapshot_batch %d: 1 to 10000", u.SnapshotBatch))
	}
	if u.MaxMediaBytes < 0 {
		errs = append(errs, fmt.Errorf("uplink.max_media_bytes %d: 0 (send none) or more", u.MaxMediaBytes))
	}
	return errors.Join(errs...)
}

// ParseUplink reads the uplink: section of a cloud.yaml document strictly
// (unknown keys are errors); keys left out keep DefaultUplink's values.
func ParseUplink(b []byte) (Uplink, error) {
	f := struct {
		Map      yaml.Node `yaml:"map"`
		HQ       yaml.Node `yaml:"hq"`
		Uplink   Uplink    `yaml:"uplink"`
		Downlink yaml.Node `yaml:"downlink"`
		HomeURL  yaml.Node `yaml:"home_url"`
	}{Uplink: DefaultUplink()}
	if err := strictyaml.DecodeFile("cloud.yaml", b, &f); err != nil {
		return Uplink{}, err
	}
	if err := f.Uplink.Validate(); err != nil {
		return Uplink{}, fmt.Errorf("cloud.yaml: %w", err)
	}
	return f.Uplink, nil
}

// CheckHomeURL says why u cannot be HQ's page at home (nil: it can).
func CheckHomeURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.Fragment != "" || strings.Contains(u, "#") {
		return fmt.Errorf("home_url %q: an absolute http(s) URL of HQ's page at home, without '#'", u)
	}
	return nil
}

// ParseHomeURL reads cloud.yaml's home_url: the address of HQ's page for
// customers at home (e.g. https://hq.example.com/home/), which the store's
// "continue at home" links open. "" (left out) turns those links off. It
// must be an absolute http or https URL without a fragment (the link adds
// one).
func ParseHomeURL(b []byte) (string, error) {
	f := struct {
		Map      yaml.Node `yaml:"map"`
		HQ       yaml.Node `yaml:"hq"`
		Uplink   yaml.Node `yaml:"uplink"`
		Downlink yaml.Node `yaml:"downlink"`
		HomeURL  string    `yaml:"home_url"`
	}{}
	if err := strictyaml.DecodeFile("cloud.yaml", b, &f); err != nil {
		return "", err
	}
	if f.HomeURL == "" {
		return "", nil
	}
	if err := CheckHomeURL(f.HomeURL); err != nil {
		return "", fmt.Errorf("cloud.yaml: %w", err)
	}
	return f.HomeURL, nil
}
