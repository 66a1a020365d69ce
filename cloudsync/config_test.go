package cloudsync

import (
	"os"
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	return Config{URL: "mqtt://hq.example:1883", KeepAlive: 30 * time.Second, ConnectTimeout: 15 * time.Second,
		SessionExpiry: 168 * time.Hour, ReconnectMin: time.Second, ReconnectMax: 2 * time.Minute,
		Inflight: 1000, DedupTTL: 192 * time.Hour, StatusInterval: 5 * time.Second}
}

// Every setting that cannot work is named; an empty URL turns the bridge
// off and needs nothing else.
func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("off: %v", err)
	}
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, c := range []struct {
		name, want string
		edit       func(*Config)
	}{
		{"no host", "cloud.url", func(c *Config) { c.URL = "mqtt://" }},
		{"bad scheme", "scheme", func(c *Config) { c.URL = "http://hq:80" }},
		{"cert without key", "cert_file and key_file", func(c *Config) { c.CertFile = "store.pem" }},
		{"keepalive", "cloud.keepalive", func(c *Config) { c.KeepAlive = 0 }},
		{"connect timeout", "cloud.connect_timeout", func(c *Config) { c.ConnectTimeout = time.Millisecond }},
		{"session expiry", "cloud.session_expiry", func(c *Config) { c.SessionExpiry = time.Second }},
		{"backoff inverted", "reconnect_max", func(c *Config) { c.ReconnectMax = c.ReconnectMin / 2 }},
		{"no inflight", "cloud.inflight", func(c *Config) { c.Inflight = 0 }},
		{"too much inflight", "cloud.inflight", func(c *Config) { c.Inflight = 70000 }},
		{"negative rate", "cloud.rate", func(c *Config) { c.Rate = -1 }},
		{"negative budget", "cloud.max_outbox_bytes", func(c *Config) { c.MaxOutboxBytes = -1 }},
		{"dedup shorter than the session", "cloud.dedup_ttl", func(c *Config) { c.DedupTTL = time.Hour }},
		{"status too often", "cloud.status_interval", func(c *Config) { c.StatusInterval = time.Millisecond }},
	} {
		cfg := validConfig()
		c.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

// The reconnect delay grows from min to max, with jitter, and the first
// retry after a drop is immediate.
func TestBackoff(t *testing.T) {
	f := backoff(100*time.Millisecond, 2*time.Second)
	if f(0) != 0 {
		t.Fatalf("attempt 0: %s", f(0))
	}
	for attempt := 1; attempt < 40; attempt++ {
		ceil := min(100*time.Millisecond<<min(attempt-1, 30), 2*time.Second)
		for range 50 {
			if d := f(attempt); d < 100*time.Millisecond || d > ceil {
				t.Fatalf("attempt %d: %s outside [100ms, %s]", attempt, d, ceil)
			}
		}
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		seen[f(10)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("no jitter: %d distinct delays in 50", len(seen))
	}
}

// The shipped cloud.yaml's uplink section is the defaults; keys left out
// keep them; a misspelt key or a value that cannot work is named.
func TestParseUplink(t *testing.T) {
	b, err := os.ReadFile("../configs/cloud.yaml")
	if err != nil {
		t.Fatal(err)
	}
	u, err := ParseUplink(b)
	if err != nil || u != DefaultUplink() {
		t.Fatalf("shipped: %+v, %v; want %+v", u, err, DefaultUplink())
	}
	if u.StatusEvery != 30*time.Second || u.KeepSentFor != 72*time.Hour || u.KeepSentBytes != 64<<20 {
		t.Fatalf("defaults %+v", u)
	}
	u, err = ParseUplink([]byte("map: []\nuplink:\n  keep_sent_for: 0s\n"))
	if err != nil || u.KeepSentFor != 0 || u.StatusEvery != 30*time.Second {
		t.Fatalf("partial: %+v, %v", u, err)
	}
	for doc, want := range map[string]string{
		"uplink:\n  keep_sent_fro: 1h\n":      "keep_sent_fro",
		"uplink:\n  status_every: 1ms\n":      "uplink.status_every",
		"uplink:\n  keep_sent_bytes: -1\n":    "uplink.keep_sent_bytes",
		"uplink:\n  snapshot_batch: 0\n":      "uplink.snapshot_batch",
		"uplink:\n  keep_sent_for: forever\n": "keep_sent_for",
		"uplink:\n  max_media_bytes: -5\n":    "uplink.max_media_bytes",
	} {
		if _, err := ParseUplink([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error naming %s", doc, err, want)
		}
	}
}

// cloud.yaml's home_url: left out (the shipped file's ""), it turns the
// links off; set, it is an absolute http(s) address without a fragment;
// anything else names the key and what is wanted.
func TestParseHomeURL(t *testing.T) {
	shipped, err := os.ReadFile("../configs/cloud.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := ParseHomeURL(shipped); err != nil || u != "" {
		t.Fatalf("the shipped cloud.yaml: %q %v", u, err)
	}
	with := func(v string) []byte {
		return []byte(strings.Replace(string(shipped), `home_url: ""`, "home_url: "+v, 1))
	}
	if u, err := ParseHomeURL(with("https://hq.example.com/home/")); err != nil || u != "https://hq.example.com/home/" {
		t.Fatalf("a good home_url: %q %v", u, err)
	}
	for _, bad := range []string{"hq.example.com/home/", "ftp://hq.example.com/home/", "https:///home/", `"https://hq.example.com/home/#x"`} {
		if _, err := ParseHomeURL(with(bad)); err == nil || !strings.Contains(err.Error(), "home_url") {
			t.Errorf("home_url %s: %v", bad, err)
		}
	}
	if _, err := ParseHomeURL(append(with("https://hq.example.com/home/"), []byte("\nhome_urls: x\n")...)); err == nil {
		t.Error("a misspelt key is taken")
	}
}

// store.yaml's cloud.home_url is checked with the rest of the link's
// settings, by the same rule as cloud.yaml's.
func TestStoreHomeURLValidated(t *testing.T) {
	c := validConfig()
	c.HomeURL = "https://hq.example.com/home/"
	if err := c.Validate(); err != nil {
		t.Fatalf("a good cloud.home_url: %v", err)
	}
	c.HomeURL = "hq.example.com/home/#x"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "cloud.home_url") {
		t.Fatalf("a bad cloud.home_url: %v, want an error naming cloud.home_url", err)
	}
}
