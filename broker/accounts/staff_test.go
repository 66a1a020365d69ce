package accounts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/accounts"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/internal/testkit/svctest"
	"github.com/storeedge/storeedge/proto"
)

func staffList(t *testing.T, a *storetest.Client) (map[string]proto.AccountInfo, string) {
	t.Helper()
	ans := storetest.OK(t, a.Call(t, proto.ServiceAccounts, "staff_list", `{}`))
	var l proto.AccountList
	ans.Decode(t, &l)
	out := map[string]proto.AccountInfo{}
	for _, d := range l.Accounts {
		out[d.ID] = d
	}
	return out, ans.String()
}

// TestStaffAccounts: an admin adds, resets, disables and enables staff
// accounts; bad input is refused with its code and changes nothing; a
// disabled account is disconnected at once and cannot log in; staff cannot
// call the admin ops; no answer holds a password or its hash.
func TestStaffAccounts(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{admin}})
	a := s.Connect(t, admin, "console")

	add := `{"account":"anna","name":"Anna Li","role":"staff","password":"anna-password-1"}`
	first := storetest.OK(t, a.CallID(t, proto.ServiceAccounts, "staff_add", "add-anna", add))
	if again := a.CallID(t, proto.ServiceAccounts, "staff_add", "add-anna", add); again.String() != first.String() {
		t.Fatalf("the same request again: %s, want the first answer %s", again, first)
	}
	for _, c := range []struct{ body, code string }{
		{`{"account":"bob","name":"Bob","role":"staff","password":"short"}`, proto.CodeBadRequest},
		{`{"account":"bob","name":"Bob","role":"kiosk","password":"bob-password-1"}`, proto.CodeBadRequest},
		{`{"account":"cust-bob","name":"Bob","role":"staff","password":"bob-password-1"}`, proto.CodeBadRequest},
		{`{"account":"bob","name":"Bob\u202e","role":"staff","password":"bob-password-1"}`, proto.CodeBadRequest},
		{`{"account":"bob","name":"Bob","role":"staff","password":"bob-password-1","admin":true}`, proto.CodeBadRequest},
		{`{"account":"Anna","name":"Anna again","role":"staff","password":"anna-password-2"}`, proto.CodeConflict},
	} {
		ans := storetest.Fails(t, a.Call(t, proto.ServiceAccounts, "staff_add", c.body), c.code, "")
		if strings.Contains(ans.String(), "password-1") || strings.Contains(ans.String(), "short") {
			t.Fatalf("%s: the answer echoes the password: %s", c.body, ans)
		}
	}
	l, raw := staffList(t, a)
	if len(l) != 2 || l["anna"].Name != "Anna Li" || l["anna"].Role != "staff" || l["admin-1"].Role != "admin" {
		t.Fatalf("staff list %s: want admin-1 and anna only", raw)
	}
	if strings.Contains(raw, "$2") || strings.Contains(raw, "password") {
		t.Fatalf("staff list holds credentials: %s", raw)
	}

	anna := s.ConnectAs(t, "anna", "anna-password-1", "tablet", false)
	storetest.Fails(t, anna.Call(t, proto.ServiceAccounts, "staff_list", `{}`), proto.CodeForbidden, "")
	storetest.Fails(t, anna.Call(t, proto.ServiceAccounts, "device_add", `{"role":"kiosk","name":"x"}`), proto.CodeForbidden, "")
	if l, _ := staffList(t, a); !l["anna"].Online || l["anna"].LastSeen == "" {
		t.Fatalf("anna logged in: %+v, want online and last seen", l["anna"])
	}

	kc, err := dial(t, s.Addr, "anna", "anna-password-1")
	if err != nil {
		t.Fatal(err)
	}
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "staff_disable", `{"account":"anna"}`))
	select {
	case <-kc.gone:
	case <-time.After(time.Second):
		t.Fatal("the disabled account is still connected a second later")
	}
	if _, err := dial(t, s.Addr, "anna", "anna-password-1"); err == nil {
		t.Fatal("a disabled account logged in")
	}
	if l, _ := staffList(t, a); !l["anna"].Disabled {
		t.Fatalf("anna: %+v, want disabled", l["anna"])
	}
	storetest.Fails(t, a.Call(t, proto.ServiceAccounts, "staff_disable", `{"account":"admin-1"}`), proto.CodeBadRequest, "")
	storetest.Fails(t, a.Call(t, proto.ServiceAccounts, "staff_disable", `{"account":"nobody"}`), proto.CodeNotFound, "")
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "staff_enable", `{"account":"anna"}`))
	if _, err := dial(t, s.Addr, "anna", "anna-password-1"); err != nil {
		t.Fatalf("enabled again: %v", err)
	}

	storetest.Fails(t, a.Call(t, proto.ServiceAccounts, "staff_reset_password", `{"account":"anna","password":"tiny"}`), proto.CodeBadRequest, "")
	if _, err := dial(t, s.Addr, "anna", "anna-password-1"); err != nil {
		t.Fatalf("a refused reset changed the password: %v", err)
	}
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "staff_reset_password", `{"account":"anna","password":"anna-password-2"}`))
	if _, err := dial(t, s.Addr, "anna", "anna-password-1"); err == nil {
		t.Fatal("the old password works after a reset")
	}
	if _, err := dial(t, s.Addr, "anna", "anna-password-2"); err != nil {
		t.Fatalf("the new password: %v", err)
	}

	// Durable: after a restart the accounts are there as they were left.
	s.Restart()
	if _, err := dial(t, s.Addr, "anna", "anna-password-2"); err != nil {
		t.Fatalf("after a restart: %v", err)
	}

	// Sealed at rest: the stopped store's file holds neither her name, nor
	// her address, nor any password hash in the clear.
	s.Stop()
	db, err := os.ReadFile(filepath.Join(s.Dir, "data", "storeedge.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"Anna Li", "127.0.0.1", "$2a$", "$2b$", "password_hash"} {
		if bytes.Contains(db, []byte(clear)) {
			t.Errorf("the database file holds %q in the clear", clear)
		}
	}
}

// TestRenameMoveAndFirstAdmin: device_update renames and moves a camera
// and validates; HasAdmin and CreateAdmin (first-run setup) make the first
// admin once.
func TestRenameMoveAndFirstAdmin(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{admin}})
	a := s.Connect(t, admin, "console")
	p := addDevice(t, a, "camera", "Cam 1", "room-1")
	storetest.OK(t, a.Call(t, proto.ServiceAccounts, "device_update", fmt.Sprintf(`{"account":%q,"name":"Grooming cam","room":"room-2"}`, p.Account.ID)))
	storetest.Fails(t, a.Call(t, proto.ServiceAccounts, "device_update", fmt.Sprintf(`{"account":%q,"name":""}`, p.Account.ID)), proto.CodeBadRequest, "")
	storetest.Fails(t, a.Call(t, proto.ServiceAccounts, "device_update", fmt.Sprintf(`{"account":%q}`, p.Account.ID)), proto.CodeBadRequest, "")
	storetest.Fails(t, a.Call(t, proto.ServiceAccounts, "device_update", `{"account":"admin-1","name":"x"}`), proto.CodeNotFound, "")
	storetest.Fails(t, a.Call(t, proto.ServiceAccounts, "device_add", `{"role":"admin","name":"x"}`), proto.CodeBadRequest, "")
	if d := deviceList(t, a)[p.Account.ID]; d.Name != "Grooming cam" || d.Room != "room-2" {
		t.Fatalf("%+v: want renamed and moved", d)
	}

	reg := s.Broker().Accounts()
	ctx := context.Background()
	if ok, err := reg.HasAdmin(ctx); err != nil || !ok {
		t.Fatalf("HasAdmin = %v, %v with admin-1 imported", ok, err)
	}
	if err := reg.CreateAdmin(ctx, "owner", "owner-password-1"); err == nil {
		t.Fatal("CreateAdmin with an admin already there")
	}
}

// recorder keeps what the registry tells its Auditor.
type recorder struct {
	mu sync.Mutex
	e  []string
}

func (r *recorder) Audit(_ context.Context, actor, action, target string, before, after any) error {
	b, _ := json.Marshal([]any{before, after})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.e = append(r.e, actor+" "+action+" "+target+" "+string(b))
	return nil
}

// TestAuditAndFirstAdmin: every admin action reaches the Auditor, with
// who, what and before/after but no hash; the first admin is made once.
func TestAuditAndFirstAdmin(t *testing.T) {
	rig := svctest.Start(t, svctest.Options{Path: filepath.Join(t.TempDir(), "s.db")})
	rec := &recorder{}
	ctx := context.Background()
	reg, err := accounts.Open(ctx, accounts.Options{DB: rig.DB, Hook: rig.Auth, Auditor: rec, Log: rig.Log})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := reg.HasAdmin(ctx); err != nil || ok {
		t.Fatalf("HasAdmin on an empty registry = %v, %v", ok, err)
	}
	if err := reg.CreateAdmin(ctx, "owner", "short"); err == nil {
		t.Fatal("a short first password was taken")
	}
	if err := reg.CreateAdmin(ctx, "owner", "owner-password-1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := reg.HasAdmin(ctx); !ok {
		t.Fatal("HasAdmin after CreateAdmin = false")
	}
	if err := reg.CreateAdmin(ctx, "second", "second-password-1"); err == nil {
		t.Fatal("a second first admin")
	}
	if _, err := reg.AddStaff(ctx, "owner", "anna", "Anna", "staff", "anna-password-1"); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetPassword(ctx, "owner", "anna", "anna-password-2"); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetDisabled(ctx, "owner", "anna", true); err != nil {
		t.Fatal(err)
	}
	e, _, err := reg.AddDevice(ctx, "owner", "kiosk", "Front", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Revoke(ctx, "owner", e.ID); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"setup accounts.staff_add owner",
		"owner accounts.staff_add anna",
		"owner accounts.staff_reset_password anna",
		"owner accounts.staff_disable anna",
		"owner accounts.device_add " + e.ID,
		"owner accounts.device_revoke " + e.ID,
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.e) != len(want) {
		t.Fatalf("audited %d actions, want %d:\n%s", len(rec.e), len(want), strings.Join(rec.e, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(rec.e[i], w+" ") {
			t.Errorf("audit %d: %s, want %s …", i, rec.e[i], w)
		}
		if strings.Contains(rec.e[i], "$2") || strings.Contains(rec.e[i], "password-") {
			t.Errorf("audit %d holds a credential: %s", i, rec.e[i])
		}
	}
	if !strings.Contains(rec.e[3], `"disabled":false`) || !strings.Contains(rec.e[3], `"disabled":true`) {
		t.Errorf("disable: %s, want before and after", rec.e[3])
	}
}
