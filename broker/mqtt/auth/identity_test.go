package auth

import (
	"strings"
	"testing"

	"github.com/storeedge/storeedge/configs"
)

func TestIdentityConnectedDevices(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil, allowAnonymous)
	for _, d := range []testDevice{roleDevices[0], roleDevices[3]} { // kiosk-01:screen, staff-anna:console-2
		b.login(t, d)
		cl, ok := b.srv.Clients.Get(d.clientID)
		if !ok {
			t.Fatalf("%s not connected", d.clientID)
		}
		got, ok := b.hook.Identity(cl)
		want := Identity{Device: d.id, Role: d.role, ClientID: d.clientID}
		if !ok || got != want {
			t.Fatalf("Identity(%s) = %+v, %v; want %+v", d.clientID, got, ok, want)
		}
	}

	// An anonymous client (allowed here) is identified with the anonymous role.
	if _, _, err := b.connect(t, connectOpts{clientID: "lab-probe"}); err != nil {
		t.Fatal(err)
	}
	cl, _ := b.srv.Clients.Get("lab-probe")
	got, ok := b.hook.Identity(cl)
	if want := (Identity{Role: "anonymous", ClientID: "lab-probe", Anonymous: true}); !ok || got != want {
		t.Fatalf("anonymous: %+v, %v; want %+v", got, ok, want)
	}

	// The broker's own inline client is nobody.
	inline, ok := b.srv.Clients.Get("inline")
	if !ok {
		t.Fatal("no inline client")
	}
	if id, ok := b.hook.Identity(inline); ok {
		t.Fatalf("inline client identified as %+v", id)
	}
	if _, ok := b.hook.Identity(nil); ok {
		t.Fatal("nil client identified")
	}
}

// TestIdentityFollowsReload: a device removed from the registry is no longer
// identified, even while still connected; a changed role shows at once.
func TestIdentityFollowsReload(t *testing.T) {
	b := startBroker(t, devicesYAML(t, ""), nil)
	d := roleDevices[1] // tab-01, chat-tablet
	b.login(t, d)
	cl, _ := b.srv.Clients.Get(d.clientID)
	if id, ok := b.hook.Identity(cl); !ok || id.Role != "chat-tablet" {
		t.Fatalf("before reload: %+v, %v", id, ok)
	}
	promoted := strings.Replace(string(devicesYAML(t, "")), "role: chat-tablet", "role: staff", 1)
	if err := b.hook.Reload([]byte(promoted), configs.ACL); err != nil {
		t.Fatal(err)
	}
	if id, ok := b.hook.Identity(cl); !ok || id.Role != "staff" {
		t.Fatalf("after promotion: %+v, %v", id, ok)
	}
	removed := strings.Replace(string(devicesYAML(t, "")), "id: tab-01", "id: tab-99", 1)
	if err := b.hook.Reload([]byte(removed), configs.ACL); err != nil {
		t.Fatal(err)
	}
	if id, ok := b.hook.Identity(cl); ok {
		t.Fatalf("removed device still identified: %+v", id)
	}
}

// TestIdentityRestoredSession: after a restart a persistent session is
// restored from storage and has never authenticated in this process; its
// identity must still be known.
func TestIdentityRestoredSession(t *testing.T) {
	d := roleDevices[3] // staff-anna:console-2
	b2, cl := restoredOfflineSession(t, d, "")
	got, ok := b2.hook.Identity(cl)
	if want := (Identity{Device: d.id, Role: d.role, ClientID: d.clientID}); !ok || got != want {
		t.Fatalf("restored: %+v, %v; want %+v", got, ok, want)
	}
}
