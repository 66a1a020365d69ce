package broker

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// chat.customer_login_ttl: 180 days by default, bounded, and the older
// key customer_session_ttl still read from files that set it.
func TestConfigCustomerLoginTTL(t *testing.T) {
	c, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Chat.LoginTTL() != 180*24*time.Hour {
		t.Fatalf("default login ttl %v, want 180 days", c.Chat.LoginTTL())
	}
	dir := t.TempDir()
	for body, want := range map[string]time.Duration{
		"chat:\n  customer_login_ttl: 720h\n":   720 * time.Hour,
		"chat:\n  customer_session_ttl: 24h\n":  24 * time.Hour, // a file from before
		"chat:\n  customer_login_ttl: 30s\n":    0,
		"chat:\n  customer_login_ttl: 17521h\n": 0,
		"chat:\n  customer_session_ttl: 1s\n":   0,
	} {
		p := filepath.Join(dir, "store.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(p)
		switch {
		case want == 0 && err == nil:
			t.Errorf("%q accepted", body)
		case want != 0 && (err != nil || c.Chat.LoginTTL() != want):
			t.Errorf("%q: %v, %v; want %v", body, c.Chat.LoginTTL(), err, want)
		}
	}
}
