package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Ingest.GapWait != 2*time.Minute || c.MQTT.Group != "hq" || c.MQTT.SessionExpiry != 24*time.Hour {
		t.Fatalf("defaults %+v", c)
	}
	if !strings.HasPrefix(c.ClientID(), "storeedge-hq-") {
		t.Fatalf("client id %q", c.ClientID())
	}
}

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hq.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A file overrides only its keys; a misspelt key is an error naming it.
func TestLoadOverAndStrict(t *testing.T) {
	c, err := Load(write(t, "ingest:\n  gap_wait: 30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ingest.GapWait != 30*time.Second || c.Ingest.Workers != 16 {
		t.Fatalf("%+v", c.Ingest)
	}
	_, err = Load(write(t, "ingest:\n  gap_wiat: 30s\n"))
	if err == nil || !strings.Contains(err.Error(), "gap_wiat") {
		t.Fatalf("misspelt key: %v", err)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	for key, edit := range map[string]func(*Config){
		"listen":                         func(c *Config) { c.Listen = "8090" },
		"postgres.url":                   func(c *Config) { c.Postgres.URL = "" },
		"mqtt.url":                       func(c *Config) { c.MQTT.URL = "http://x:1" },
		"mqtt.group":                     func(c *Config) { c.MQTT.Group = "a/b" },
		"mqtt.client_id":                 func(c *Config) { c.MQTT.ClientID = "has space" },
		"mqtt.session_expiry":            func(c *Config) { c.MQTT.SessionExpiry = time.Second },
		"mqtt.receive_maximum":           func(c *Config) { c.MQTT.ReceiveMaximum = 0 },
		"ingest.workers":                 func(c *Config) { c.Ingest.Workers = 0 },
		"postgres.max_conns":             func(c *Config) { c.Ingest.Workers = 40 },
		"ingest.gap_wait":                func(c *Config) { c.Ingest.GapWait = 0 },
		"ingest.batch":                   func(c *Config) { c.Ingest.Batch = 0 },
		"ingest.seen_keep":               func(c *Config) { c.Ingest.SeenKeep = time.Minute },
		"ingest.drain_timeout":           func(c *Config) { c.Ingest.DrainTimeout = time.Hour },
		"seal: set keys_env or":          func(c *Config) { c.Seal = Seal{} },
		"home_booking.live_wait":         func(c *Config) { c.HomeBooking.LiveWait = time.Minute },
		"home_booking.requests_per_hour": func(c *Config) { c.HomeBooking.RequestsPerHour = -1 },
	} {
		c, _ := Default()
		edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
}

// The key file is made once (0600) and read again; the environment wins.
func TestKeys(t *testing.T) {
	c, _ := Default()
	c.Seal.KeysEnv = "HQ_TEST_KEYS_UNSET"
	c.Seal.KeysFile = filepath.Join(t.TempDir(), "seal.keys")
	kr, created, err := c.Keys()
	if err != nil || !created {
		t.Fatalf("first: %v created %v", err, created)
	}
	fi, err := os.Stat(c.Seal.KeysFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v %v", fi, err)
	}
	sealed, err := kr.Seal([]byte("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	kr2, created, err := c.Keys()
	if err != nil || created {
		t.Fatalf("second: %v created %v", err, created)
	}
	if b, err := kr2.Open(sealed, nil); err != nil || string(b) != "hello" {
		t.Fatalf("the key changed: %v", err)
	}
	t.Setenv("HQ_TEST_KEYS_SET", "env1:"+strings.Repeat("A", 43)+"=")
	c.Seal.KeysEnv = "HQ_TEST_KEYS_SET"
	kr3, _, err := c.Keys()
	if err != nil || kr3.Current() != "env1" {
		t.Fatalf("env keys: %v", err)
	}
}
