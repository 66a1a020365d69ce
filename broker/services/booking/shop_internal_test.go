package booking

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/proto"
)

// auditLog keeps what the Desk reports, as the store's audit log would.
type auditLog struct {
	mu      sync.Mutex
	entries []auditEntry
}

type auditEntry struct {
	actor, action, target string
	before, after         any
}

func (l *auditLog) Audit(_ context.Context, actor, action, target string, before, after any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, auditEntry{actor, action, target, before, after})
	return nil
}

// starter is a small pet shop's catalogue, as first-run setup installs it:
// no hours of its own (the store's stay).
const starter = `
resources:
  - {id: table-a, kind: table, name: {zh: 美容台, en: Table}}
services:
  - id: wash
    name: {zh: 洗澡, en: Wash}
    category: pet
    duration: 45m
    price: 6800
    currency: CNY
    needs: [{kind: table}]
`

// Every admin change reaches the Auditor once durable, with who, what and
// the state before and after; ReplaceCatalog installs a starter catalogue
// (and a broken one changes nothing).
func TestAdminChangesAudited(t *testing.T) {
	ctx := context.Background()
	d := newDeskRig(t)
	log := &auditLog{}
	d.o.Auditor = log
	if err := d.OpenShop(ctx); err != nil {
		t.Fatal(err)
	}
	admin := auth.Identity{Device: "admin-wu", Role: "admin"}
	got := deskMust(t, d, d.catalogGet, "catalog_get", "g1", admin, `{}`).(*proto.CatalogAnswer)
	_ = deskMust(t, d, d.catalogSet, "catalog_set", "s1", admin, `{"version":1,"catalog":{"hours":{"mon":["10:00-18:00"]},"resources":[{"id":"t","kind":"table","name":{"zh":"台","en":"Table"}}],"services":[{"id":"trim","name":{"zh":"修剪","en":"Trim"},"category":"pet","minutes":30,"price":100,"currency":"CNY","needs":[{"kind":"table"}]}]},"confirm":true}`)
	_ = deskMust(t, d, d.closureAdd, "closure_add", "c1", admin, `{"date":"2026-12-01","reason":{"zh":"休息","en":"Day off"}}`)
	if err := d.ReplaceCatalog(ctx, []byte("services: [{id: x}]")); err == nil || !strings.Contains(err.Error(), "services[0] (x)") {
		t.Fatalf("a broken starter: %v", err)
	}
	if _, ok := d.cat().Service("trim"); !ok {
		t.Fatal("a broken starter changed the catalogue")
	}
	if err := d.ReplaceCatalog(ctx, []byte(starter)); err != nil {
		t.Fatal(err)
	}
	if s, ok := d.cat().Service("wash"); !ok || s.Price != 6800 || len(d.cat().Services) != 1 {
		t.Fatalf("the starter catalogue is not in force: %+v", d.cat().Services)
	}
	if ivs := d.cat().Hours.Intervals(2026, 11, 30); len(ivs) != 1 || ivs[0].Open.Hour() != 10 {
		t.Fatalf("the starter replaced the store's hours: %+v", ivs)
	}
	if _, closed := d.shop.Load().closureOn(20261201); !closed || len(d.shop.Load().closures) != 2 { // the added one and Spring Festival 2027 (2026's passed)
		t.Fatalf("the starter dropped or doubled the closures: %+v", d.shop.Load().closures)
	}

	want := []struct{ actor, action, target string }{
		{"admin-wu", AuditCatalogSet, "catalog"},
		{"admin-wu", AuditClosureAdd, "closure/"},
		{"setup", AuditCatalogReplace, "catalog"},
	}
	if len(log.entries) != len(want) {
		t.Fatalf("audit entries: %+v", log.entries)
	}
	for i, w := range want {
		e := log.entries[i]
		if e.actor != w.actor || e.action != w.action || !strings.HasPrefix(e.target, w.target) || e.after == nil {
			t.Errorf("entry %d: %+v, want %+v", i, e, w)
		}
	}
	if b := log.entries[0].before.(*proto.CatalogAnswer); b.Version != got.Version || len(b.Catalog.Services) != len(got.Catalog.Services) {
		t.Errorf("the catalogue before: version %d, %d services", b.Version, len(b.Catalog.Services))
	}
	if a := log.entries[0].after.(*proto.CatalogAnswer); a.Version != 2 || a.Catalog.Services[0].ID != "trim" {
		t.Errorf("the catalogue after: %+v", a)
	}
}
