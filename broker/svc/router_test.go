package svc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"
)

// answer is a decoded answer.
type answer struct {
	V     int    `json:"v"`
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	Error *Error `json:"error"`
	Echo  string `json:"echo"`
	From  string `json:"from"`
	N     int64  `json:"n"`
}

func decodeAnswer(t testing.TB, m *paho.Publish) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(m.Payload, &a); err != nil {
		t.Fatalf("answer on %s is not JSON: %v: %s", m.Topic, err, m.Payload)
	}
	if a.V != 1 {
		t.Fatalf("answer without v=1: %s", m.Payload)
	}
	return a
}

// echo answers the request's "text" and who sent it.
func echo(_ context.Context, req *Request) (any, error) {
	var body struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return nil, Errorf(CodeBadRequest, "text: %v", err)
	}
	return map[string]string{"echo": body.Text, "from": req.From.Device + "/" + req.From.Role}, nil
}

func TestRequestAnswerMQTT5(t *testing.T) {
	var got *Request
	var mu sync.Mutex
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "echo", func(ctx context.Context, req *Request) (any, error) {
			mu.Lock()
			got = req
			mu.Unlock()
			return echo(ctx, req)
		})
	}})
	c := e.connect(t, connOpts{dev: kiosk, clientID: "kiosk-01:screen"})
	c.request(t, "svc/booking/echo", `{"id":"01J9ZQ3W5Y0000000000000000","v":1,"text":"bath for Bella"}`, "corr-1")
	m := c.next(t)
	if m.Topic != "reply/kiosk-01:screen/r" || m.QoS != 1 {
		t.Fatalf("answer on %s QoS %d", m.Topic, m.QoS)
	}
	if m.Properties == nil || string(m.Properties.CorrelationData) != "corr-1" || m.Properties.ContentType != "application/json" {
		t.Fatalf("answer properties %+v", m.Properties)
	}
	want := `{"v":1,"id":"01J9ZQ3W5Y0000000000000000","ok":true,"echo":"bath for Bella","from":"kiosk-01/kiosk"}`
	if string(m.Payload) != want {
		t.Fatalf("answer\n got %s\nwant %s", m.Payload, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.Service != "booking" || got.Op != "echo" || got.ID != "01J9ZQ3W5Y0000000000000000" || got.V != 1 ||
		got.From.ClientID != "kiosk-01:screen" || got.From.Device != "kiosk-01" || got.Received.IsZero() {
		t.Fatalf("request %+v", got)
	}
}

// TestBadInput: every malformed request gets its code, the handler is not
// called and nothing is stored.
func TestBadInput(t *testing.T) {
	var calls atomic.Int64
	e := startEnv(t, envCfg{opts: Options{MaxRequestBytes: 1024}, setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(context.Context, *Request) (any, error) {
			calls.Add(1)
			return nil, nil
		}, Mutating())
	}})
	c := e.connect(t, connOpts{dev: kiosk})
	big := `{"id":"big-1","v":1,"note":"` + strings.Repeat("x", 1100) + `"}`
	cases := []struct {
		name, topic, payload, code, id string
	}{
		{"not json", "svc/booking/create", `hello`, CodeBadRequest, ""},
		{"empty", "svc/booking/create", ``, CodeBadRequest, ""},
		{"array", "svc/booking/create", `[{"id":"a","v":1}]`, CodeBadRequest, ""},
		{"string", "svc/booking/create", `"x"`, CodeBadRequest, ""},
		{"truncated", "svc/booking/create", `{"id":"t-1","v":1`, CodeBadRequest, "t-1"},
		{"trailing data", "svc/booking/create", `{"id":"t-2","v":1} {}`, CodeBadRequest, "t-2"},
		{"missing id", "svc/booking/create", `{"v":1}`, CodeBadRequest, ""},
		{"numeric id", "svc/booking/create", `{"id":7,"v":1}`, CodeBadRequest, ""},
		{"empty id", "svc/booking/create", `{"id":"","v":1}`, CodeBadRequest, ""},
		{"id with space", "svc/booking/create", `{"id":"a b","v":1}`, CodeBadRequest, ""},
		{"id too long", "svc/booking/create", `{"id":"` + strings.Repeat("a", 65) + `","v":1}`, CodeBadRequest, ""},
		{"duplicate id", "svc/booking/create", `{"id":"d-1","id":"d-2","v":1}`, CodeBadRequest, "d-1"},
		{"missing v", "svc/booking/create", `{"id":"v-1"}`, CodeBadRequest, "v-1"},
		{"v 2", "svc/booking/create", `{"id":"v-2","v":2}`, CodeBadRequest, "v-2"},
		{"v string", "svc/booking/create", `{"id":"v-3","v":"1"}`, CodeBadRequest, "v-3"},
		{"v 1.0", "svc/booking/create", `{"id":"v-4","v":1.0}`, CodeBadRequest, "v-4"},
		{"unknown op", "svc/booking/nope", `{"id":"n-1","v":1}`, CodeNotFound, "n-1"},
		{"service only", "svc/booking", `{"id":"n-2","v":1}`, CodeNotFound, "n-2"},
		{"too deep", "svc/booking/create/x", `{"id":"n-3","v":1}`, CodeNotFound, "n-3"},
		{"too large", "svc/booking/create", big, CodeTooLarge, "big-1"},
	}
	for i, tc := range cases {
		corr := fmt.Sprint("c", i)
		c.request(t, tc.topic, tc.payload, corr)
		m := c.next(t)
		a := decodeAnswer(t, m)
		if a.OK || a.Error == nil || a.Error.Code != tc.code || a.ID != tc.id || a.Error.Message == "" {
			t.Errorf("%s: answer %s; want code %s id %q", tc.name, m.Payload, tc.code, tc.id)
		}
		if got := string(m.Properties.CorrelationData); got != corr {
			t.Errorf("%s: correlation data %q, want %q", tc.name, got, corr)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler called %d times", n)
	}
	if n := storedAnswers(t, e); n != 0 {
		t.Fatalf("%d answers stored", n)
	}
}

func storedAnswers(t testing.TB, e *testEnv) int {
	t.Helper()
	n := 0
	if err := e.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketAnswers).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetainedRequestRefused: a retained request (only admin may retain on
// svc/) is answered bad_request and not replayed when the router restarts.
func TestRetainedRequestRefused(t *testing.T) {
	var calls atomic.Int64
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(context.Context, *Request) (any, error) {
			calls.Add(1)
			return nil, nil
		})
	}})
	c := e.connect(t, connOpts{dev: owner})
	ctx, cancel := context.WithTimeout(context.Background(), 10e9)
	defer cancel()
	if _, err := c.c.Publish(ctx, &paho.Publish{Topic: "svc/booking/create", QoS: 1, Retain: true,
		Payload:    []byte(`{"id":"r-1","v":1}`),
		Properties: &paho.PublishProperties{ResponseTopic: "reply/owner/r"}}); err != nil {
		t.Fatal(err)
	}
	if a := decodeAnswer(t, c.next(t)); a.OK || a.Error.Code != CodeBadRequest {
		t.Fatalf("answer %+v", a)
	}
	// A second router subscribing now sees the retained request replayed by
	// mochi and must ignore it.
	r2, err := New(Options{Server: e.srv, DB: e.db, Identify: e.auth.Identity, Log: e.router.log})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Handle("booking", "create", func(context.Context, *Request) (any, error) {
		calls.Add(1)
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := r2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r2.Stop()
	if s := r2.Stats(); s.Requests != 0 {
		t.Fatalf("replayed retained request was served: %+v", s)
	}
	if calls.Load() != 0 {
		t.Fatal("handler called")
	}
	c.none(t)
}

func TestDuplicateRequestGetsFirstAnswer(t *testing.T) {
	var calls atomic.Int64
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(_ context.Context, req *Request) (any, error) {
			return map[string]int64{"n": calls.Add(1)}, nil
		}, Mutating())
		mustHandle(t, r, "booking", "list", func(_ context.Context, req *Request) (any, error) {
			return map[string]int64{"n": calls.Add(1)}, nil
		})
	}})
	k := e.connect(t, connOpts{dev: kiosk, clientID: "kiosk-01:a"})
	k.request(t, "svc/booking/create", `{"id":"b-1","v":1,"slot":"tue-15"}`, "first")
	first := k.next(t)
	k.request(t, "svc/booking/create", `{"id":"b-1","v":1,"slot":"tue-15"}`, "second")
	second := k.next(t)
	if !bytes.Equal(first.Payload, second.Payload) {
		t.Fatalf("repeat answered differently:\n%s\n%s", first.Payload, second.Payload)
	}
	if string(second.Properties.CorrelationData) != "second" {
		t.Fatalf("repeat correlation data %q", second.Properties.CorrelationData)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler called %d times", calls.Load())
	}
	// The same device on its second connection: the same request.
	k2 := e.connect(t, connOpts{dev: kiosk, clientID: "kiosk-01:b"})
	k2.request(t, "svc/booking/create", `{"id":"b-1","v":1,"slot":"tue-15"}`, "")
	if m := k2.next(t); !bytes.Equal(m.Payload, first.Payload) {
		t.Fatalf("other connection of the device: %s", m.Payload)
	}
	// Another id, and the same id from another device, are new requests.
	k.request(t, "svc/booking/create", `{"id":"b-2","v":1}`, "")
	if a := decodeAnswer(t, k.next(t)); a.N != 2 {
		t.Fatalf("new id: %+v", a)
	}
	s := e.connect(t, connOpts{dev: staff})
	s.request(t, "svc/booking/create", `{"id":"b-1","v":1}`, "")
	if a := decodeAnswer(t, s.next(t)); a.N != 3 {
		t.Fatalf("other device, same id: %+v", a)
	}
	// Read-only ops are not remembered.
	k.request(t, "svc/booking/list", `{"id":"l-1","v":1}`, "")
	k.request(t, "svc/booking/list", `{"id":"l-1","v":1}`, "")
	k.next(t)
	k.next(t)
	if calls.Load() != 5 {
		t.Fatalf("read-only op called %d times in all, want 5", calls.Load())
	}
	if n := storedAnswers(t, e); n != 3 {
		t.Fatalf("%d answers stored, want 3", n)
	}
}

// TestConcurrentDuplicatesWaitForTheFirst: duplicates that arrive while the
// first is running get its answer; the handler runs once.
func TestConcurrentDuplicatesWaitForTheFirst(t *testing.T) {
	var calls atomic.Int64
	started, release := make(chan struct{}, 8), make(chan struct{})
	e := startEnv(t, envCfg{opts: Options{Workers: 4}, setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(_ context.Context, req *Request) (any, error) {
			started <- struct{}{}
			<-release
			return map[string]int64{"n": calls.Add(1)}, nil
		}, Mutating())
	}})
	a := e.connect(t, connOpts{dev: kiosk, clientID: "kiosk-01:a"})
	b := e.connect(t, connOpts{dev: kiosk, clientID: "kiosk-01:b"})
	const req = `{"id":"dup-1","v":1}`
	a.request(t, "svc/booking/create", req, "a1")
	<-started
	a.request(t, "svc/booking/create", req, "a2")
	b.request(t, "svc/booking/create", req, "b1")
	b.request(t, "svc/booking/create", req, "b2")
	poll(t, "3 duplicates waiting", func() bool { return e.router.Stats().Duplicates == 3 })
	close(release)
	var payloads []string
	corrs := map[string]bool{}
	for _, c := range []*client{a, a, b, b} {
		m := c.next(t)
		payloads = append(payloads, string(m.Payload))
		corrs[string(m.Properties.CorrelationData)] = true
	}
	for _, p := range payloads[1:] {
		if p != payloads[0] {
			t.Fatalf("answers differ: %q", payloads)
		}
	}
	if len(corrs) != 4 || calls.Load() != 1 {
		t.Fatalf("correlation data %v, handler calls %d", corrs, calls.Load())
	}
}

// TestTransientAnswersNotRemembered: unavailable and quota_exceeded are not
// kept, so the retry runs the handler; other errors are kept.
func TestTransientAnswersNotRemembered(t *testing.T) {
	var calls atomic.Int64
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(_ context.Context, req *Request) (any, error) {
			switch calls.Add(1) {
			case 1:
				return nil, Errorf(CodeQuotaExceeded, "disk full")
			case 2:
				return nil, errors.New("database on fire")
			default:
				return nil, Errorf(CodeConflict, "slot taken")
			}
		}, Mutating())
	}})
	c := e.connect(t, connOpts{dev: kiosk})
	want := []string{CodeQuotaExceeded, CodeUnavailable, CodeConflict, CodeConflict}
	for i, code := range want {
		c.request(t, "svc/booking/create", `{"id":"q-1","v":1}`, "")
		a := decodeAnswer(t, c.next(t))
		if a.OK || a.Error.Code != code {
			t.Fatalf("attempt %d: %+v, want %s", i+1, a.Error, code)
		}
		if code == CodeUnavailable && strings.Contains(a.Error.Message, "fire") {
			t.Fatalf("internal error leaked: %q", a.Error.Message)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("handler called %d times, want 3", calls.Load())
	}
}

func TestHandlerFailuresAnswerUnavailable(t *testing.T) {
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "panic", func(context.Context, *Request) (any, error) { panic("boom") })
		mustHandle(t, r, "booking", "array", func(context.Context, *Request) (any, error) { return []int{1}, nil })
		mustHandle(t, r, "booking", "shadow", func(context.Context, *Request) (any, error) {
			return map[string]bool{"ok": false}, nil
		})
		mustHandle(t, r, "booking", "wrapped", func(context.Context, *Request) (any, error) {
			return nil, fmt.Errorf("booking: %w", Errorf(CodeNotFound, "no booking b-9"))
		})
	}})
	c := e.connect(t, connOpts{dev: kiosk})
	for _, tc := range []struct{ op, code string }{
		{"panic", CodeUnavailable}, {"array", CodeUnavailable}, {"shadow", CodeUnavailable}, {"wrapped", CodeNotFound},
	} {
		c.request(t, "svc/booking/"+tc.op, `{"id":"h-1","v":1}`, "")
		if a := decodeAnswer(t, c.next(t)); a.OK || a.Error.Code != tc.code {
			t.Fatalf("%s: %+v", tc.op, a)
		}
	}
	if n := e.router.Stats().HandlerErrors; n != 3 {
		t.Fatalf("HandlerErrors = %d, want 3", n)
	}
}

func TestRolesForbidden(t *testing.T) {
	var calls atomic.Int64
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "progress", func(context.Context, *Request) (any, error) {
			calls.Add(1)
			return nil, nil
		}, Roles("staff", "admin"), Mutating())
	}})
	k := e.connect(t, connOpts{dev: kiosk})
	k.request(t, "svc/booking/progress", `{"id":"p-1","v":1,"step":"drying"}`, "")
	if a := decodeAnswer(t, k.next(t)); a.OK || a.Error.Code != CodeForbidden || a.ID != "p-1" {
		t.Fatalf("kiosk: %+v", a)
	}
	s := e.connect(t, connOpts{dev: staff, clientID: "staff-anna:console-2"})
	s.request(t, "svc/booking/progress", `{"id":"p-1","v":1,"step":"drying"}`, "")
	if a := decodeAnswer(t, s.next(t)); !a.OK {
		t.Fatalf("staff: %+v", a)
	}
	if calls.Load() != 1 || storedAnswers(t, e) != 1 {
		t.Fatalf("calls %d, stored %d", calls.Load(), storedAnswers(t, e))
	}
}

// TestForeignReplyAddressDropped: a client cannot make the broker publish on
// another client's topic; such requests are neither answered nor handled.
func TestForeignReplyAddressDropped(t *testing.T) {
	var calls atomic.Int64
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(context.Context, *Request) (any, error) {
			calls.Add(1)
			return nil, nil
		}, Mutating())
	}})
	victim := e.connect(t, connOpts{dev: staff})
	k := e.connect(t, connOpts{dev: kiosk})
	bad := []string{"reply/staff-anna/x", "reply/staff-anna", "reply/kiosk-01x/r", "reply/kiosk-01:evil", "devices/kiosk-01/status", "reply", "reply/"}
	for i, rt := range bad {
		k.publish(t, "svc/booking/create", fmt.Sprintf(`{"id":"x-%d","v":1}`, i), rt, "")
	}
	// reply_to (the MQTT 3.1.1 way) is checked the same way.
	k.publish(t, "svc/booking/create", `{"id":"x-9","v":1,"reply_to":"reply/staff-anna/x"}`, "", "")
	k.publish(t, "svc/booking/create", `{"id":"x-10","v":1,"reply_to":7}`, "", "")
	n := uint64(len(bad) + 2)
	poll(t, "bad reply addresses counted", func() bool { return e.router.Stats().BadReplyTo == n })
	victim.none(t)
	k.none(t)
	if calls.Load() != 0 || storedAnswers(t, e) != 0 {
		t.Fatalf("handled: calls %d, stored %d", calls.Load(), storedAnswers(t, e))
	}
	if s := e.router.Stats(); s.Answered != 0 {
		t.Fatalf("answered: %+v", s)
	}
}

// TestNoReplyAddress: a request without one is handled; nothing is published.
func TestNoReplyAddress(t *testing.T) {
	var calls atomic.Int64
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", func(context.Context, *Request) (any, error) {
			calls.Add(1)
			return nil, nil
		}, Mutating())
	}})
	k := e.connect(t, connOpts{dev: kiosk})
	k.publish(t, "svc/booking/create", `{"id":"n-1","v":1}`, "", "")
	poll(t, "handled", func() bool { return storedAnswers(t, e) == 1 })
	if calls.Load() != 1 || e.router.Stats().Answered != 0 {
		t.Fatalf("calls %d, stats %+v", calls.Load(), e.router.Stats())
	}
	k.none(t)
}

// TestQueueFullAnswersUnavailable: with the one worker busy and its queue
// full, the next request is answered unavailable at once.
func TestQueueFullAnswersUnavailable(t *testing.T) {
	started, release := make(chan struct{}, 4), make(chan struct{})
	e := startEnv(t, envCfg{opts: Options{Workers: 1, QueueSize: 1}, setup: func(r *Router) {
		mustHandle(t, r, "booking", "slow", func(_ context.Context, req *Request) (any, error) {
			started <- struct{}{}
			<-release
			return map[string]string{"echo": req.ID}, nil
		})
	}})
	k := e.connect(t, connOpts{dev: kiosk})
	k.request(t, "svc/booking/slow", `{"id":"s-1","v":1}`, "")
	<-started                                                  // the worker is busy
	k.request(t, "svc/booking/slow", `{"id":"s-2","v":1}`, "") // fills the queue
	k.request(t, "svc/booking/slow", `{"id":"s-3","v":1}`, "") // no room
	a := decodeAnswer(t, k.next(t))
	if a.OK || a.ID != "s-3" || a.Error.Code != CodeUnavailable {
		t.Fatalf("overflow answer %+v", a)
	}
	close(release)
	for _, id := range []string{"s-1", "s-2"} {
		if a := decodeAnswer(t, k.next(t)); !a.OK || a.Echo != id {
			t.Fatalf("want %s answered ok, got %+v", id, a)
		}
	}
	// The counter moves just after the answer is handed to the broker.
	poll(t, "3 answers counted", func() bool { return e.router.Stats().Answered == 3 })
	if s := e.router.Stats(); s.Overloaded != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestEmit(t *testing.T) {
	e := startEnv(t, envCfg{})
	s := e.connect(t, connOpts{dev: staff})
	ctx, cancel := context.WithTimeout(context.Background(), 10e9)
	defer cancel()
	if _, err := s.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "booking/events", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.router.Emit("booking/events", map[string]any{"v": 1, "type": "created", "booking": "b-1"}); err != nil {
		t.Fatal(err)
	}
	m := s.next(t)
	if m.Topic != "booking/events" || m.QoS != 1 || m.Properties.ContentType != "application/json" ||
		string(m.Payload) != `{"booking":"b-1","type":"created","v":1}` {
		t.Fatalf("event %s QoS %d %+v %s", m.Topic, m.QoS, m.Properties, m.Payload)
	}
	for _, bad := range []string{"", "svc/booking/create", "reply/staff-anna/x", "$SYS/x", "booking/+"} {
		if err := e.router.Emit(bad, 1); err == nil {
			t.Errorf("Emit(%q) allowed", bad)
		}
	}
	if err := e.router.Emit("booking/events", func() {}); err == nil {
		t.Error("Emit of an unmarshalable value succeeded")
	}
}
