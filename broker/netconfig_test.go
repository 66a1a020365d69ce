package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNetLimitConfig: the connection limits' keys are validated, and a
// store.yaml with a small max_connections or max_packet_size still loads.
func TestNetLimitConfig(t *testing.T) {
	dir := t.TempDir()
	load := func(name, body string) (Config, error) {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p)
	}
	for name, body := range map[string]string{
		"no pending sockets":        "limits:\n  max_pending_connects: 0\n",
		"per address over total":    "limits:\n  max_pending_connects: 10\n  max_pending_connects_per_address: 11\n",
		"tiny connect":              "limits:\n  max_connect_bytes: 100\n",
		"negative identity cap":     "limits:\n  max_connections_per_identity: -1\n",
		"negative customer cap":     "limits:\n  max_connections_per_customer: -1\n",
		"negative reserved":         "limits:\n  reserved_connections: -1\n",
		"reserved for nobody":       "limits:\n  reserved_roles: []\n",
		"negative password workers": "auth:\n  password_workers: -1\n",
		"short backoff":             "auth:\n  login_backoff_max: 10ms\n",
	} {
		if _, err := load(name, body); err == nil {
			t.Errorf("%s: config accepted", name)
		}
	}
	c, err := load("small", "limits:\n  max_connections: 10\n  max_packet_size: 2048\n")
	if err != nil {
		t.Fatalf("small limits: %v", err)
	}
	if got := c.Limits.reservedConnections(); got != 5 {
		t.Errorf("reserved connections of 10: %d, want at most half (5)", got)
	}
	if got := c.Limits.maxConnectBytes(); got != 2048 {
		t.Errorf("max connect bytes with max_packet_size 2048: %d", got)
	}
	def, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	l, a := def.Limits, def.Auth
	if l.MaxPendingConnects != 512 || l.MaxPendingConnectsPerAddress != 32 || l.MaxConnectBytes != 64<<10 ||
		l.MaxConnectionsPerIdentity != 8 || l.MaxConnectionsPerCustomer != 4 || l.ReservedConnections != 50 ||
		a.PasswordWorkers != 0 || a.LoginBackoffAfter != 5 || a.LoginBackoffMax != time.Minute {
		t.Errorf("defaults: %+v %+v", l, a)
	}
	for _, o := range def.Listeners.WebsocketOrigins {
		if o == "*" {
			t.Error("the default allows WebSocket pages from any origin")
		}
	}
}
