package svc

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

type sent struct {
	topic         string
	corr, payload []byte
}

// fuzzRouter is a router whose decode and route path is driven directly,
// with answers captured instead of published.
func fuzzRouter(t testing.TB) (*Router, *[]sent) {
	t.Helper()
	srv := mqtttest.NewServer(mqtttest.Options{InlineClient: true})
	db, err := store.Open(store.Options{Path: filepath.Join(t.TempDir(), "fuzz.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	r, err := New(Options{
		Server: srv, DB: db, MaxRequestBytes: 512,
		Identify: func(cl *mqtt.Client) (auth.Identity, bool) {
			return auth.Identity{Device: "kiosk-01", Role: "kiosk", ClientID: cl.ID}, cl.ID != "stranger"
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	out := &[]sent{}
	r.publish = func(topic string, corr, payload []byte) error {
		*out = append(*out, sent{topic, corr, payload})
		return nil
	}
	mustHandle(t, r, "booking", "echo", echo)
	mustHandle(t, r, "booking", "create", echo, Mutating())
	mustHandle(t, r, "booking", "staff", echo, Roles("staff"))
	if err := r.initBuckets(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r, out
}

// FuzzRouter feeds arbitrary topics, payloads and reply addresses into the
// decode and route path: it must not panic, must publish at most one answer,
// only on the requester's own reply/ topic, exactly one when the Response
// Topic is valid, and every answer must be a well-formed envelope.
func FuzzRouter(f *testing.F) {
	seeds := []struct {
		topic, payload, resp string
	}{
		{"svc/booking/echo", `{"id":"a-1","v":1,"text":"hi"}`, "reply/kiosk-01/r"},
		{"svc/booking/create", `{"id":"a-2","v":1,"text":"hi"}`, "reply/kiosk-01"},
		{"svc/booking/staff", `{"id":"a-3","v":1}`, "reply/kiosk-01/x"},
		{"svc/booking/echo", `{"id":"a-4","v":1,"reply_to":"reply/kiosk-01/y"}`, ""},
		{"svc/booking/echo", `{"id":"a-5","v":1,"reply_to":"reply/other"}`, ""},
		{"svc/booking/echo", `{"id":"a-6","v":1,"text":7}`, "reply/kiosk-01/r"},
		{"svc/booking/nope", `{"id":"a-7","v":1}`, "reply/kiosk-01/r"},
		{"svc/booking/echo", `{"id":"a-8","v":2}`, "reply/kiosk-01/r"},
		{"svc/booking/echo", `not json`, "reply/kiosk-01/r"},
		{"svc/booking/echo", `{"id":"a-9","id":"b","v":1}`, "reply/kiosk-01/r"},
		{"svc", `{}`, "reply/kiosk-01/r"},
		{"svc/booking/echo", `{"id":"\u00e9","v":1}`, "reply/kiosk-01/r"},
	}
	for i, s := range seeds {
		f.Add(s.topic, []byte(s.payload), s.resp, []byte("c"), "kiosk-01", i%3 == 0, i%5 == 0)
	}
	r, out := fuzzRouter(f)
	f.Fuzz(func(t *testing.T, topic string, payload []byte, resp string, corr []byte, clientID string, retained, busy bool) {
		*out = (*out)[:0]
		j := &job{topic: topic, payload: payload, respTopic: resp, corr: corr, retained: retained, clientID: clientID,
			client: r.o.Server.NewClient(nil, "t", clientID, false)}
		r.serve(context.Background(), j, busy)
		answers := *out
		if len(answers) > 1 {
			t.Fatalf("%d answers", len(answers))
		}
		if resp != "" && validReplyTopic(resp, clientID) != (len(answers) == 1) {
			t.Fatalf("response topic %q valid=%v but %d answers", resp, validReplyTopic(resp, clientID), len(answers))
		}
		if len(answers) == 0 {
			return
		}
		a := answers[0]
		if !validReplyTopic(a.topic, clientID) {
			t.Fatalf("answer published on %q for client %q", a.topic, clientID)
		}
		if resp != "" && (a.topic != resp || string(a.corr) != string(corr)) {
			t.Fatalf("answer on %q corr %q; want %q %q", a.topic, a.corr, resp, corr)
		}
		checkEnvelope(t, a.payload)
	})
}

func checkEnvelope(t *testing.T, b []byte) {
	t.Helper()
	var env struct {
		V     *int             `json:"v"`
		ID    *string          `json:"id"`
		OK    *bool            `json:"ok"`
		Error *json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, b)
	}
	if env.V == nil || *env.V != 1 || env.ID == nil || env.OK == nil {
		t.Fatalf("answer envelope incomplete: %s", b)
	}
	if *env.ID != "" && !validID(*env.ID) {
		t.Fatalf("answer id %q invalid", *env.ID)
	}
	if *env.OK {
		if env.Error != nil {
			t.Fatalf("ok answer with an error: %s", b)
		}
		return
	}
	var e Error
	if env.Error == nil || json.Unmarshal(*env.Error, &e) != nil || !validCode(e.Code) || e.Message == "" {
		t.Fatalf("error answer malformed: %s", b)
	}
}
