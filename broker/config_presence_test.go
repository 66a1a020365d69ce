package broker

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// chat.presence_ttl and chat.resume_roles: defaults, bounds, and an older
// store.yaml without them.
func TestConfigPresence(t *testing.T) {
	c, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Chat.PresenceTTL != 10*time.Minute || !slices.Equal(c.Chat.ResumeRoles, []string{"staff", "admin"}) {
		t.Fatalf("defaults: presence_ttl %v, resume_roles %v", c.Chat.PresenceTTL, c.Chat.ResumeRoles)
	}
	dir := t.TempDir()
	for body, ok := range map[string]bool{
		"chat:\n  presence_ttl: 30s\n":       false,
		"chat:\n  presence_ttl: 9h\n":        false,
		"chat:\n  presence_ttl: 2m\n":        true,
		"chat:\n  resume_roles: []\n":        true,
		"chat:\n  max_active_tokens: 10\n":   true, // an older file without the keys
		"chat:\n  presence_ttl: forever\n":   false,
		"chat:\n  resume_roles: [admin]\n":   true,
		"chat:\n  resume_roles: \"staff\"\n": false,
	} {
		p := filepath.Join(dir, "store.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadConfig(p); (err == nil) != ok {
			t.Errorf("%q: accepted %v, want %v (%v)", body, err == nil, ok, err)
		}
	}
}

// resume_roles: [] means nobody resumes a customer by id alone (not the
// chat service's default).
func TestConfigResumeRolesEmpty(t *testing.T) {
	p := filepath.Join(t.TempDir(), "store.yaml")
	if err := os.WriteFile(p, []byte("chat:\n  resume_roles: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(p)
	if err != nil || c.Chat.ResumeRoles == nil || len(c.Chat.ResumeRoles) != 0 {
		t.Fatalf("resume_roles: []: %#v %v", c.Chat.ResumeRoles, err)
	}
}
