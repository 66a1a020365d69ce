package home

import (
	"errors"
	"fmt"
	"time"
)

// Config is the page at home's settings (hq.yaml "home:"); zero fields
// take the defaults (configs/hq.yaml documents each).
type Config struct {
	// LoginTTL is how long a login lives since it was last used.
	LoginTTL time.Duration `yaml:"login_ttl"`
	// PageSize is how many of the latest messages GET /messages gives.
	PageSize int `yaml:"page_size"`
	// ReplyWait is how long POST /messages waits for the store's copy of
	// the message before HQ answers her itself.
	ReplyWait time.Duration `yaml:"reply_wait"`
	// MaxText is the longest text message, in bytes.
	MaxText int `yaml:"max_text_bytes"`
	// MessagesPerMinute is how many messages one customer may send in a
	// minute (429 beyond).
	MessagesPerMinute int `yaml:"messages_per_minute"`
	// MaxMedia is the largest photo or voice note, in bytes (413 beyond).
	MaxMedia int64 `yaml:"max_media_bytes"`
	// RecallWindow is how long after sending she may take a message back.
	RecallWindow time.Duration `yaml:"recall_window"`
	// LoginFailuresPerMinute is how many unknown or used codes one address
	// may try in a minute (429 beyond).
	LoginFailuresPerMinute int `yaml:"login_failures_per_minute"`
	// MaxWait is the longest long-poll of GET /messages (wait=…).
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxWaitsPerCustomer is how many long-polls one customer may have
	// waiting at once (all her devices; 429 beyond).
	MaxWaitsPerCustomer int `yaml:"max_waits_per_customer"`
	// PublishTimeout bounds one publish to HQ's broker (503 beyond: the
	// same request again finishes it).
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ResendEvery is how often HQ sends again the messages its broker did
	// not take (in the order she sent them).
	ResendEvery time.Duration `yaml:"resend_every"`
	// ClientIPHeader names the header a proxy puts the client's address
	// in (X-Real-IP, X-Forwarded-For); empty: the connection's address.
	ClientIPHeader string `yaml:"client_ip_header"`
}

// Defaults of Config.
const (
	DefaultLoginTTL                  = 4320 * time.Hour
	DefaultPageSize                  = 100
	DefaultReplyWait                 = 4 * time.Second
	DefaultMaxText                   = 4096
	DefaultMessagesPerMinute         = 30
	DefaultMaxMedia            int64 = 4 << 20
	DefaultRecallWindow              = 2 * time.Minute
	DefaultLoginFailures             = 10
	DefaultPublishTimeout            = 10 * time.Second
	DefaultResendEvery               = 15 * time.Second
	DefaultMaxWaitsPerCustomer       = 8
	DefaultMaxWait                   = 25 * time.Second
)

// WithDefaults fills the zero fields with the defaults.
func (c Config) WithDefaults() Config {
	if c.LoginTTL == 0 {
		c.LoginTTL = DefaultLoginTTL
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.ReplyWait == 0 {
		c.ReplyWait = DefaultReplyWait
	}
	if c.MaxText == 0 {
		c.MaxText = DefaultMaxText
	}
	if c.MessagesPerMinute == 0 {
		c.MessagesPerMinute = DefaultMessagesPerMinute
	}
	if c.MaxMedia == 0 {
		c.MaxMedia = DefaultMaxMedia
	}
	if c.RecallWindow == 0 {
		c.RecallWindow = DefaultRecallWindow
	}
	if c.LoginFailuresPerMinute == 0 {
		c.LoginFailuresPerMinute = DefaultLoginFailures
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.MaxWaitsPerCustomer == 0 {
		c.MaxWaitsPerCustomer = DefaultMaxWaitsPerCustomer
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.ResendEvery == 0 {
		c.ResendEvery = DefaultResendEvery
	}
	return c
}

// Validate reports every setting that cannot work (after WithDefaults).
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf("home."+f, a...)) }
	if c.LoginTTL < time.Hour {
		bad("login_ttl %v: want at least 1h", c.LoginTTL)
	}
	if c.PageSize < 1 || c.PageSize > 1000 {
		bad("page_size %d: want 1 to 1000", c.PageSize)
	}
	if c.ReplyWait < 0 || c.ReplyWait > 30*time.Second {
		bad("reply_wait %v: want 0 to 30s", c.ReplyWait)
	}
	if c.MaxText < 1 || c.MaxText > 65536 {
		bad("max_text_bytes %d: want 1 to 65536", c.MaxText)
	}
	if c.MessagesPerMinute < 1 {
		bad("messages_per_minute %d: want at least 1", c.MessagesPerMinute)
	}
	if c.MaxMedia < 1024 || c.MaxMedia > 64<<20 {
		bad("max_media_bytes %d: want 1024 to 64 MiB", c.MaxMedia)
	}
	if c.RecallWindow < 0 || c.RecallWindow > 24*time.Hour {
		bad("recall_window %v: want 0 to 24h", c.RecallWindow)
	}
	if c.LoginFailuresPerMinute < 1 {
		bad("login_failures_per_minute %d: want at least 1", c.LoginFailuresPerMinute)
	}
	if c.MaxWait < time.Second || c.MaxWait > 25*time.Second {
		bad("max_wait %v: want 1s to 25s", c.MaxWait)
	}
	if c.MaxWaitsPerCustomer < 1 || c.MaxWaitsPerCustomer > 100 {
		bad("max_waits_per_customer %d: want 1 to 100", c.MaxWaitsPerCustomer)
	}
	if c.ResendEvery < 100*time.Millisecond || c.ResendEvery > time.Hour {
		bad("resend_every %v: want 100ms to 1h", c.ResendEvery)
	}
	if c.PublishTimeout < 100*time.Millisecond || c.PublishTimeout > time.Minute {
		bad("publish_timeout %v: want 100ms to 1m", c.PublishTimeout)
	}
	return errors.Join(errs...)
}
