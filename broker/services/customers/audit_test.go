package customers

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/testkit/svctest"
	"github.com/storeedge/storeedge/proto"
)

// entry is one Audit call.
type entry struct {
	Actor, Action, Target string
	Before, After         any
}

// auditLog keeps what Audit was told (the store's audit log is another
// package's; this is the interface's other side).
type auditLog struct {
	mu      sync.Mutex
	entries []entry
}

func (l *auditLog) Audit(_ context.Context, actor, action, target string, before, after any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, entry{actor, action, target, before, after})
	return nil
}

func (l *auditLog) all() []entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]entry(nil), l.entries...)
}

// Staff changes to a card, a revoke and a merge are audited once durable,
// with who, what, on whom, before and after; a refused change is not.
func TestAudit(t *testing.T) {
	rig := svctest.Start(t, svctest.Options{Path: filepath.Join(t.TempDir(), "store.db")})
	router := rig.Route(t, svc.Options{})
	log := &auditLog{}
	s, err := New(Options{DB: rig.DB, Router: router, Seal: svctest.Keys(t), Logins: rig.Customers, Auditor: log, StaffRoles: []string{"staff"}})
	if err != nil {
		t.Fatal(err)
	}
	staff := auth.Identity{Device: "staff-anna", Role: "staff", ClientID: "staff-anna"}
	call := func(h svc.Handler, id, body string, from auth.Identity) (any, error) {
		return h(context.Background(), &svc.Request{Service: ServiceName, ID: id, V: 1, From: from,
			Body: json.RawMessage(svctest.Payload(id, body))})
	}
	a, _ := rig.CustomerLogin(t, "")
	b, _ := rig.CustomerLogin(t, "")
	if _, err := call(s.cardPut, "r1", fmt.Sprintf(`{"customer":%q,"rev":0,"name":"Lin","phone":"","notes":"n","tags":[],"consent":false}`, a), staff); err != nil {
		t.Fatal(err)
	}
	if _, err := call(s.cardPut, "r2", fmt.Sprintf(`{"customer":%q,"rev":0,"name":"Other","phone":"","notes":"","tags":[],"consent":false}`, a), staff); err == nil {
		t.Fatal("a stale card_put was accepted")
	}
	if _, err := call(s.revoke, "r3", fmt.Sprintf(`{"customer":%q}`, b), staff); err != nil {
		t.Fatal(err)
	}
	if _, err := call(s.merge, "r4", fmt.Sprintf(`{"from":%q,"into":%q}`, b, a), staff); err != nil {
		t.Fatal(err)
	}
	// The customer's own changes are hers, not an admin action.
	if _, err := call(s.mePut, "r5", `{"name":"Lin L","phone":"","consent":true}`, auth.Identity{Device: a, Role: "customer", Customer: true}); err != nil {
		t.Fatal(err)
	}
	got := log.all()
	if len(got) != 3 {
		t.Fatalf("%d audit entries, want 3: %+v", len(got), got)
	}
	put := got[0]
	before, _ := put.Before.(proto.CustomerCard)
	after, _ := put.After.(proto.CustomerCard)
	if put.Actor != "staff-anna" || put.Action != "customer.card_put" || put.Target != a || before.Rev != 0 || after.Rev != 1 || after.Name != "Lin" {
		t.Fatalf("card_put entry: %+v", put)
	}
	if got[1].Action != "customer.revoke" || got[1].Target != b || got[2].Action != "customer.merge" || got[2].Target != b+">"+a {
		t.Fatalf("revoke and merge entries: %+v", got[1:])
	}
}
