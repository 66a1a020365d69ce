package svc

import (
	"context"
	"path/filepath"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

func TestNewAndHandleValidate(t *testing.T) {
	srv := mqtttest.NewServer(mqtttest.Options{InlineClient: true})
	noInline := mqtttest.NewServer(mqtttest.Options{})
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id := func(*mqtt.Client) (auth.Identity, bool) { return auth.Identity{}, false }
	for name, o := range map[string]Options{
		"no server":    {DB: db, Identify: id},
		"no inline":    {Server: noInline, DB: db, Identify: id},
		"no db":        {Server: srv, Identify: id},
		"no identify":  {Server: srv, DB: db},
		"negative ttl": {Server: srv, DB: db, Identify: id, AnswerTTL: -1},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	r, err := New(Options{Server: srv, DB: db, Identify: id})
	if err != nil {
		t.Fatal(err)
	}
	if r.o.Workers != DefaultWorkers || r.o.QueueSize != DefaultQueueSize || r.o.MaxRequestBytes != 64<<10 ||
		r.o.AnswerTTL != DefaultAnswerTTL || r.o.SweepInterval != DefaultSweepInterval || r.o.HandlerTimeout != DefaultHandlerTimeout {
		t.Fatalf("defaults %+v", r.o)
	}
	for _, bad := range [][2]string{{"", "x"}, {"chat", ""}, {"chat/x", "send"}, {"chat", "se+nd"}, {"chat", "a:b"}} {
		if err := r.Handle(bad[0], bad[1], echo); err == nil {
			t.Errorf("Handle(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if err := r.Handle("chat", "send", nil); err == nil {
		t.Error("nil handler accepted")
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	r.Stop()
	r.Stop() // idempotent
}
