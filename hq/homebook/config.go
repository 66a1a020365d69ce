package homebook

import (
	"errors"
	"fmt"
	"time"
)

// Config is its settings in hq.yaml ("home_booking:"); zero fields take
// the defaults.
type Config struct {
	// LiveWait is how long a request for free times waits for the store's
	// live answer before it answers from the replica (default 2s).
	LiveWait time.Duration `yaml:"live_wait"`
	// RequestsPerHour bounds the requests (book, move, cancel) one
	// customer may send in an hour; beyond it: 429 (default 20).
	RequestsPerHour int `yaml:"requests_per_hour"`
	// MaxNotesBytes bounds a booking's notes and a cancellation's reason;
	// beyond it: 413 (default 500, the store's own limit).
	MaxNotesBytes int `yaml:"max_notes_bytes"`
	// ListSize bounds the bookings and the requests /bookings lists, the
	// most recent first (default 50).
	ListSize int `yaml:"list_size"`
}

// Defaults and bounds of Config.
const (
	DefaultLiveWait        = 2 * time.Second
	DefaultRequestsPerHour = 20
	DefaultMaxNotesBytes   = 500
	DefaultListSize        = 50
	MaxLiveWait            = 20 * time.Second
	MaxListSize            = 500
)

// WithDefaults fills the zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.LiveWait == 0 {
		c.LiveWait = DefaultLiveWait
	}
	if c.RequestsPerHour == 0 {
		c.RequestsPerHour = DefaultRequestsPerHour
	}
	if c.MaxNotesBytes == 0 {
		c.MaxNotesBytes = DefaultMaxNotesBytes
	}
	if c.ListSize == 0 {
		c.ListSize = DefaultListSize
	}
	return c
}

// Validate names every setting that cannot work (under "home_booking.").
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("home_booking.%s: "+format, append([]any{key}, a...)...))
	}
	if c.LiveWait < 0 || c.LiveWait > MaxLiveWait {
		bad("live_wait", "%v is outside 0..%v (0: the default, %v)", c.LiveWait, MaxLiveWait, DefaultLiveWait)
	}
	if c.RequestsPerHour < 0 || c.RequestsPerHour > 10000 {
		bad("requests_per_hour", "%d is outside 1..10000", c.RequestsPerHour)
	}
	if c.MaxNotesBytes < 0 || c.MaxNotesBytes > 4096 {
		bad("max_notes_bytes", "%d is outside 1..4096", c.MaxNotesBytes)
	}
	if c.ListSize < 0 || c.ListSize > MaxListSize {
		bad("list_size", "%d is outside 1..%d", c.ListSize, MaxListSize)
	}
	return errors.Join(errs...)
}
