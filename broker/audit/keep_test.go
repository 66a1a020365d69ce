package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/testkit/svctest"
	"github.com/storeedge/storeedge/proto"
)

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "store.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func listAs(t *testing.T, l *Log, role, body string) (proto.AuditPage, error) {
	t.Helper()
	ans, err := l.list(context.Background(), &svc.Request{Service: proto.ServiceAdmin, Op: proto.OpAuditList, ID: "r1", V: 1,
		Body: json.RawMessage(body), From: auth.Identity{Device: "someone", Role: role}})
	if err != nil {
		return proto.AuditPage{}, err
	}
	return ans.(proto.AuditPage), nil
}

// The log keeps the newest Keep entries: older ones go, and the list says
// how many went. A bad entry is refused and stores nothing.
func TestKeepsTheNewest(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	l, err := New(Options{DB: openDB(t), Seal: svctest.Keys(t), Keep: 3, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		now = now.Add(time.Minute)
		if err := l.Audit(ctx, "admin-1", "test.step", fmt.Sprintf("t%d", i), nil, map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []struct{ actor, action, target string }{{"", "x", ""}, {"a", "", ""}, {"a", "x", "line\nbreak"}} {
		if err := l.Audit(ctx, bad.actor, bad.action, bad.target, nil, nil); !errors.Is(err, ErrInput) {
			t.Errorf("Audit(%q, %q, %q) = %v, want ErrInput", bad.actor, bad.action, bad.target, err)
		}
	}
	if err := l.Audit(ctx, "a", "x", "", nil, func() {}); !errors.Is(err, ErrInput) {
		t.Errorf("a value that does not encode: %v", err)
	}
	p, err := listAs(t, l, "admin", `{"id":"r1","v":1}`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range p.Entries {
		got = append(got, fmt.Sprintf("%d:%s:%s", e.Seq, e.Target, e.After))
	}
	if want := `[5:t5:{"n":5} 4:t4:{"n":4} 3:t3:{"n":3}]`; fmt.Sprint(got) != want || p.Kept != 3 || p.Dropped != 2 || p.More {
		t.Fatalf("after 5 entries with keep 3: %v kept %d dropped %d more %v; want %s, 3, 2", got, p.Kept, p.Dropped, p.More, want)
	}
	if !p.Entries[0].TS.Equal(now) {
		t.Errorf("ts %v, want the store's clock %v", p.Entries[0].TS, now)
	}
	if _, err := listAs(t, l, "staff", `{"id":"r1","v":1}`); err == nil {
		t.Fatal("staff listed the log")
	}
	if _, err := listAs(t, l, "admin", `{"id":"r1","v":1,"limit":500}`); err == nil {
		t.Fatal("a limit over 200 was taken")
	}
}
