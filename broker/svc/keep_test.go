package svc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/internal/seal"
)

// bucketRecords is where the test ops below write what they "create".
var bucketRecords = []byte("test_records")

// keepingOp is a Mutating op that stores one record per request id in its
// own write transaction and keeps its answer there (Request.Keep). fail,
// when set, is called in the transaction after Keep and may fail it; after,
// when set, runs after the commit, before the handler returns.
type keepingOp struct {
	calls atomic.Int64
	fail  func() error
	after func()
}

func (k *keepingOp) handler(db DB) Handler {
	return func(ctx context.Context, req *Request) (any, error) {
		n := k.calls.Add(1)
		res := map[string]int64{"n": n}
		err := db.Update(ctx, func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucketRecords)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(req.ID), binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
				return err
			}
			if err := req.Keep(tx, res); err != nil {
				return err
			}
			if k.fail != nil {
				return k.fail()
			}
			return nil
		})
		if err != nil {
			return nil, FromCommit("test", err)
		}
		if k.after != nil {
			k.after()
		}
		return res, nil
	}
}

func records(t testing.TB, e *testEnv) int {
	t.Helper()
	n := 0
	if err := e.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketRecords); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func testSealer(t testing.TB) Sealer {
	t.Helper()
	kr, err := seal.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, seal.KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestKeptAnswerCommitsOnce: a Mutating op whose handler keeps its answer in
// its own transaction costs one commit, not two; the stored answer is
// sealed; a repeat gets the same answer from it without a commit and without
// running the handler. A handler that does not call Keep still gets its
// answer stored, in a second commit.
func TestKeptAnswerCommitsOnce(t *testing.T) {
	op := &keepingOp{}
	var plainCalls atomic.Int64
	e := startEnv(t, envCfg{opts: Options{Seal: testSealer(t)}, setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", op.handler(r.o.DB), Mutating())
		mustHandle(t, r, "booking", "plain", func(ctx context.Context, req *Request) (any, error) {
			n := plainCalls.Add(1)
			return map[string]int64{"n": n}, r.o.DB.Update(ctx, func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(bucketRecords)
				if err != nil {
					return err
				}
				return b.Put([]byte(req.ID), binary.BigEndian.AppendUint64(nil, uint64(n)))
			})
		}, Mutating())
	}})
	c := e.connect(t, connOpts{dev: kiosk})

	before := e.db.Stats()
	c.request(t, "svc/booking/create", `{"id":"k-1","v":1}`, "")
	first := c.next(t)
	if a := decodeAnswer(t, first); !a.OK || a.N != 1 {
		t.Fatalf("first answer: %s", first.Payload)
	}
	if got := e.db.Stats().Commits - before.Commits; got != 1 {
		t.Fatalf("one request cost %d commits, want 1", got)
	}
	if n := storedAnswers(t, e); n != 1 {
		t.Fatalf("%d answers stored, want 1", n)
	}
	if err := e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAnswers).ForEach(func(_, v []byte) error {
			if len(v) < 9 || v[8] != sealedMark || bytes.Contains(v, []byte(`"n"`)) {
				t.Errorf("stored answer is not sealed: %q", v)
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}

	before = e.db.Stats()
	c.request(t, "svc/booking/create", `{"id":"k-1","v":1}`, "")
	if again := c.next(t); !bytes.Equal(again.Payload, first.Payload) {
		t.Fatalf("repeat answered differently:\n%s\n%s", first.Payload, again.Payload)
	}
	if got := e.db.Stats().Commits - before.Commits; got != 0 || op.calls.Load() != 1 {
		t.Fatalf("repeat: %d commits, handler called %d times; want 0 and 1", got, op.calls.Load())
	}

	before = e.db.Stats()
	c.request(t, "svc/booking/plain", `{"id":"p-1","v":1}`, "")
	if a := decodeAnswer(t, c.next(t)); !a.OK || a.N != 1 {
		t.Fatalf("plain answer: %+v", a)
	}
	if got := e.db.Stats().Commits - before.Commits; got != 2 {
		t.Fatalf("a handler without Keep cost %d commits, want 2 (its own, then the answer's)", got)
	}
	c.request(t, "svc/booking/plain", `{"id":"p-1","v":1}`, "")
	if a := decodeAnswer(t, c.next(t)); a.N != 1 || plainCalls.Load() != 1 {
		t.Fatalf("plain repeat: %+v, handler called %d times", a, plainCalls.Load())
	}
}

// TestKeptAnswerOutlivesLostReply: the handler's change and its answer are
// committed, then the handler dies before answering (a crash between the
// commit and the reply, as far as the client can tell). The client sees
// unavailable and retries: it gets the committed answer, and the op is not
// run a second time.
func TestKeptAnswerOutlivesLostReply(t *testing.T) {
	op := &keepingOp{after: func() { panic("lost after the commit") }}
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", op.handler(r.o.DB), Mutating())
	}})
	c := e.connect(t, connOpts{dev: kiosk})
	c.request(t, "svc/booking/create", `{"id":"lost-1","v":1}`, "")
	if a := decodeAnswer(t, c.next(t)); a.OK || a.Error.Code != CodeUnavailable {
		t.Fatalf("first attempt: %+v, want unavailable", a)
	}
	c.request(t, "svc/booking/create", `{"id":"lost-1","v":1}`, "")
	if a := decodeAnswer(t, c.next(t)); !a.OK || a.N != 1 {
		t.Fatalf("retry: %+v, want the committed answer n=1", a)
	}
	if op.calls.Load() != 1 || records(t, e) != 1 {
		t.Fatalf("handler ran %d times, %d records; want 1 and 1", op.calls.Load(), records(t, e))
	}
}

// TestFailedHandlerKeepsNoAnswer: when the handler's transaction fails after
// Keep, neither its change nor the answer is stored; the client is answered
// unavailable and a retry runs the op again. A failure with a lasting code
// (conflict) is remembered as before, in a transaction of its own.
func TestFailedHandlerKeepsNoAnswer(t *testing.T) {
	var fail atomic.Value // func() error
	fail.Store(func() error { return errors.New("disk on fire") })
	op := &keepingOp{fail: func() error { return fail.Load().(func() error)() }}
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", op.handler(r.o.DB), Mutating())
	}})
	c := e.connect(t, connOpts{dev: kiosk})
	c.request(t, "svc/booking/create", `{"id":"f-1","v":1}`, "")
	if a := decodeAnswer(t, c.next(t)); a.OK || a.Error.Code != CodeUnavailable {
		t.Fatalf("failed handler: %+v, want unavailable", a)
	}
	if n, r := storedAnswers(t, e), records(t, e); n != 0 || r != 0 {
		t.Fatalf("after a failed transaction: %d answers, %d records stored; want none", n, r)
	}

	fail.Store(func() error { return Errorf(CodeConflict, "slot taken") })
	c.request(t, "svc/booking/create", `{"id":"f-1","v":1}`, "")
	conflict := c.next(t)
	if a := decodeAnswer(t, conflict); a.OK || a.Error.Code != CodeConflict || op.calls.Load() != 2 {
		t.Fatalf("retry: %s after %d calls, want conflict after 2", conflict.Payload, op.calls.Load())
	}
	if n, r := storedAnswers(t, e), records(t, e); n != 1 || r != 0 {
		t.Fatalf("after conflict: %d answers, %d records; want 1 (the conflict) and 0", n, r)
	}
	fail.Store(func() error { return nil })
	c.request(t, "svc/booking/create", `{"id":"f-1","v":1}`, "")
	if again := c.next(t); !bytes.Equal(again.Payload, conflict.Payload) || op.calls.Load() != 2 {
		t.Fatalf("repeat of the conflict: %s after %d calls", again.Payload, op.calls.Load())
	}
}

// TestKeepDuplicatesWaitForTheCommit: a duplicate that arrives while the
// first request's transaction is running waits, and both get the kept answer.
func TestKeepDuplicatesWaitForTheCommit(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	op := &keepingOp{fail: func() error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return nil
	}}
	e := startEnv(t, envCfg{opts: Options{Workers: 4}, setup: func(r *Router) {
		mustHandle(t, r, "booking", "create", op.handler(r.o.DB), Mutating())
	}})
	a := e.connect(t, connOpts{dev: kiosk, clientID: "kiosk-01:a"})
	b := e.connect(t, connOpts{dev: kiosk, clientID: "kiosk-01:b"})
	a.request(t, "svc/booking/create", `{"id":"d-1","v":1}`, "a")
	<-started
	b.request(t, "svc/booking/create", `{"id":"d-1","v":1}`, "b")
	poll(t, "the duplicate waiting", func() bool { return e.router.Stats().Duplicates == 1 })
	a.none(t)
	close(release)
	pa, pb := a.next(t), b.next(t)
	var ans answer
	if err := json.Unmarshal(pa.Payload, &ans); err != nil || !ans.OK || !bytes.Equal(pa.Payload, pb.Payload) {
		t.Fatalf("answers: %s / %s", pa.Payload, pb.Payload)
	}
	if op.calls.Load() != 1 || storedAnswers(t, e) != 1 {
		t.Fatalf("handler ran %d times, %d answers stored", op.calls.Load(), storedAnswers(t, e))
	}
}

// TestResultKeysChecked: a result must not carry the envelope's fields, at
// its top level, however its keys are spelt; nested ones and values are fine.
func TestResultKeysChecked(t *testing.T) {
	for _, tc := range []struct {
		obj string
		bad bool
	}{
		{`{}`, false},
		{`{"n":1,"booking":{"id":"bk-1","ok":true},"list":[{"v":1}],"text":"\"id\":\\"}`, false},
		{`{"a":"x,\"v\":1"}`, false},
		{`{"v":1}`, true},
		{`{"n":[1,2],"id":"x"}`, true},
		{`{"n":{"a":{}},"ok":false}`, true},
		{`{"\u0065rror":{}}`, true},
		{` { "x" : 1 , "error" : null } `, true},
		{`{"a":"unterminated`, true},
	} {
		if err := checkResultKeys([]byte(tc.obj)); (err != nil) != tc.bad {
			t.Errorf("%s: %v, want refused=%v", tc.obj, err, tc.bad)
		}
	}
}
