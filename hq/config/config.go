// Package config is storeedge-hq's configuration: configs/hq.yaml embedded
// as the default, a file read over it strictly (an unknown key is an
// error), validated with errors that name the key.
package config

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/homebook"
	"github.com/storeedge/storeedge/hq/homecam"
	"github.com/storeedge/storeedge/hq/web"
	"github.com/storeedge/storeedge/hq/webpush"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/strictyaml"
)

// Config is hq.yaml.
type Config struct {
	Listen   string   `yaml:"listen"`
	Postgres Postgres `yaml:"postgres"`
	MQTT     MQTT     `yaml:"mqtt"`
	Ingest   Ingest   `yaml:"ingest"`
	Seal     Seal     `yaml:"seal"`
	// Downlink bounds the notices and config pushes sent to the stores.
	Downlink downlink.Limits `yaml:"downlink"`
	// Web is the fleet page's and the API's settings (hq/web).
	Web web.Config `yaml:"web"`
	// Home is the customers' page at home (hq/home).
	Home home.Config `yaml:"home"`
	// HomeBooking is its bookings part (hq/homebook).
	HomeBooking homebook.Config `yaml:"home_booking"`
	// HomeCamera is its live view and the TURN server (hq/homecam).
	HomeCamera homecam.Config `yaml:"home_camera"`
	// Push is its notifications (hq/webpush).
	Push webpush.Config `yaml:"push"`
}

// Postgres is the replica's database.
type Postgres struct {
	URL      string `yaml:"url"`
	MaxConns int32  `yaml:"max_conns"`
}

// MQTT is HQ's broker.
type MQTT struct {
	URL            string        `yaml:"url"`
	Username       string        `yaml:"username"`
	PasswordFile   string        `yaml:"password_file"`
	CAFile         string        `yaml:"ca_file"`
	ClientID       string        `yaml:"client_id"`
	Group          string        `yaml:"group"`
	SessionExpiry  time.Duration `yaml:"session_expiry"`
	ReceiveMaximum int           `yaml:"receive_maximum"`
}

// Ingest tunes the consumers.
type Ingest struct {
	Workers      int           `yaml:"workers"`
	Batch        int           `yaml:"batch"`
	GapWait      time.Duration `yaml:"gap_wait"`
	SeenKeep     time.Duration `yaml:"seen_keep"`
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// Seal says where the keys sealing message bodies come from.
type Seal struct {
	KeysEnv  string `yaml:"keys_env"`
	KeysFile string `yaml:"keys_file"`
}

// Default is the embedded hq.yaml.
func Default() (Config, error) {
	var c Config
	if err := strictyaml.DecodeFile("hq.yaml (built in)", configs.HQ, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Load reads path over the defaults ("" = the defaults alone). It does not
// validate: flags may override keys first.
func Load(path string) (Config, error) {
	c, err := Default()
	if err != nil {
		return Config{}, err
	}
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	if err := strictyaml.DecodeFile(path, b, &c); err != nil {
		return Config{}, err
	}
	return c, nil
}

var (
	groupPattern    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
)

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: want host:port: %w", c.Listen, err))
	}
	if strings.TrimSpace(c.Postgres.URL) == "" {
		errs = append(errs, errors.New("postgres.url is empty"))
	}
	if c.Postgres.MaxConns < 2 || c.Postgres.MaxConns > 1000 {
		errs = append(errs, fmt.Errorf("postgres.max_conns %d: want 2 to 1000", c.Postgres.MaxConns))
	}
	if u, err := url.Parse(c.MQTT.URL); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("mqtt.url %q: want scheme://host:port", c.MQTT.URL))
	} else {
		switch u.Scheme {
		case "mqtt", "tcp", "mqtts", "ssl", "tls", "ws", "wss":
		default:
			errs = append(errs, fmt.Errorf("mqtt.url %q: scheme %q: want mqtt, mqtts, ws or wss", c.MQTT.URL, u.Scheme))
		}
	}
	if c.MQTT.ClientID != "" && !clientIDPattern.MatchString(c.MQTT.ClientID) {
		errs = append(errs, fmt.Errorf("mqtt.client_id %q: use 1-128 letters, digits, '-', '_', '.' or ':'", c.MQTT.ClientID))
	}
	if !groupPattern.MatchString(c.MQTT.Group) {
		errs = append(errs, fmt.Errorf("mqtt.group %q: use 1-64 letters, digits, '-', '_' or '.'", c.MQTT.Group))
	}
	if c.MQTT.SessionExpiry < time.Minute || c.MQTT.SessionExpiry > 4000*time.Hour {
		errs = append(errs, fmt.Errorf("mqtt.session_expiry %v: want 1m to 4000h", c.MQTT.SessionExpiry))
	}
	if c.MQTT.ReceiveMaximum < 1 || c.MQTT.ReceiveMaximum > 65535 {
		errs = append(errs, fmt.Errorf("mqtt.receive_maximum %d: want 1 to 65535", c.MQTT.ReceiveMaximum))
	}
	if c.Ingest.Workers < 1 || c.Ingest.Workers > 1024 {
		errs = append(errs, fmt.Errorf("ingest.workers %d: want 1 to 1024", c.Ingest.Workers))
	}
	if c.Ingest.Batch < 1 || c.Ingest.Batch > 10000 {
		errs = append(errs, fmt.Errorf("ingest.batch %d: want 1 to 10000", c.Ingest.Batch))
	}
	if int(c.Postgres.MaxConns) < c.Ingest.Workers+2 {
		errs = append(errs, fmt.Errorf("postgres.max_conns %d: want at least ingest.workers + 2 (%d)", c.Postgres.MaxConns, c.Ingest.Workers+2))
	}
	if c.Ingest.GapWait < time.Second {
		errs = append(errs, fmt.Errorf("ingest.gap_wait %v: want at least 1s", c.Ingest.GapWait))
	}
	if c.Ingest.SeenKeep < time.Hour {
		errs = append(errs, fmt.Errorf("ingest.seen_keep %v: want at least 1h", c.Ingest.SeenKeep))
	}
	if c.Ingest.DrainTimeout < 0 || c.Ingest.DrainTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("ingest.drain_timeout %v: want 0 to 10m", c.Ingest.DrainTimeout))
	}
	if c.Seal.KeysEnv == "" && c.Seal.KeysFile == "" {
		errs = append(errs, errors.New("seal: set keys_env or keys_file"))
	}
	if err := c.Web.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Home.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.HomeBooking.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.HomeCamera.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Push.Validate(); err != nil {
		errs = append(errs, err)
	}
	if d := c.Downlink; d.MaxTitle < 1 || d.MaxBody < 1 || d.MaxStores < 1 || d.MaxConfigBytes < 1024 || d.MaxTTL < time.Hour ||
		d.PageSize < 1 || d.PageSize > downlink.MaxPageSize {
		errs = append(errs, fmt.Errorf("downlink: max_title_chars, max_body_chars and max_stores at least 1, max_config_bytes at least 1024, max_ttl at least 1h, page_size 1 to %d", downlink.MaxPageSize))
	}
	return errors.Join(errs...)
}

// ClientID is mqtt.client_id, or storeedge-hq-{hostname}.
func (c Config) ClientID() string {
	if c.MQTT.ClientID != "" {
		return c.MQTT.ClientID
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return "storeedge-hq-" + h
}

// Password reads mqtt.password_file's first line (nil without a file).
func (c Config) Password() ([]byte, error) {
	if c.MQTT.PasswordFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.MQTT.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt.password_file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return []byte(strings.TrimRight(line, "\r")), nil
}

// TLS is the TLS configuration of mqtt.url (nil without mqtt.ca_file: the
// system's roots).
func (c Config) TLS() (*tls.Config, error) {
	if c.MQTT.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.MQTT.CAFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("mqtt.ca_file %s: no PEM certificate", c.MQTT.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Keys loads the keys that seal message bodies: from the environment
// variable seal.keys_env when it is set, else from seal.keys_file, which
// is made with one random key (mode 0600) when missing. created says a
// new key file was written.
func (c Config) Keys() (kr *seal.Keyring, created bool, err error) {
	if c.Seal.KeysEnv != "" {
		if v, ok := os.LookupEnv(c.Seal.KeysEnv); ok && strings.TrimSpace(v) != "" {
			kr, err := seal.FromEnv(c.Seal.KeysEnv)
			return kr, false, err
		}
	}
	if c.Seal.KeysFile == "" {
		return nil, false, fmt.Errorf("seal: environment variable %s is empty and no keys_file is set", c.Seal.KeysEnv)
	}
	b, err := os.ReadFile(c.Seal.KeysFile)
	if errors.Is(err, fs.ErrNotExist) {
		k := make([]byte, seal.KeySize)
		_, _ = rand.Read(k)
		spec := "hq1:" + base64.StdEncoding.EncodeToString(k) + "\n"
		f, err := os.OpenFile(c.Seal.KeysFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("seal.keys_file: %w", err)
		}
		if _, err := f.WriteString(spec); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("seal.keys_file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, false, fmt.Errorf("seal.keys_file: %w", err)
		}
		b, created = []byte(spec), true
	} else if err != nil {
		return nil, false, fmt.Errorf("seal.keys_file: %w", err)
	}
	kr, err = seal.ParseKeys(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, false, fmt.Errorf("seal.keys_file %s: %w", c.Seal.KeysFile, err)
	}
	return kr, created, nil
}
