package accounts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/device"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

var admin = storetest.Device{ID: "admin-1", Role: "admin"}

// conn is a plain paho MQTT 5 connection that tells when the broker drops it.
type conn struct {
	c    *paho.Client
	gone chan struct{}
	once sync.Once
}

// dial logs in; it returns the CONNACK's refusal as an error.
func dial(t *testing.T, addr, user, pw string) (*conn, error) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	k := &conn{gone: make(chan struct{})}
	down := func() { k.once.Do(func() { close(k.gone) }) }
	k.c = paho.NewClient(paho.ClientConfig{
		Conn:               nc,
		OnServerDisconnect: func(*paho.Disconnect) { down() },
		OnClientError:      func(error) { down() },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := k.c.Connect(ctx, &paho.Connect{ClientID: user + ":t", KeepAlive: 30, CleanStart: true,
		Username: user, UsernameFlag: true, Password: []byte(pw), PasswordFlag: true}); err != nil {
		nc.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = k.c.Disconnect(&paho.Disconnect{}) })
	return k, nil
}

func enrollURL(s *storetest.Store) string { return "http://" + s.HTTP + proto.EnrollPath }

// addDevice calls device_add as the admin and returns the pairing.
func addDevice(t *testing.T, a *storetest.Client, role, name, room string) proto.Pairing {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"role": role, "name": name, "room": room})
	var p proto.Pairing
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_add", string(body))).Decode(t, &p)
	return p
}

func deviceList(t *testing.T, a *storetest.Client) map[string]proto.AccountInfo {
	t.Helper()
	var l proto.AccountList
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_list", `{}`)).Decode(t, &l)
	out := map[string]proto.AccountInfo{}
	for _, d := range l.Accounts {
		out[d.ID] = d
	}
	return out
}

// poll waits for cond, failing after 5 s.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKioskEnrolsAndIsRevokedWithinASecond: the admin adds a kiosk; the
// kiosk enrols with the pairing code through the SDK, keeps its
// credentials in a 0600 file, logs in and books; the list shows it online
// with its address. Revoked, it is disconnected within a second, cannot log
// in again, and its code cannot be used a second time.
func TestKioskEnrolsAndIsRevokedWithinASecond(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{admin}})
	a := s.Connect(t, admin, "console")

	p := addDevice(t, a, "kiosk", "Front kiosk", "")
	if len(p.Code) != 8 || strings.ContainsAny(p.Code, "01OIL") {
		t.Fatalf("pairing code %q: want 8 characters without 0, 1, O, I, L", p.Code)
	}
	var qr struct{ Enroll, Code string }
	if err := json.Unmarshal([]byte(p.QR), &qr); err != nil || qr.Code != p.Code || !strings.HasSuffix(qr.Enroll, "/enroll") || p.QRPNG == "" {
		t.Fatalf("QR %q (png %d bytes): want {\"enroll\":…/enroll,\"code\":%q}", p.QR, len(p.QRPNG), p.Code)
	}
	if exp, err := time.Parse(time.RFC3339, p.Expires); err != nil || exp.Sub(s.Now()) != 10*time.Minute {
		t.Fatalf("code expires %s, want 10 min after the store's %s", p.Expires, s.Now())
	}
	if l := deviceList(t, a); !l[p.Account.ID].Pending || l[p.Account.ID].Online {
		t.Fatalf("before enrolment: %+v, want pending, offline", l[p.Account.ID])
	}

	keep := filepath.Join(t.TempDir(), "kiosk.json")
	// Typed by hand: lower case with a dash works too.
	typed := strings.ToLower(p.Code[:4] + "-" + p.Code[4:])
	cred, err := device.Enroll(context.Background(), enrollURL(s), typed, keep)
	if err != nil {
		t.Fatal(err)
	}
	if cred.ID != p.Account.ID || cred.Role != "kiosk" || cred.Name != "Front kiosk" || len(cred.Password) < 24 || cred.MQTT != s.Addr {
		t.Fatalf("credentials %+v, want %s, kiosk, a long password and MQTT %s", cred, p.Account.ID, s.Addr)
	}
	if fi, err := os.Stat(keep); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v; want mode 0600", fi, err)
	}
	if got, err := device.LoadCredentials(keep); err != nil || got != cred {
		t.Fatalf("LoadCredentials = %+v, %v", got, err)
	}
	db, err := os.ReadFile(filepath.Join(s.Dir, "data", "storeedge.db"))
	if err == nil && strings.Contains(string(db), cred.Password) {
		t.Fatal("the device's password is stored in clear in the database")
	}

	k := s.ConnectAs(t, cred.ID, cred.Password, "", false)
	storetest.OK(t, k.Call(t, proto.ServiceBooking, "services", `{}`))
	if l := deviceList(t, a)[cred.ID]; !l.Online || l.Pending || l.Address != "127.0.0.1" || l.LastSeen == "" {
		t.Fatalf("after login: %+v, want online, enrolled, address 127.0.0.1, last seen", l)
	}

	// The kiosk as a plain connection, to see it go.
	kc, err := dial(t, s.Addr, cred.ID, cred.Password)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_revoke", fmt.Sprintf(`{"account":%q}`, cred.ID)))
	select {
	case <-kc.gone:
	case <-time.After(time.Second):
		t.Fatal("the revoked kiosk is still connected a second later")
	}
	t.Logf("revoked kiosk disconnected in %v", time.Since(start))
	if _, err := dial(t, s.Addr, cred.ID, cred.Password); err == nil {
		t.Fatal("the revoked kiosk logged in again")
	}
	if l := deviceList(t, a)[cred.ID]; !l.Revoked || l.Online {
		t.Fatalf("after revoke: %+v, want revoked, offline", l)
	}
	var ee *device.EnrollError
	if _, err := device.Enroll(context.Background(), enrollURL(s), p.Code, keep+"2"); !errors.As(err, &ee) || ee.Code != "not_found" || ee.Status != 404 {
		t.Fatalf("a used code again: %v, want 404 not_found", err)
	}
}

// TestPairingCodeExpiresOnTheStoreClock: ten minutes on the store's clock
// and the code is refused as expired; the device was not enrolled.
func TestPairingCodeExpiresOnTheStoreClock(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{admin}})
	a := s.Connect(t, admin, "console")
	p := addDevice(t, a, "camera", "Grooming room 1", "room-1")
	s.Advance(10 * time.Minute)
	var ee *device.EnrollError
	_, err := device.Enroll(context.Background(), enrollURL(s), p.Code, filepath.Join(t.TempDir(), "c.json"))
	if !errors.As(err, &ee) || ee.Code != "expired" || ee.Status != http.StatusGone {
		t.Fatalf("expired code: %v, want 410 expired", err)
	}
	if l := deviceList(t, a)[p.Account.ID]; !l.Pending || l.Room != "room-1" {
		t.Fatalf("%+v: want still pending, in room-1", l)
	}
	// Rotate gives a new code that works.
	var p2 proto.Pairing
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_rotate", fmt.Sprintf(`{"account":%q}`, p.Account.ID))).Decode(t, &p2)
	if _, err := device.Enroll(context.Background(), enrollURL(s), p2.Code, filepath.Join(t.TempDir(), "c.json")); err != nil {
		t.Fatal(err)
	}
}

// TestEnrolAttemptsAreLimited: guesses from one address past
// accounts.enroll_per_minute are answered 429 quota_exceeded and counted;
// a minute later (store clock) they are checked again.
func TestEnrolAttemptsAreLimited(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{admin}})
	post := func(code string) (int, string) {
		resp, err := http.Post(enrollURL(s), "application/json", strings.NewReader(`{"code":"`+code+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := range 10 {
		if st, b := post(fmt.Sprintf("ABCD%04d", 2345+i)); st != http.StatusNotFound {
			t.Fatalf("guess %d: %d %s, want 404", i+1, st, b)
		}
	}
	st, b := post("ABCDEFGH")
	if st != http.StatusTooManyRequests || !strings.Contains(b, `"quota_exceeded"`) {
		t.Fatalf("11th guess: %d %s, want 429 quota_exceeded", st, b)
	}
	if v := metric(t, s, "storeedge_enroll_refused_total"); v != "1" {
		t.Fatalf("storeedge_enroll_refused_total = %q, want 1", v)
	}
	s.Advance(time.Minute)
	if st, b := post("ABCDEFGH"); st != http.StatusNotFound {
		t.Fatalf("a minute later: %d %s, want 404", st, b)
	}
	if st, _ := post("not json"); st != http.StatusNotFound {
		t.Fatalf("a malformed code: %d, want 404 (it cannot be a code)", st)
	}
	resp, err := http.Post(enrollURL(s), "application/json", strings.NewReader(`{"kode":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no code: %d, want 400", resp.StatusCode)
	}
}

func metric(t *testing.T, s *storetest.Store, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestFileDevicesImportedAndRevokedForGood: devices.yaml is imported on
// the first start; a file device revoked in the console stays revoked
// through SIGHUP and a restart, which import the file again.
func TestFileDevicesImportedAndRevokedForGood(t *testing.T) {
	kiosk := storetest.Device{ID: "kiosk-01", Role: "kiosk"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{admin, kiosk}})
	a := s.Connect(t, admin, "console")
	d := deviceList(t, a)["kiosk-01"]
	if !d.FromFile || d.Role != "kiosk" {
		t.Fatalf("kiosk-01 %+v: want imported from the file", d)
	}
	if _, err := dial(t, s.Addr, "kiosk-01", "pw-kiosk-01"); err != nil {
		t.Fatal(err)
	}
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_revoke", `{"account":"kiosk-01"}`))
	if err := s.Broker().Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, s.Addr, "kiosk-01", "pw-kiosk-01"); err == nil {
		t.Fatal("SIGHUP brought the revoked kiosk back")
	}
	s.Restart()
	if _, err := dial(t, s.Addr, "kiosk-01", "pw-kiosk-01"); err == nil {
		t.Fatal("a restart brought the revoked kiosk back")
	}
	if _, err := dial(t, s.Addr, "admin-1", "pw-admin-1"); err != nil {
		t.Fatalf("the file's admin after a restart: %v", err)
	}
}

// TestCameraFilmsItsRoom: a camera added with a room, enrolled, films that
// room (camera register answers its resource); moved in the console, it
// films the new one from the next start.
func TestCameraFilmsItsRoom(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{admin}})
	a := s.Connect(t, admin, "console")
	p := addDevice(t, a, "camera", "Grooming cam", "table-1")
	cred, err := device.Enroll(context.Background(), enrollURL(s), p.Code, filepath.Join(t.TempDir(), "cam.json"))
	if err != nil {
		t.Fatal(err)
	}
	s.Restart()
	a.Reconnect(t)
	register := func() string {
		c := s.ConnectAs(t, cred.ID, cred.Password, "", false)
		var r struct {
			Resource string `json:"resource"`
		}
		storetest.OK(t, c.Call(t, proto.ServiceCamera, "register", `{"codec":"video/VP8"}`)).Decode(t, &r)
		return r.Resource
	}
	if got := register(); got != "table-1" {
		t.Fatalf("the camera films %q, want table-1", got)
	}
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_update", fmt.Sprintf(`{"account":%q,"room":"table-2"}`, cred.ID)))
	s.Restart()
	if got := register(); got != "table-2" {
		t.Fatalf("moved: the camera films %q, want table-2", got)
	}
}
