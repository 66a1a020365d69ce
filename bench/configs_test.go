package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"

	storebroker "github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// The generated storeedge config must load with the broker's own (strict)
// loader, and the ACL and device files must be accepted by the auth hook: a
// schema change in configs/store.yaml or configs/acl.yaml fails here rather
// than in the middle of `make bench`.
func TestStoreedgeConfigLoads(t *testing.T) {
	b, err := newBroker(side{name: "storeedge", kind: kindStoreedge, bin: "/bin/true"}, t.TempDir(), brokerOpts{})
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
	srv := mqtttest.NewServer(mqtttest.Options{InlineClient: true})
	hook, err := auth.NewHook(auth.Options{
		Server: srv, Devices: devices, ACL: acl,
		AllowAnonymous: true, AnonymousRole: benchRole,
	})
	if err != nil {
		t.Fatalf("auth.NewHook rejects the bench ACL: %v", err)
	}
	// The camera scenario's grants, as a session of each device has them.
	session := func(id, username string) *mqtt.Client { return mqtttest.Client(srv, id, username) }
	cam, viewer, chat := session(cameraID, cameraID), session(cameraViewer(0), cameraViewer(0)), session(chatDevice(0), chatDevice(0))
	for _, c := range []struct {
		cl    *mqtt.Client
		topic string
		write bool
		want  bool
	}{
		{cam, "svc/camera/register", true, true},
		{cam, "camera/" + cameraID + "/signal/up-1", true, true},
		{cam, "camera/" + cameraID + "/signal/+", false, true},
		{cam, "devices/" + cameraID + "/status", true, true},
		{cam, "reply/" + cameraID + "/#", false, true},
		{cam, "camera/cam-other/signal/up-1", true, false},
		{cam, "svc/chat/send", true, false},
		{viewer, "svc/camera/watch", true, true},
		{viewer, "camera/" + cameraID + "/signal/w-1", true, true},
		{viewer, "camera/" + cameraID + "/signal/w-1", false, true},
		{viewer, "reply/" + cameraViewer(0) + "/#", false, true},
		{viewer, "reply/" + cameraViewer(1) + "/#", false, false},
		{chat, "svc/chat/send", true, true},
		{chat, "reply/" + chatDevice(0) + "/chat", false, true},
	} {
		if got := hook.OnACLCheck(c.cl, c.topic, c.write); got != c.want {
			t.Errorf("%s: %s (write %v) allowed = %v, want %v", c.cl.ID, c.topic, c.write, got, c.want)
		}
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
	for _, id := range []string{chatDevice(chatSenders - 1), cameraID, cameraViewer(cameraMaxViewers - 1)} {
		if !strings.Contains(string(devices), "id: "+id+"\n") {
			t.Errorf("devices.yaml lacks %s", id)
		}
	}
	for _, c := range []struct {
		hash     func() ([]byte, error)
		password string
	}{{chatHash, chatPassword}, {cameraHash, cameraPassword}} {
		h, err := c.hash()
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := auth.VerifyPassword(string(h), c.password); !ok || err != nil {
			t.Errorf("VerifyPassword(hash of %s) = %v, %v", c.password, ok, err)
		}
	}
	// The camera scenario's assumptions about the relay's configuration.
	cm := cfg.Camera
	if !cm.Loopback || cm.MaxViewers != cameraMaxViewers || cm.Linger != cameraWarmLinger || !slices.Contains(cm.StaffRoles, cameraViewerRole) {
		t.Errorf("camera = %+v", cm)
	}
	cold, err := newBroker(side{name: "storeedge", kind: kindStoreedge, bin: "/bin/true"}, t.TempDir(), brokerOpts{cameraLinger: cameraColdLinger, infoJSONLog: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := storebroker.LoadConfig(cold.conf); err != nil || cfg.Camera.Linger != cameraColdLinger || cfg.Log.Level != "info" || cfg.Log.Format != "json" {
		t.Errorf("cold pass: LoadConfig = camera %+v, log %+v, %v", cfg.Camera, cfg.Log, err)
	}

	w, err := newBroker(side{name: "storeedge", kind: kindStoreedge, bin: "/bin/true"}, t.TempDir(), brokerOpts{svcWorkers: 64})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := storebroker.LoadConfig(w.conf); err != nil || cfg.Services.Workers != 64 {
		t.Errorf("-svc-workers 64: LoadConfig = %+v, %v", cfg.Services, err)
	}
}

func TestMosquittoConfig(t *testing.T) {
	b, err := newBroker(side{name: "mosquitto", kind: kindMosquitto, bin: "/bin/true"}, t.TempDir(), brokerOpts{})
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
