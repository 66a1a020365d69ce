package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/hq/config"
	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
	"github.com/storeedge/storeedge/proto"
)

// storeedge-hq applies the stores' live answers about free times and
// serves the bookings part of the page at home.
func TestBookPartWired(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	k := make([]byte, seal.KeySize)
	_, _ = rand.Read(k)
	keys, err := seal.ParseKeys("hq1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	dbURL := pgtest.Start(t).NewDB(t)
	rep, err := replica.Open(ctx, dbURL, replica.Options{Keys: keys, Handlers: homePartHandlers(log)})
	if err != nil {
		t.Fatal(err)
	}
	first := rep
	t.Cleanup(func() { closeWithin(t, first, 20*time.Second) })
	payload := `{"v":1,"request":"av-1","ok":true,"service":"dog-groom","slots":[],"ts":"2026-11-23T08:00:00+08:00"}`
	if _, err := rep.Apply(ctx, hq.Message{Store: "s1", Origin: "o-1", Seq: 1, Stored: time.Now(),
		Topic: proto.CloudUpTopic("s1", proto.TopicAvailabilityAnswer), LocalTopic: proto.TopicAvailabilityAnswer, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
	var store string
	if err := rep.Pool().QueryRow(ctx, `SELECT store FROM home_answers WHERE id = 'av-1' AND kind = 'availability'`).Scan(&store); err != nil || store != "s1" {
		t.Fatalf("the live answer at HQ: %q %v", store, err)
	}

	mq := mosquittotest.Start(t, mosquittotest.Options{})
	pub, err := downlink.NewMQTTPublisher(ctx, downlink.MQTTOptions{URL: "mqtt://" + mq.Addr, ClientID: "hq-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close(context.Background()) })
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	// Made without a store state, the live view cannot be made: the
	// parts made before it (the bookings' listener, holding a connection
	// of the replica's pool) are stopped, and the replica closes.
	if _, err := homeParts(ctx, homeDeps{Cfg: cfg, Replica: rep, Keys: keys, Pub: pub, Log: log}); err == nil {
		t.Fatal("the parts made without a store state")
	}
	closeWithin(t, rep, 20*time.Second)
	rep, err = replica.Open(ctx, dbURL, replica.Options{Keys: keys, Handlers: homePartHandlers(log)})
	if err != nil {
		t.Fatal(err)
	}
	second := rep
	t.Cleanup(func() { closeWithin(t, second, 20*time.Second) })

	state := func(_ context.Context, store string) (home.StoreState, error) {
		return home.StoreState{Store: store, Online: true, Open: true}, nil
	}
	parts, err := homeParts(ctx, homeDeps{Cfg: cfg, Replica: rep, Keys: keys, Pub: pub, State: state, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, p := range parts {
		if p.Routes != nil {
			p.Routes.Mount(mux, func(home.HandlerFunc) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) }
			})
		}
	}
	for _, path := range []string{"/home/api/v1/shop", "/home/api/v1/slots", "/home/api/v1/bookings"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without a login: %d, want 401 (the route is not mounted)", path, rec.Code)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for _, p := range parts {
		if p.Stop != nil {
			if err := p.Stop(sctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	closeWithin(t, rep, 20*time.Second)
}

// closeWithin closes the replica, failing when it does not within d (a
// connection of its pool still held).
func closeWithin(t *testing.T, rep *replica.Replica, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { rep.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("the replica did not close within %s: a connection of its pool is still held", d)
	}
}
