package broker

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/storeedge/storeedge/broker/doctor"
	"github.com/storeedge/storeedge/broker/schema"
	"github.com/storeedge/storeedge/broker/services/camera"
	"github.com/storeedge/storeedge/broker/setup"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/strictyaml"
	"github.com/storeedge/storeedge/internal/timesync"
	"github.com/storeedge/storeedge/proto"
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
	Services    ServicesConfig    `yaml:"services"`
	Chat        ChatConfig        `yaml:"chat"`
	Media       MediaConfig       `yaml:"media"`
	Booking     BookingConfig     `yaml:"booking"`
	Customers   CustomersConfig   `yaml:"customers"`
	Camera      CameraConfig      `yaml:"camera"`
	Cloud       cloudsync.Config  `yaml:"cloud"`
	Setup       SetupConfig       `yaml:"setup"`
	Audit       AuditConfig       `yaml:"audit"`
	Accounts    AccountsConfig    `yaml:"accounts"`
	Notices     NoticesConfig     `yaml:"notices"`
	Home        HomeConfig        `yaml:"home"`
	Backup      BackupConfig      `yaml:"backup"`
	Doctor      doctor.Config     `yaml:"doctor"`
	Clock       ClockConfig       `yaml:"clock"`

	// File is the configuration file LoadConfig read ("" = the built-in
	// defaults alone): backups include it, storeedge doctor and the health
	// op check it again. Not in the file.
	File string `yaml:"-"`

	// Now is the clock of the services (default time.Now): tests move it
	// to fire reminders without waiting. Not in the file.
	Now func() time.Time `yaml:"-"`

	// ClockSource says whether the box's clock is set (default
	// timesync.Kernel); tests give a timesync.Settable's Read. Not in the
	// file.
	ClockSource timesync.Source `yaml:"-"`

	// Admins is what the first-run setup creates the first admin in; nil:
	// the store's account registry. Catalogs installs the starter
	// catalogue the owner picks; nil: the booking desk. Not in the file.
	Admins   setup.Admins   `yaml:"-"`
	Catalogs setup.Catalogs `yaml:"-"`

	// Stderr is where the broker prints what the person starting it must
	// read (the first-run setup address); nil: os.Stderr. Not in the file.
	Stderr io.Writer `yaml:"-"`

	// Migrations are applied after the build's own (schema.Migrations and
	// each package's): the next schema versions, for tests. Not in the file.
	Migrations []schema.Migration `yaml:"-"`
	// BuildVersion is the storeedge version the binary was built as (its
	// -ldflags version); the schema history records it. Empty: the
	// module's version or VCS revision. Not in the file.
	BuildVersion string `yaml:"-"`
}

// SetupConfig bounds the first-run setup page and the printed counter QR
// code's logins (broker/setup).
type SetupConfig struct {
	// Setup requests per minute from one address, and from all together.
	AttemptsPerMinute      int `yaml:"attempts_per_minute"`
	AttemptsTotalPerMinute int `yaml:"attempts_total_per_minute"`
	// New customer logins from the counter QR code (POST /chat/start):
	// per address per hour, and per minute from all addresses together.
	CounterStartsPerAddress int `yaml:"counter_starts_per_address_per_hour"`
	CounterStartsPerMinute  int `yaml:"counter_starts_per_minute"`
}

// BookingConfig configures bookings (broker/services/booking).
type BookingConfig struct {
	ServicesFile  string        `yaml:"services_file"`
	Tick          time.Duration `yaml:"tick"`
	MaxNotesBytes int           `yaml:"max_notes_bytes"`
	MaxProfiles   int           `yaml:"max_profiles"`
	ChangesKept   time.Duration `yaml:"changes_kept"`
	SurveyLate    time.Duration `yaml:"survey_late"`
	Alternatives  int           `yaml:"alternatives"`
	PageSize      int           `yaml:"page_size"`
	StaffRoles    []string      `yaml:"staff_roles"`
	DeskRoles     []string      `yaml:"desk_roles"`
	ProgressRoles []string      `yaml:"progress_roles"`
	FeedRoles     []string      `yaml:"feed_roles"`
	// The shop's catalogue, hours and closures, edited in the console.
	AdminRoles  []string `yaml:"admin_roles"`
	MaxClosures int      `yaml:"max_closures"`
}

// AuditConfig configures the activity log (broker/audit).
type AuditConfig struct {
	Keep     int      `yaml:"keep"`
	Roles    []string `yaml:"roles"`
	PageSize int      `yaml:"page_size"`
}

// CameraConfig configures the live camera relay (broker/services/camera).
type CameraConfig struct {
	Rooms           map[string]string  `yaml:"rooms"`
	StaffRoles      []string           `yaml:"staff_roles"`
	MaxViewers      int                `yaml:"max_viewers"`
	SignalTimeout   time.Duration      `yaml:"signal_timeout"`
	Linger          time.Duration      `yaml:"linger"`
	Recheck         time.Duration      `yaml:"recheck"`
	SnapshotTimeout time.Duration      `yaml:"snapshot_timeout"`
	OfflineGrace    time.Duration      `yaml:"offline_grace"`
	GatherTimeout   time.Duration      `yaml:"gather_timeout"`
	ICEServers      []camera.ICEServer `yaml:"ice_servers"`
	UDPPorts        string             `yaml:"udp_ports"`
	Interfaces      []string           `yaml:"interfaces"`
	Loopback        bool               `yaml:"loopback"`
}

// udpPorts parses udp_ports ("" or "50000-50199").
func (c CameraConfig) udpPorts() (lo, hi uint16, err error) {
	if c.UDPPorts == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(c.UDPPorts, "-")
	l, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if !ok || err1 != nil || err2 != nil || l == 0 || l > h {
		return 0, 0, fmt.Errorf("camera.udp_ports %q: a range like 50000-50199", c.UDPPorts)
	}
	return uint16(l), uint16(h), nil
}

// ServicesConfig sizes the request/answer framework every service runs on.
type ServicesConfig struct {
	Workers        int           `yaml:"workers"`
	QueueSize      int           `yaml:"queue_size"`
	AnswerTTL      time.Duration `yaml:"answer_ttl"`
	HandlerTimeout time.Duration `yaml:"handler_timeout"`
	KeysEnv        string        `yaml:"keys_env"`
	KeysFile       string        `yaml:"keys_file"`
}

// ChatConfig configures consultations (broker/services/chat) and scan-to-chat.
type ChatConfig struct {
	RecallWindow      time.Duration `yaml:"recall_window"`
	MaxBodyBytes      int           `yaml:"max_body_bytes"`
	PageSize          int           `yaml:"page_size"`
	MaxMembers        int           `yaml:"max_members"`
	StaffRoles        []string      `yaml:"staff_roles"`
	AssignedOnlyRoles []string      `yaml:"assigned_only_roles"`
	SessionRoles      []string      `yaml:"session_roles"`
	CustomerRole      string        `yaml:"customer_role"`
	FAQFile           string        `yaml:"faq_file"`
	PublicURL         string        `yaml:"public_url"`
	TokenTTL          time.Duration `yaml:"token_ttl"`
	// CustomerLoginTTL: how long a phone's customer login lasts after it
	// was last used (each connection renews it).
	CustomerLoginTTL time.Duration `yaml:"customer_login_ttl"`
	// CustomerSessionTTL is the older name of CustomerLoginTTL, for
	// store.yaml files written before; when set (not 0) it is used instead.
	CustomerSessionTTL time.Duration `yaml:"customer_session_ttl"`
	MaxActiveTokens    int           `yaml:"max_active_tokens"`
	// Who is at a shared device (kiosk, chat tablet), and who may resume
	// a customer by her id alone.
	PresenceTTL time.Duration `yaml:"presence_ttl"`
	ResumeRoles []string      `yaml:"resume_roles"`
	// Who may read, try and save the FAQ (svc/store/faq_*).
	FAQRoles []string `yaml:"faq_roles"`
	// Per-customer budgets (scan-to-chat logins; staff and devices are not
	// counted): 0 = no limit.
	CustomerMessagesPerMinute int   `yaml:"customer_messages_per_minute"`
	CustomerBytesPerDay       int64 `yaml:"customer_bytes_per_day"`
	// Close and rate, reports: the longest rating comment (characters)
	// and the longest report range (days); 0 = the service's default.
	MaxRatingComment int `yaml:"max_rating_comment"`
	MaxReportDays    int `yaml:"max_report_days"`
	// Staff's search, labels and internal notes.
	SearchBudget  time.Duration     `yaml:"search_budget"`
	SearchResults int               `yaml:"search_results"`
	MaxNotes      int               `yaml:"max_notes"`
	Labels        []proto.ChatLabel `yaml:"labels"`
	// How long a transfer offer waits for the colleague's answer.
	TransferTimeout time.Duration `yaml:"transfer_timeout"`
}

// CustomersConfig bounds customer cards (broker/services/customers).
type CustomersConfig struct {
	MaxNotesBytes int `yaml:"max_notes_bytes"`
	MaxTags       int `yaml:"max_tags"`
	MaxNames      int `yaml:"max_names"`
}

// MaxCustomerLoginTTL bounds chat.customer_login_ttl: two years.
const MaxCustomerLoginTTL = 730 * 24 * time.Hour

// LoginTTL is the customer login TTL in force: customer_session_ttl when a
// store.yaml still sets that older name, else customer_login_ttl.
func (c ChatConfig) LoginTTL() time.Duration {
	if c.CustomerSessionTTL != 0 {
		return c.CustomerSessionTTL
	}
	return c.CustomerLoginTTL
}

// MediaConfig bounds the photos, voice notes and clips the store keeps.
type MediaConfig struct {
	AllowedTypes    []string         `yaml:"allowed_types"`
	MaxBytes        map[string]int64 `yaml:"max_bytes"`
	DefaultMaxBytes int64            `yaml:"default_max_bytes"`
	MaxTotalBytes   int64            `yaml:"max_total_bytes"`
	MaxUploads      int              `yaml:"max_uploads_per_device"`
	ChunkBytes      int              `yaml:"chunk_bytes"`
	UploadTTL       time.Duration    `yaml:"upload_ttl"`
	CleanupInterval time.Duration    `yaml:"cleanup_interval"`
	// An open upload lapses after this long without a new chunk.
	UploadIdleTimeout time.Duration `yaml:"upload_idle_timeout"`
	// Customers' uploads: open at once, bytes those reserve, and the part
	// of max_total_bytes only staff and devices may use.
	CustomerMaxUploads       int   `yaml:"customer_max_uploads"`
	CustomerMaxReservedBytes int64 `yaml:"customer_max_reserved_bytes"`
	StaffReserveBytes        int64 `yaml:"staff_reserve_bytes"`
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

// AccountsConfig configures the account registry in the database
// (broker/accounts): staff accounts, device enrolment, console logins.
type AccountsConfig struct {
	MinPasswordLength    int           `yaml:"min_password_length"`
	StaffRoles           []string      `yaml:"staff_roles"`
	DeviceRoles          []string      `yaml:"device_roles"`
	AdminRoles           []string      `yaml:"admin_roles"`
	PairingCodeTTL       time.Duration `yaml:"pairing_code_ttl"`
	EnrollPerMinute      int           `yaml:"enroll_per_minute"`
	EnrollTotalPerMinute int           `yaml:"enroll_total_per_minute"`
	EnrollURL            string        `yaml:"enroll_url"`
	ConsoleSessionTTL    time.Duration `yaml:"console_session_ttl"`
}

func (a AccountsConfig) validate() []error {
	var errs []error
	if a.MinPasswordLength < 8 || a.MinPasswordLength > 64 {
		errs = append(errs, fmt.Errorf("accounts.min_password_length %d: between 8 and 64", a.MinPasswordLength))
	}
	for k, v := range map[string][]string{"staff_roles": a.StaffRoles, "device_roles": a.DeviceRoles, "admin_roles": a.AdminRoles} {
		if len(v) == 0 {
			errs = append(errs, fmt.Errorf("accounts.%s: name at least one role", k))
		}
	}
	if a.PairingCodeTTL < time.Minute || a.PairingCodeTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("accounts.pairing_code_ttl %s: between 1m and 24h", a.PairingCodeTTL))
	}
	if a.EnrollPerMinute < 1 || a.EnrollTotalPerMinute < a.EnrollPerMinute {
		errs = append(errs, fmt.Errorf("accounts.enroll_per_minute %d, enroll_total_per_minute %d: at least 1, and the total at least the per-address one",
			a.EnrollPerMinute, a.EnrollTotalPerMinute))
	}
	if a.EnrollURL != "" {
		if u, err := url.Parse(a.EnrollURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("accounts.enroll_url %q: an http:// or https:// address, e.g. http://storeedge.local:8080/enroll", a.EnrollURL))
		}
	}
	if a.ConsoleSessionTTL < 5*time.Minute || a.ConsoleSessionTTL > 90*24*time.Hour {
		errs = append(errs, fmt.Errorf("accounts.console_session_ttl %s: between 5m and 2160h (90 days)", a.ConsoleSessionTTL))
	}
	return errs
}

// AuthConfig points at the device registry and the ACL.
type AuthConfig struct {
	DevicesFile    string `yaml:"devices_file"`
	ACLFile        string `yaml:"acl_file"`
	AllowAnonymous bool   `yaml:"allow_anonymous"`
	AnonymousRole  string `yaml:"anonymous_role"`
	// Password checks: how many run at once (0 = one per CPU), and the
	// backoff of an account (device id) and source address after failures.
	PasswordWorkers   int           `yaml:"password_workers"`
	LoginBackoffAfter int           `yaml:"login_backoff_after"`
	LoginBackoffMax   time.Duration `yaml:"login_backoff_max"`
}

// LimitsConfig bounds what one client, and all of them together, may use.
type LimitsConfig struct {
	MaxPacketSize     uint32 `yaml:"max_packet_size"`
	MaxConnections    int64  `yaml:"max_connections"`
	ReceiveMaximum    uint16 `yaml:"receive_maximum"`
	MaxQueuedMessages int    `yaml:"max_queued_messages"`
	// MaxPendingWrites is no longer used (the send buffer is in bytes:
	// SendBufferBytes); it is accepted so that an older store.yaml still loads.
	MaxPendingWrites     int32         `yaml:"max_pending_writes"`
	SendBufferBytes      int64         `yaml:"send_buffer_bytes"`
	ConnectTimeout       time.Duration `yaml:"connect_timeout"`
	SlowClientGrace      time.Duration `yaml:"slow_client_grace"`
	MaxKeepalive         uint16        `yaml:"max_keepalive"`
	TopicAliasMaximum    uint16        `yaml:"topic_alias_maximum"`
	ConnectRatePerMinute int           `yaml:"connect_rate_per_minute"`
	MaxSessionExpiry     uint32        `yaml:"max_session_expiry"`
	// Sockets not logged in yet, and the CONNECT they may send.
	MaxPendingConnects           int    `yaml:"max_pending_connects"`
	MaxPendingConnectsPerAddress int    `yaml:"max_pending_connects_per_address"`
	MaxConnectBytes              uint32 `yaml:"max_connect_bytes"`
	// Connections per device or customer, and the slots kept for staff.
	MaxConnectionsPerIdentity int      `yaml:"max_connections_per_identity"`
	MaxConnectionsPerCustomer int      `yaml:"max_connections_per_customer"`
	ReservedConnections       int64    `yaml:"reserved_connections"`
	ReservedRoles             []string `yaml:"reserved_roles"`
}

// reservedConnections is the number of connection slots kept for
// ReservedRoles: reserved_connections, at most half of max_connections.
func (l LimitsConfig) reservedConnections() int64 {
	return min(l.ReservedConnections, l.MaxConnections/2)
}

// maxConnectBytes is the longest CONNECT read: max_connect_bytes, at most
// max_packet_size.
func (l LimitsConfig) maxConnectBytes() uint32 {
	return min(l.MaxConnectBytes, l.MaxPacketSize)
}

// PersistenceConfig tunes the bbolt store.
type PersistenceConfig struct {
	MaxBatch   int   `yaml:"max_batch"`
	MaxDBBytes int64 `yaml:"max_db_bytes"`
	// MinFreeDiskBytes is the room on data_dir's disk that writes leave
	// free: below it writes are refused as when the database is full.
	MinFreeDiskBytes int64 `yaml:"min_free_disk_bytes"`
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
	if err := strictyaml.DecodeFile("store.yaml (built in)", configs.Store, &c); err != nil {
		return Config{}, err
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
		if err := strictyaml.DecodeFile(path, b, &c); err != nil {
			return Config{}, err
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	c.File = path
	return c, nil
}

// minDBBytes is the smallest persistence.max_db_bytes other than 0.
const minDBBytes = 16 << 20

// dbHeadroom is what persistence.max_db_bytes should hold besides
// media.max_total_bytes: chat, bookings, sessions and queued messages.
const dbHeadroom = 512 << 20

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
	errs = append(errs, c.Accounts.validate()...)
	errs = append(errs, c.Clock.validate()...)
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
	if l.SendBufferBytes < 4096 {
		errs = append(errs, fmt.Errorf("limits.send_buffer_bytes %d: at least 4096", l.SendBufferBytes))
	}
	if l.SlowClientGrace < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("limits.slow_client_grace %s: at least 100ms", l.SlowClientGrace))
	}
	if l.ConnectTimeout < time.Second {
		errs = append(errs, fmt.Errorf("limits.connect_timeout %s: at least 1s", l.ConnectTimeout))
	}
	if l.ConnectRatePerMinute < 0 {
		errs = append(errs, errors.New("limits.connect_rate_per_minute: 0 (unlimited) or more"))
	}
	if l.MaxPendingConnects < 1 || l.MaxPendingConnectsPerAddress < 1 || l.MaxPendingConnectsPerAddress > l.MaxPendingConnects {
		errs = append(errs, fmt.Errorf("limits.max_pending_connects %d / max_pending_connects_per_address %d: at least 1, and the per-address bound at most the total",
			l.MaxPendingConnects, l.MaxPendingConnectsPerAddress))
	}
	if l.MaxConnectBytes < 1024 {
		errs = append(errs, fmt.Errorf("limits.max_connect_bytes %d: at least 1024", l.MaxConnectBytes))
	}
	if l.MaxConnectionsPerIdentity < 0 || l.MaxConnectionsPerCustomer < 0 {
		errs = append(errs, errors.New("limits.max_connections_per_identity and max_connections_per_customer: 0 (no cap) or more"))
	}
	if l.ReservedConnections < 0 {
		errs = append(errs, fmt.Errorf("limits.reserved_connections %d: 0 or more", l.ReservedConnections))
	}
	if l.ReservedConnections > 0 && len(l.ReservedRoles) == 0 {
		errs = append(errs, errors.New("limits.reserved_connections needs limits.reserved_roles"))
	}
	if a := c.Auth; a.PasswordWorkers < 0 || a.LoginBackoffAfter < 0 || (a.LoginBackoffAfter > 0 && a.LoginBackoffMax < time.Second) {
		errs = append(errs, errors.New("auth: password_workers 0 (one per CPU) or more, login_backoff_after 0 (off) or more, login_backoff_max at least 1s"))
	}
	if c.Persistence.MaxBatch < 1 {
		errs = append(errs, errors.New("persistence.max_batch: at least 1"))
	}
	if n := c.Persistence.MaxDBBytes; n != 0 && n < minDBBytes {
		errs = append(errs, fmt.Errorf("persistence.max_db_bytes %d: 0 (no cap) or at least %d (16 MiB)", n, minDBBytes))
	}
	if c.Persistence.MinFreeDiskBytes < 0 {
		errs = append(errs, fmt.Errorf("persistence.min_free_disk_bytes %d: 0 (no floor) or more", c.Persistence.MinFreeDiskBytes))
	}
	if c.Runtime.GCPercent < 10 {
		errs = append(errs, fmt.Errorf("runtime.gc_percent %d: at least 10", c.Runtime.GCPercent))
	}
	if c.Runtime.MemoryLimitMB < 0 {
		errs = append(errs, errors.New("runtime.memory_limit_mb: 0 (none) or more"))
	}
	sv, ch, md := c.Services, c.Chat, c.Media
	if sv.Workers < 1 || sv.QueueSize < 1 || sv.AnswerTTL < time.Minute || sv.HandlerTimeout < time.Second {
		errs = append(errs, errors.New("services: workers and queue_size at least 1, answer_ttl at least 1m, handler_timeout at least 1s"))
	}
	if ch.RecallWindow < 0 || ch.MaxBodyBytes < 1 || ch.PageSize < 1 || ch.MaxMembers < 2 || ch.TokenTTL < time.Minute ||
		ch.MaxActiveTokens < 1 || ch.CustomerRole == "" || len(ch.StaffRoles) == 0 || len(ch.FAQRoles) == 0 {
		errs = append(errs, errors.New("chat: recall_window 0 or more, max_body_bytes/page_size/max_active_tokens at least 1, max_members at least 2, token_ttl at least 1m, customer_role, staff_roles and faq_roles set"))
	}
	if ch.MaxRatingComment < 0 || ch.MaxRatingComment > 10000 || ch.MaxReportDays < 0 || ch.MaxReportDays > 3660 {
		errs = append(errs, errors.New("chat: max_rating_comment 1 to 10000 characters, max_report_days 1 to 3660 (0 = the default)"))
	}
	if l := ch.LoginTTL(); l < time.Minute || l > MaxCustomerLoginTTL {
		errs = append(errs, fmt.Errorf("chat.customer_login_ttl %v: from 1m to %v (730 days)", l, MaxCustomerLoginTTL))
	}
	if ch.TransferTimeout < 10*time.Second || ch.TransferTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("chat.transfer_timeout %v: from 10s to 1h", ch.TransferTimeout))
	}
	if ch.PresenceTTL < time.Minute || ch.PresenceTTL > 8*time.Hour {
		errs = append(errs, fmt.Errorf("chat.presence_ttl %v: from 1m to 8h", ch.PresenceTTL))
	}
	if ch.SearchBudget < 100*time.Millisecond || ch.SearchBudget > time.Minute || ch.SearchResults < 1 || ch.SearchResults > 500 || ch.MaxNotes < 1 {
		errs = append(errs, fmt.Errorf("chat: search_budget from 100ms to 1m (it is %v), search_results 1-500 (%d), max_notes at least 1 (%d)",
			ch.SearchBudget, ch.SearchResults, ch.MaxNotes))
	}
	for i, l := range ch.Labels {
		if l.ID == "" || l.EN == "" || l.ZH == "" || slices.ContainsFunc(ch.Labels[:i], func(x proto.ChatLabel) bool { return x.ID == l.ID }) {
			errs = append(errs, fmt.Errorf("chat.labels[%d] %q: each label has a unique id and en and zh names", i, l.ID))
		}
	}
	if ch.CustomerMessagesPerMinute < 0 || ch.CustomerBytesPerDay < 0 ||
		(ch.CustomerBytesPerDay > 0 && ch.CustomerBytesPerDay < int64(ch.MaxBodyBytes)) {
		errs = append(errs, errors.New("chat: customer_messages_per_minute 0 (no limit) or more, customer_bytes_per_day 0 (no limit) or at least max_body_bytes"))
	}
	if u, err := url.Parse(ch.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("chat.public_url %q: an absolute http(s) URL of the customer page", ch.PublicURL))
	}
	if md.ChunkBytes < 1024 || md.MaxTotalBytes < 0 || md.DefaultMaxBytes < 1 || md.MaxUploads < 1 || md.UploadTTL < time.Minute || md.CleanupInterval < time.Second {
		errs = append(errs, errors.New("media: chunk_bytes at least 1024, default_max_bytes and max_uploads_per_device at least 1, upload_ttl at least 1m, cleanup_interval at least 1s"))
	}
	if md.UploadIdleTimeout < time.Minute || md.UploadIdleTimeout > md.UploadTTL || md.CustomerMaxUploads < 1 ||
		md.CustomerMaxReservedBytes < 1 || md.StaffReserveBytes < 0 || (md.MaxTotalBytes > 0 && md.StaffReserveBytes >= md.MaxTotalBytes) {
		errs = append(errs, errors.New("media: upload_idle_timeout between 1m and upload_ttl, customer_max_uploads and customer_max_reserved_bytes at least 1, staff_reserve_bytes 0 or more and less than max_total_bytes"))
	}
	if cu := c.Customers; cu.MaxNotesBytes < 1 || cu.MaxNotesBytes > 64<<10 || cu.MaxTags < 1 || cu.MaxTags > 200 || cu.MaxNames < 1 || cu.MaxNames > 1000 {
		errs = append(errs, fmt.Errorf("customers: max_notes_bytes 1-65536 (%d), max_tags 1-200 (%d), max_names 1-1000 (%d)", cu.MaxNotesBytes, cu.MaxTags, cu.MaxNames))
	}
	if bk := c.Booking; bk.SurveyLate < time.Hour {
		errs = append(errs, fmt.Errorf("booking.survey_late %s: at least 1h", bk.SurveyLate))
	}
	if bk := c.Booking; bk.Tick < 10*time.Millisecond || bk.MaxNotesBytes < 1 || bk.MaxProfiles < 1 || bk.ChangesKept < time.Hour ||
		bk.Alternatives < 1 || bk.PageSize < 1 || len(bk.StaffRoles) == 0 {
		errs = append(errs, errors.New("booking: tick at least 10ms, max_notes_bytes/max_profiles/page_size at least 1, changes_kept at least 1h, alternatives at least 1, staff_roles set"))
	}
	if a := c.Audit; a.Keep < 100 || a.PageSize < 1 || a.PageSize > 200 || len(a.Roles) == 0 {
		errs = append(errs, errors.New("audit: keep at least 100, page_size 1-200, roles set"))
	}
	if bk := c.Booking; len(bk.AdminRoles) == 0 || bk.MaxClosures < 1 || bk.MaxClosures > 1000 {
		errs = append(errs, errors.New("booking: admin_roles set (who edits the catalogue, hours and closures), max_closures between 1 and 1000"))
	}
	if cm := c.Camera; cm.MaxViewers < 1 || cm.SignalTimeout < time.Second || cm.Linger < 0 || cm.Recheck < 100*time.Millisecond ||
		cm.SnapshotTimeout < 100*time.Millisecond || cm.OfflineGrace < 100*time.Millisecond || len(cm.StaffRoles) == 0 ||
		cm.GatherTimeout < 100*time.Millisecond || cm.GatherTimeout > 30*time.Second {
		errs = append(errs, errors.New("camera: max_viewers at least 1, signal_timeout at least 1s, linger 0 or more, recheck, snapshot_timeout and offline_grace at least 100ms, gather_timeout 100ms to 30s, staff_roles set"))
	}
	if _, _, err := c.Camera.udpPorts(); err != nil {
		errs = append(errs, err)
	}
	for i, is := range c.Camera.ICEServers {
		if len(is.URLs) == 0 {
			errs = append(errs, fmt.Errorf("camera.ice_servers[%d]: urls is empty", i))
		}
	}
	if st := c.Setup; st.AttemptsPerMinute < 1 || st.AttemptsTotalPerMinute < st.AttemptsPerMinute ||
		st.CounterStartsPerAddress < 1 || st.CounterStartsPerMinute < 1 {
		errs = append(errs, errors.New("setup: attempts_per_minute, counter_starts_per_address_per_hour and counter_starts_per_minute at least 1, attempts_total_per_minute at least attempts_per_minute"))
	}
	if err := c.Cloud.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Home.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Backup.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Doctor.Validate(); err != nil {
		errs = append(errs, err)
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
