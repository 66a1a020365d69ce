package device

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/proto"
)

// entry is one queued request.
type entry struct {
	order   uint64 // the order it was made in
	diskSeq uint64 // its key in the disk queue; 0 when it is in memory only
	id      string
	service string
	op      string
	lane    string
	payload []byte
	waiter  chan result // nil: the answer goes to Config.OnAnswer

	sentGen   uint64    // the connection it was last sent on
	sentAt    time.Time // when
	sends     int
	notBefore time.Time // a temporary refusal's backoff
	retries   int
	noRetry   bool
}

type result struct {
	raw json.RawMessage
	err error
}

// Answer is a service's answer to a request nobody waits for (Enqueue, or
// a request left queued by an earlier run): Config.OnAnswer receives it.
type Answer struct {
	ID, Service, Op string
	// Raw is the whole answer object.
	Raw json.RawMessage
	// Err is the refusal (an *Error), nil when ok.
	Err error
}

// Decode decodes the answer's fields into v.
func (a Answer) Decode(v any) error {
	if err := json.Unmarshal(a.Raw, v); err != nil {
		return fmt.Errorf("device: answer to svc/%s/%s: %w", a.Service, a.Op, err)
	}
	return nil
}

// CallOption adjusts one request.
type CallOption func(*callOpts)

type callOpts struct {
	id      string
	lane    string
	durable *bool
	noRetry bool
}

// WithID sends the request with this id instead of a new one: repeating a
// request after ErrNoAnswer with the same id is answered with the first
// answer and changes nothing.
func WithID(id string) CallOption { return func(o *callOpts) { o.id = id } }

// InLane makes the request wait for the answers of the earlier requests in
// the same lane before it is sent, so they take effect in order.
func InLane(lane string) CallOption { return func(o *callOpts) { o.lane = lane } }

// Durable keeps the request on disk (Config.QueueDir) until it is
// answered, or not. The default is durable for ops that change something.
func Durable(on bool) CallOption { return func(o *callOpts) { o.durable = &on } }

// NoRetry answers "unavailable" to the caller instead of retrying it.
func NoRetry() CallOption { return func(o *callOpts) { o.noRetry = true } }

// mutating reports whether an op changes something (proto.Ops, which
// PROTOCOL.md marks): such ops are kept on disk by default.
func mutating(service, op string) bool { return proto.Mutating(service, op) }

// Do sends svc/{service}/{op} with the fields of req (a struct or map that
// marshals to a JSON object, or nil; "id" and "v" are added) and waits for
// the answer, which it decodes into resp (may be nil). A refusal is an
// *Error (errors.Is(err, ErrConflict), …). "unavailable" is retried with
// the same id until ctx ends, unless NoRetry. When ctx ends first the
// request is withdrawn and Do returns ErrNoAnswer.
func (c *Client) Do(ctx context.Context, service, op string, req, resp any, opts ...CallOption) error {
	e, err := c.submit(service, op, req, true, opts)
	if err != nil {
		return err
	}
	var r result
	select {
	case r = <-e.waiter:
	case <-ctx.Done():
		sent, answered := c.withdraw(e)
		if !answered {
			state := "not sent"
			if sent {
				state = "sent, it may have taken effect"
			}
			return fmt.Errorf("%w to svc/%s/%s id %s (%s): %w", ErrNoAnswer, service, op, e.id, state, ctx.Err())
		}
		r = <-e.waiter
	}
	if r.err != nil {
		return r.err
	}
	if resp != nil {
		if err := json.Unmarshal(r.raw, resp); err != nil {
			return fmt.Errorf("device: answer to svc/%s/%s: %w", service, op, err)
		}
	}
	return nil
}

// Enqueue puts the request in the queue — on disk when Config.QueueDir is
// set — and returns its id once it is stored. It is sent whenever the
// broker is reachable, retried until answered (also "unavailable" and
// "quota_exceeded"), and its answer goes to Config.OnAnswer, also after a
// restart of the program.
func (c *Client) Enqueue(service, op string, req any, opts ...CallOption) (string, error) {
	opts = append(opts, Durable(true))
	e, err := c.submit(service, op, req, false, opts)
	if err != nil {
		return "", err
	}
	return e.id, nil
}

func (c *Client) submit(service, op string, req any, wait bool, opts []CallOption) (*entry, error) {
	var o callOpts
	for _, f := range opts {
		f(&o)
	}
	if o.id == "" {
		o.id = NewID()
	}
	if !validPart(service) || !validPart(op) {
		return nil, fmt.Errorf("device: %w: service and op must be one topic level each (%q, %q)", ErrBadRequest, service, op)
	}
	payload, err := envelope(o.id, req)
	if err != nil {
		return nil, fmt.Errorf("device: svc/%s/%s: %w", service, op, err)
	}
	durable := mutating(service, op)
	if o.durable != nil {
		durable = *o.durable
	}
	e := &entry{id: o.id, service: service, op: op, lane: o.lane, payload: payload, noRetry: o.noRetry}
	if wait {
		e.waiter = make(chan result, 1)
	}
	toDisk := durable && c.disk != nil
	if err := c.admit(e, toDisk); err != nil {
		return nil, err
	}
	if toDisk {
		defer c.puts.Done()
		seq, err := c.disk.put(stored{ID: e.id, Service: service, Op: op, Lane: e.lane, Payload: payload, Enqueued: time.Now().UTC()})
		if err != nil {
			c.forget(e)
			return nil, err
		}
		c.mu.Lock()
		e.diskSeq = seq
		if _, still := c.byID[e.id]; !still { // answered or withdrawn already
			c.removals = append(c.removals, seq)
		}
		c.mu.Unlock()
	}
	c.wake()
	return e, nil
}

// admit adds e to the queue. An entry on its way to disk may be sent
// already: the disk copy only matters to the next run.
// toDisk: e is written to disk next, and Close waits for it (c.puts).
func (c *Client) admit(e *entry, toDisk bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case len(c.pending) >= c.cfg.MaxQueued:
		return fmt.Errorf("%w (%d requests)", ErrQueueFull, len(c.pending))
	case c.byID[e.id] != nil:
		return fmt.Errorf("device: request id %s is queued already", e.id)
	}
	c.order++
	e.order = c.order
	c.pending = append(c.pending, e)
	c.byID[e.id] = e
	if toDisk {
		c.puts.Add(1)
	}
	return nil
}

func (c *Client) forget(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(e)
}

// dropLocked removes e from the queue; c.mu is held.
func (c *Client) dropLocked(e *entry) bool {
	if c.byID[e.id] != e {
		return false
	}
	delete(c.byID, e.id)
	for i, p := range c.pending {
		if p == e {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			break
		}
	}
	if e.diskSeq != 0 {
		c.removals = append(c.removals, e.diskSeq)
	}
	return true
}

// withdraw takes e out of the queue when its caller gives up.
func (c *Client) withdraw(e *entry) (sent, answered bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dropLocked(e) {
		return true, true
	}
	return e.sends > 0, false
}

func (c *Client) loadQueue() error {
	seqs, reqs, err := c.disk.load()
	if err != nil {
		return err
	}
	for i, s := range reqs {
		e := &entry{diskSeq: seqs[i], id: s.ID, service: s.Service, op: s.Op, lane: s.Lane, payload: s.Payload}
		if c.byID[e.id] != nil { // the same id stored twice: keep the first
			c.removals = append(c.removals, e.diskSeq)
			continue
		}
		c.order++
		e.order = c.order
		c.pending = append(c.pending, e)
		c.byID[e.id] = e
	}
	return nil
}

// sendLoop sends what the queue allows whenever something changes: a
// request queued or answered, a connection up, a resend or retry due.
func (c *Client) sendLoop() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		case <-t.C:
		}
		next := c.dispatch()
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

// dispatch sends every request that may go now and returns when the next
// one falls due (zero: nothing waits on time).
func (c *Client) dispatch() time.Time {
	c.mu.Lock()
	gen := c.gen
	if gen == 0 || c.closed {
		c.mu.Unlock()
		return time.Time{}
	}
	now := time.Now()
	var next time.Time
	due := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	inflight := 0
	for _, e := range c.pending {
		if e.sentGen == gen {
			inflight++
		}
	}
	lanes := map[string]bool{}
	var send []*entry
	for _, e := range c.pending {
		if e.lane != "" {
			if lanes[e.lane] {
				continue // an earlier request of its lane is not answered yet
			}
			lanes[e.lane] = true
		}
		if e.sentGen == gen {
			if resend := e.sentAt.Add(c.cfg.ResendAfter); now.Before(resend) {
				due(resend)
				continue
			}
		} else {
			if now.Before(e.notBefore) {
				due(e.notBefore)
				continue
			}
			if inflight >= c.cfg.Window {
				continue
			}
			inflight++
		}
		if e.sends > 0 {
			c.stats.Resent++
		}
		e.sentGen, e.sentAt = gen, now
		e.sends++
		due(now.Add(c.cfg.ResendAfter)) // the resend, if no answer comes
		c.stats.Sent++
		send = append(send, e)
	}
	ctx := c.connCtx
	cm := c.cm
	c.mu.Unlock()
	for _, e := range send {
		go c.publish(ctx, cm, gen, e)
	}
	return next
}

func (c *Client) publish(ctx context.Context, cm interface {
	Publish(context.Context, *paho.Publish) (*paho.PublishResponse, error)
}, gen uint64, e *entry) {
	c.mu.Lock()
	if c.gen != gen { // the connection went down meanwhile
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	pr, err := cm.Publish(ctx, &paho.Publish{QoS: 1, Topic: "svc/" + e.service + "/" + e.op, Payload: e.payload,
		Properties: &paho.PublishProperties{ResponseTopic: c.reply, CorrelationData: []byte(e.id),
			ContentType: "application/json"}})
	if err == nil {
		return
	}
	c.cfg.Log.Debug("device: request publish failed", "id", e.id, "op", e.op, "err", err)
	if pr != nil && pr.ReasonCode >= 0x80 {
		c.resolve(e.id, nil, pubackError(e.service, e.op, e.id, pr.ReasonCode))
		return
	}
	// The connection failed under it: it goes again after the reconnect.
	c.mu.Lock()
	if e.sentGen == gen && c.byID[e.id] == e {
		e.sentGen = 0
		e.notBefore = time.Now().Add(c.cfg.ReconnectMin)
	}
	c.mu.Unlock()
	c.wake()
}

// received routes every incoming message: answers to their requests, the
// rest to the subscriptions' handlers.
func (c *Client) received(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	if strings.HasPrefix(p.Topic, "reply/"+c.clientID+"/") {
		c.answer(p)
		return true, nil
	}
	c.mu.Lock()
	var hs []func(Message)
	for _, s := range c.subs {
		if topicMatch(s.filter, p.Topic) {
			hs = append(hs, s.handler)
		}
	}
	c.mu.Unlock()
	m := Message{Topic: p.Topic, Payload: p.Payload, Retained: p.Retain}
	for _, h := range hs {
		h(m)
	}
	return true, nil
}

func (c *Client) answer(p *paho.Publish) {
	var a proto.AnswerHead
	if err := json.Unmarshal(p.Payload, &a); err != nil {
		c.cfg.Log.Warn("device: answer not readable", "topic", p.Topic, "err", err)
		return
	}
	id := a.ID
	if p.Properties != nil && len(p.Properties.CorrelationData) > 0 {
		id = string(p.Properties.CorrelationData)
	}
	var err error
	if !a.OK {
		e := &Error{ID: id, Code: ErrUnavailable, Message: "answer without error"}
		if a.Error != nil {
			e.Code, e.Message, e.Details = Code(a.Error.Code), a.Error.Message, a.Error.Details
			var d proto.ErrorDetails
			if len(e.Details) > 0 && json.Unmarshal(e.Details, &d) == nil {
				e.Reason, e.Alternatives = d.Reason, d.Alternatives
			}
		}
		err = e
	}
	c.resolve(id, json.RawMessage(bytes.Clone(p.Payload)), err)
}

// resolve ends a request with its answer, or schedules a retry of a
// temporary refusal. A second answer to the same request is dropped.
func (c *Client) resolve(id string, raw json.RawMessage, err error) {
	c.mu.Lock()
	e := c.byID[id]
	if e == nil {
		c.cfg.Log.Debug("device: repeated answer dropped", "id", id)
		c.stats.Repeats++
		c.mu.Unlock()
		return
	}
	var se *Error
	if errors.As(err, &se) {
		se.Service, se.Op = e.service, e.op
		retry := se.Code == ErrUnavailable && !e.noRetry ||
			se.Code == ErrQuotaExceeded && e.waiter == nil
		if retry {
			e.retries++
			e.sentGen = 0
			e.notBefore = time.Now().Add(retryBackoff(e.retries, se.Code))
			c.mu.Unlock()
			c.wake()
			return
		}
	}
	c.dropLocked(e)
	c.stats.Answered++
	c.mu.Unlock()
	c.wake() // its lane may go on
	if e.waiter != nil {
		e.waiter <- result{raw: raw, err: err}
		return
	}
	if c.cfg.OnAnswer != nil {
		c.cfg.OnAnswer(Answer{ID: id, Service: e.service, Op: e.op, Raw: raw, Err: err})
	}
}

// retryBackoff: "unavailable" means soon (a busy broker), 200 ms growing
// to 5 s; "quota_exceeded" means later, 5 s growing to 5 min.
func retryBackoff(n int, code Code) time.Duration {
	base, limit := 200*time.Millisecond, 5*time.Second
	if code == ErrQuotaExceeded {
		base, limit = 5*time.Second, 5*time.Minute
	}
	d := base << min(n-1, 10)
	return min(d, limit)
}

// removeLoop deletes answered requests from the disk queue in batches.
func (c *Client) removeLoop() {
	defer c.wg.Done()
	if c.disk == nil {
		return
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		rm := c.removals
		c.removals = nil
		c.mu.Unlock()
		if err := c.disk.remove(rm); err != nil {
			c.cfg.Log.Warn("device: answered requests not removed from the queue; they will be sent again", "err", err)
		}
	}
}

// envelope is req's JSON object with "v":1 and "id" in front.
func envelope(id string, req any) ([]byte, error) {
	head := `{"v":1,"id":` + jsonString(id)
	if req == nil {
		return []byte(head + "}"), nil
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("%w: the request must be a JSON object", ErrBadRequest)
	}
	if string(b) == "{}" {
		return []byte(head + "}"), nil
	}
	return append([]byte(head+","), b[1:]...), nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func validPart(s string) bool { return s != "" && !strings.ContainsAny(s, "/+#") }

var idMu sync.Mutex
var idLast [16]byte

// NewID makes a request id: a ULID (48 bits of milliseconds, 80 random
// bits, Crockford base32), monotonic within this process, so ids sort by
// the time they were made.
func NewID() string {
	idMu.Lock()
	defer idMu.Unlock()
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	if bytes.Equal(b[:6], idLast[:6]) {
		b = idLast
		for i := 15; i >= 6; i-- { // same millisecond: the previous id plus one
			b[i]++
			if b[i] != 0 {
				break
			}
		}
	} else if _, err := rand.Read(b[6:]); err != nil {
		binary.BigEndian.PutUint64(b[8:], uint64(time.Now().UnixNano()))
	}
	idLast = b
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var out [26]byte
	// 128 bits as 26 base32 digits, the first holding 3 bits.
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		out[i] = alphabet[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
