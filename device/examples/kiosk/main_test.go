package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// TestKioskEnrolsWithItsCode: the admin adds a kiosk; the example kiosk,
// given only the pairing code, enrols, keeps its credentials, books, and a
// second run logs in from the kept credentials without a code. The
// console's list shows it with the app version it reported.
func TestKioskEnrolsWithItsCode(t *testing.T) {
	// The kiosk books tomorrow by the wall clock: the store's runs on it too.
	s := storetest.Start(t, storetest.Options{Start: time.Now(), Devices: []storetest.Device{{ID: "admin-1", Role: "admin"}}})
	a := s.Connect(t, storetest.Device{ID: "admin-1", Role: "admin"}, "console")
	var p proto.Pairing
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_add", `{"role":"kiosk","name":"Front kiosk"}`)).Decode(t, &p)

	ctx := context.Background()
	keep := filepath.Join(t.TempDir(), "kiosk-credentials.json")
	url := "http://" + s.HTTP + proto.EnrollPath
	id, pw, err := login(ctx, "", "", p.Code, url, keep)
	if err != nil {
		t.Fatal(err)
	}
	if id != p.Account.ID {
		t.Fatalf("enrolled as %q, want %q", id, p.Account.ID)
	}
	if err := run(ctx, "mqtt://"+s.Addr, id, pw, "", "cust-walkin01", "", filepath.Join(t.TempDir(), "qr.png")); err != nil {
		t.Fatal(err)
	}
	// Second run: no code, the kept credentials.
	id2, pw2, err := login(ctx, "", "", "", url, keep)
	if err != nil || id2 != id || pw2 != pw {
		t.Fatalf("second run logs in as %q: %v", id2, err)
	}
	var l proto.AccountList
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_list", `{}`)).Decode(t, &l)
	b, _ := json.Marshal(l)
	for _, d := range l.Accounts {
		if d.ID == id && d.LastSeen != "" && !d.Pending && d.AppVersion == AppVersion {
			return
		}
	}
	t.Fatalf("device list %s: want %s enrolled and seen, with app %s", b, id, AppVersion)
}
