package broker

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/strictyaml"
)

// Config is the store broker configuration: configs/store.yaml documents every key.
type Config struct {
	StoreID     string            `yaml:"store_id"`
	DataDir     string            `yaml:"data_dir"`
	Listeners   ListenersConfig   `yaml:"listeners"`
	Auth        AuthConfig        `yaml:"auth"`
	Limits      LimitsConfig      `yaml:"limits"`
	Persistence PersistenceConfig `yaml:"persistence"`
	Runtime     RuntimeConfig     `yaml:"runtime"`
	Log         LogConfig         `yaml:"log"`
}

// ListenersConfig says where the broker listens; an empty address disables a listener.
type ListenersConfig struct {
	TCP              string   `yaml:"tcp"`
	Websocket        string   `yaml:"websocket"`
	WebsocketPath    string   `yaml:"websocket_path"`
	WebsocketOrigins []string `yaml:"websocket_origins"`
	TLS              string   `yaml:"tls"`
	TLSCertFile      string   `yaml:"tls_cert_file"`
	TLSKeyFile       string   `yaml:"tls_key_file"`
	TLSClientCAFile  string   `yaml:"tls_client_ca_file"`
	HTTP             string   `yaml:"http"`
	HTTPDebug        bool     `yaml:"http_debug"`
}

// AuthConfig points at the device registry and the ACL.
type AuthConfig struct {
	DevicesFile    string `yaml:"devices_file"`
	ACLFile        string `yaml:"acl_file"`
	AllowAnonymous bool   `yaml:"allow_anonymous"`
	AnonymousRole  string `yaml:"anonymous_role"`
}

// LimitsConfig bounds what one client, and all of them together, may use.
type LimitsConfig struct {
	MaxPacketSize        uint32 `yaml:"max_packet_size"`
	MaxConnections       int64  `yaml:"max_connections"`
	ReceiveMaximum       uint16 `yaml:"receive_maximum"`
	MaxQueuedMessages    int    `yaml:"max_queued_messages"`
	MaxPendingWrites     int32  `yaml:"max_pending_writes"`
	ConnectRatePerMinute int    `yaml:"connect_rate_per_minute"`
	MaxSessionExpiry     uint32 `yaml:"max_session_expiry"`
}

// PersistenceConfig tunes the bbolt store.
type PersistenceConfig struct {
	MaxBatch   int   `yaml:"max_batch"`
	MaxDBBytes int64 `yaml:"max_db_bytes"`
}

// RuntimeConfig tunes the Go runtime (garbage collector) of the process.
type RuntimeConfig struct {
	GCPercent     int   `yaml:"gc_percent"`
	MemoryLimitMB int64 `yaml:"memory_limit_mb"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// DefaultConfig returns the embedded default configuration.
func DefaultConfig() (Config, error) {
	var c Config
	if err := strictyaml.Decode(configs.Store, &c); err != nil {
		return Config{}, fmt.Errorf("embedded store.yaml: %w", err)
	}
	return c, nil
}

// LoadConfig reads a configuration file over the embedded defaults and validates it.
// An empty path returns the defaults.
func LoadConfig(path string) (Config, error) {
	c, err := DefaultConfig()
	if err != nil {
		return Config{}, err
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		if err := strictyaml.Decode(b, &c); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

var storeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if !storeIDPattern.MatchString(c.StoreID) {
		errs = append(errs, fmt.Errorf("store_id %q: use 1-64 letters, digits, '-', '_' or '.'", c.StoreID))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if (c.Listeners.TLSCertFile == "") != (c.Listeners.TLSKeyFile == "") {
		errs = append(errs, errors.New("listeners: set both tls_cert_file and tls_key_file, or neither"))
	}
	if c.Listeners.TLSClientCAFile != "" && c.Listeners.TLSCertFile == "" {
		errs = append(errs, errors.New("listeners: tls_client_ca_file needs tls_cert_file and tls_key_file"))
	}
	if c.Listeners.Websocket != "" && (c.Listeners.WebsocketPath == "" || c.Listeners.WebsocketPath[0] != '/') {
		errs = append(errs, fmt.Errorf("listeners.websocket_path %q must start with '/'", c.Listeners.WebsocketPath))
	}
	if c.Auth.AllowAnonymous && c.Auth.AnonymousRole == "" {
		errs = append(errs, errors.New("auth.allow_anonymous needs auth.anonymous_role"))
	}
	l := c.Limits
	if l.MaxPacketSize < 1024 {
		errs = append(errs, fmt.Errorf("limits.max_packet_size %d: at least 1024", l.MaxPacketSize))
	}
	if l.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("limits.max_connections %d: at least 1", l.MaxConnections))
	}
	if l.ReceiveMaximum < 1 {
		errs = append(errs, errors.New("limits.receive_maximum: at least 1"))
	}
	if l.MaxQueuedMessages < 1 || l.MaxQueuedMessages > 60000 {
		errs = append(errs, fmt.Errorf("limits.max_queued_messages %d: between 1 and 60000 (MQTT packet ids)", l.MaxQueuedMessages))
	}
	if l.MaxPendingWrites < 1 {
		errs = append(errs, errors.New("limits.max_pending_writes: at least 1"))
	}
	if l.ConnectRatePerMinute < 0 {
		errs = append(errs, errors.New("limits.connect_rate_per_minute: 0 (unlimited) or more"))
	}
	if c.Persistence.MaxBatch < 1 {
		errs = append(errs, errors.New("persistence.max_batch: at least 1"))
	}
	if c.Runtime.GCPercent < 10 {
		errs = append(errs, fmt.Errorf("runtime.gc_percent %d: at least 10", c.Runtime.GCPercent))
	}
	if c.Runtime.MemoryLimitMB < 0 {
		errs = append(errs, errors.New("runtime.memory_limit_mb: 0 (none) or more"))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: text or json", c.Log.Format))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid config: %w", errors.Join(errs...))
	}
	return nil
}
