package svc

import (
	"context"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/proto"
)

// TestHandleService checks that a service registers exactly the ops
// proto.Ops lists for it, mutating where proto says so, and that a handler
// for an op the wire contract does not have, or an op without a handler,
// is refused.
func TestHandleService(t *testing.T) {
	h := func(context.Context, *Request) (any, error) { return nil, nil }
	all := func() map[string]Handler {
		m := map[string]Handler{}
		for _, o := range proto.ServiceOps(proto.ServiceMedia) {
			m[o.Name] = h
		}
		return m
	}
	r := &Router{ops: map[string]*op{}}
	if err := r.HandleService(proto.ServiceMedia, all(), map[string][]OpOption{"get": {Roles("staff")}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range proto.ServiceOps(proto.ServiceMedia) {
		got := r.lookup(o.Service, o.Name)
		if got == nil || got.mutating != o.Mutating {
			t.Fatalf("%s: registered %+v, proto says mutating %v", o.Topic(), got, o.Mutating)
		}
	}
	if got := r.lookup(proto.ServiceMedia, "get"); len(got.roles) != 1 || got.roles[0] != "staff" {
		t.Fatalf("get's roles: %v", got.roles)
	}

	extra := all()
	extra["shred"] = h
	if err := (&Router{ops: map[string]*op{}}).HandleService(proto.ServiceMedia, extra, nil); err == nil || !strings.Contains(err.Error(), "media/shred") {
		t.Fatalf("a handler for an op proto does not list: %v", err)
	}
	missing := all()
	delete(missing, "chunk")
	partial := &Router{ops: map[string]*op{}}
	if err := partial.HandleService(proto.ServiceMedia, missing, nil); err == nil || !strings.Contains(err.Error(), "chunk") {
		t.Fatalf("an op without a handler: %v", err)
	}
	if len(partial.ops) != 0 {
		t.Fatalf("a refused service registered %d ops", len(partial.ops))
	}
	if err := (&Router{ops: map[string]*op{}}).HandleService(proto.ServiceMedia, all(), map[string][]OpOption{"shred": {Roles("staff")}}); err == nil {
		t.Fatal("options for an op proto does not list were accepted")
	}
}
