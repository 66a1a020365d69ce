package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storeedge/storeedge/device"

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

// lockedBuffer is a bytes.Buffer safe for the client's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestKioskSaysWhenRevoked: the admin revokes the running kiosk; it says
// at once that its link dropped, then, once and not at every retry, that
// the store refuses its login and what to do.
func TestKioskSaysWhenRevoked(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "admin-1", Role: "admin"}}})
	a := s.Connect(t, storetest.Device{ID: "admin-1", Role: "admin"}, "console")
	var p proto.Pairing
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_add", `{"role":"kiosk","name":"Front kiosk"}`)).Decode(t, &p)
	id, pw, err := login(context.Background(), "", "", p.Code, "http://"+s.HTTP+proto.EnrollPath, filepath.Join(t.TempDir(), "k.json"))
	if err != nil {
		t.Fatal(err)
	}
	var said lockedBuffer
	say := linkState(&said)
	var attempts atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := device.Connect(ctx, device.Config{Brokers: []string{"mqtt://" + s.Addr}, DeviceID: id, Password: pw,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 50 * time.Millisecond,
		OnConnection: func(up bool, err error) {
			if err != nil {
				attempts.Add(1)
			}
			say(up, err)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())

	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_revoke", fmt.Sprintf(`{"account":%q}`, id)))
	revoked := time.Now()
	const lost, refused = "kiosk: the connection to the store was lost; reconnecting\n", "kiosk: the store refused this kiosk's login"
	for !strings.HasPrefix(said.String(), lost) {
		if time.Since(revoked) > time.Second {
			t.Fatalf("a second after the revoke the kiosk said %q", said.String())
		}
		time.Sleep(5 * time.Millisecond) // polling what the kiosk said, with a deadline
	}
	t.Logf("the kiosk said its link dropped %v after the revoke", time.Since(revoked))
	for attempts.Load() < 3 {
		if time.Since(revoked) > 10*time.Second {
			t.Fatalf("%d refused attempts in 10 s; the kiosk said %q", attempts.Load(), said.String())
		}
		time.Sleep(5 * time.Millisecond) // polling the client's retries, with a deadline
	}
	out := said.String()
	if strings.Count(out, refused) != 1 || !strings.Contains(out, "-enroll CODE") {
		t.Fatalf("after %d refused attempts the kiosk said %q: want the refusal once, with what to do", attempts.Load(), out)
	}
}
