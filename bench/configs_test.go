package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"

	storebroker "github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/auth"
)

// The generated storeedge config must load with the broker's own (strict)
// loader, and the ACL and device files must be accepted by the auth hook: a
// schema change in configs/store.yaml or configs/acl.yaml fails here rather
// than in the middle of `make bench`.
func TestStoreedgeConfigLoads(t *testing.T) {
	b, err := newBroker(side{name: "storeedge", kind: kindStoreedge, bin: "/bin/true"}, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := storebroker.LoadConfig(b.conf)
	if err != nil {
		t.Fatalf("LoadConfig(%s): %v", b.conf, err)
	}
	if cfg.Listeners.TCP != b.addr || cfg.Listeners.HTTP != b.httpAddr || cfg.Listeners.Websocket != "" || cfg.Listeners.TLS != "" {
		t.Errorf("listeners = %+v", cfg.Listeners)
	}
	if !cfg.Auth.AllowAnonymous || cfg.Auth.AnonymousRole != benchRole {
		t.Errorf("auth = %+v", cfg.Auth)
	}
	l := cfg.Limits
	if l.MaxConnections != 5000 || l.ConnectRatePerMinute != 0 || l.MaxQueuedMessages != maxQueuedMessages || l.ReceiveMaximum != 256 {
		t.Errorf("limits = %+v", l)
	}
	if cfg.Log.Level != "warn" || !strings.HasPrefix(cfg.DataDir, b.dir) {
		t.Errorf("log %q, data_dir %q", cfg.Log.Level, cfg.DataDir)
	}

	acl, err := os.ReadFile(cfg.Auth.ACLFile)
	if err != nil {
		t.Fatal(err)
	}
	devices, err := os.ReadFile(cfg.Auth.DevicesFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewHook(auth.Options{
		Server: mqtt.New(nil), Devices: devices, ACL: acl,
		AllowAnonymous: true, AnonymousRole: benchRole,
	}); err != nil {
		t.Fatalf("auth.NewHook rejects the bench ACL: %v", err)
	}

	// Without the customer role the daemon turns customer logins off with a
	// warning (older builds refused to start); auth.NewHook does not check it.
	if !strings.Contains(string(acl), "\n  "+cfg.Chat.CustomerRole+":\n") {
		t.Errorf("the ACL lacks chat.customer_role %q:\n%s", cfg.Chat.CustomerRole, acl)
	}
	// The chat scenarios' assumptions about the daemon's defaults.
	if !slices.Contains(cfg.Chat.StaffRoles, chatRole) {
		t.Errorf("chat.staff_roles %v lacks %q: the chat devices would get the FAQ assistant", cfg.Chat.StaffRoles, chatRole)
	}
	if cfg.Services.QueueSize != chatQueueSize {
		t.Errorf("services.queue_size = %d, chatQueueSize = %d", cfg.Services.QueueSize, chatQueueSize)
	}
	if cfg.Chat.PageSize < chatPageSize {
		t.Errorf("chat.page_size %d < %d", cfg.Chat.PageSize, chatPageSize)
	}
	if !cfg.Listeners.HTTPDebug {
		t.Error("http_debug off: -profile would fail")
	}
	if !strings.Contains(string(devices), "id: "+chatDevice(chatSenders-1)+"\n") {
		t.Errorf("devices.yaml lacks %s", chatDevice(chatSenders-1))
	}
	h, err := chatHash()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := auth.VerifyPassword(string(h), chatPassword); !ok || err != nil {
		t.Errorf("VerifyPassword(chat hash) = %v, %v", ok, err)
	}

	w, err := newBroker(side{name: "storeedge", kind: kindStoreedge, bin: "/bin/true"}, t.TempDir(), 64)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := storebroker.LoadConfig(w.conf); err != nil || cfg.Services.Workers != 64 {
		t.Errorf("-svc-workers 64: LoadConfig = %+v, %v", cfg.Services, err)
	}
}

func TestMosquittoConfig(t *testing.T) {
	b, err := newBroker(side{name: "mosquitto", kind: kindMosquitto, bin: "/bin/true"}, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(b.conf)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(b.addr, ":")
	for _, want := range []string{
		"listener " + port + " 127.0.0.1\n",
		"allow_anonymous true\n",
		"persistence true\n",
		"persistence_location " + filepath.Join(b.dir, "data") + "/\n",
		"max_queued_messages 10000\n",
		"log_type error\n",
	} {
		if !strings.Contains(string(c), want) {
			t.Errorf("mosquitto.conf lacks %q:\n%s", want, c)
		}
	}
}
