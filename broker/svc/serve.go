package svc

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// job is a request copied off the publisher's goroutine.
type job struct {
	topic     string
	payload   []byte
	respTopic string // MQTT 5 Response Topic, "" when absent
	corr      []byte // MQTT 5 Correlation Data
	retained  bool
	clientID  string
	client    *mqtt.Client // nil when the publisher is no longer known
	received  time.Time
}

// onPublish is the inline subscription's handler. mochi calls it on the
// publisher's goroutine (or the session hook's, when it hands a committed
// publish back), so it only copies the packet and queues it; it never blocks.
func (r *Router) onPublish(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
	if pk.FixedHeader.Retain && r.replaying.Load() {
		return
	}
	j := &job{
		topic:     pk.TopicName,
		payload:   append([]byte(nil), pk.Payload...),
		respTopic: pk.Properties.ResponseTopic,
		corr:      append([]byte(nil), pk.Properties.CorrelationData...),
		retained:  pk.FixedHeader.Retain,
		clientID:  pk.Origin,
		received:  r.o.Now(),
	}
	if cl, ok := r.o.Server.Clients.Get(pk.Origin); ok {
		j.client = cl
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.stopped {
		r.stats.dropped.Add(1)
		return
	}
	select {
	case r.queue <- j:
		return
	default:
	}
	select {
	case r.overflow <- j: // answered unavailable by the overflow worker
	default:
		r.stats.dropped.Add(1)
	}
}

// replyTo is where one answer goes.
type replyTo struct {
	topic string // "" = nowhere (the request had no reply address)
	corr  []byte
}

// serve decodes, checks and dispatches one request. busy: the worker queue
// was full, answer unavailable.
func (r *Router) serve(ctx context.Context, j *job, busy bool) {
	r.stats.requests.Add(1)
	env := decodeEnvelope(j.payload)

	// Where the answer goes; a foreign address drops the request.
	to := replyTo{topic: j.respTopic, corr: j.corr}
	if to.topic == "" && env.hasTo {
		to.topic = env.replyTo
		if env.badTo {
			to.topic = "\x00" // present but not a string: never valid
		}
	}
	if to.topic != "" && !validReplyTopic(to.topic, j.clientID) {
		r.stats.badReplyTo.Add(1)
		r.log.Debug("svc: request dropped: reply address is not the requester's own reply/{client id}/…",
			"client", clip(j.clientID), "topic", clip(j.topic), "reply_to", clip(to.topic))
		return
	}
	answerErr := func(code, format string, a ...any) {
		r.send(to, errAnswer(env.id, &Error{Code: code, Message: fmt.Sprintf(format, a...)}))
	}

	switch {
	case len(j.payload) > r.o.MaxRequestBytes:
		answerErr(CodeTooLarge, "request is %d bytes; the limit is %d", len(j.payload), r.o.MaxRequestBytes)
		return
	case env.err != nil:
		r.send(to, errAnswer(env.id, env.err))
		return
	case j.retained:
		answerErr(CodeBadRequest, "requests must not be published with the retain flag")
		return
	case busy:
		r.stats.overloaded.Add(1)
		answerErr(CodeUnavailable, "the store is busy; try again shortly")
		return
	}
	service, opName, ok := splitTopic(j.topic)
	o := (*op)(nil)
	if ok {
		o = r.lookup(service, opName)
	}
	if o == nil {
		answerErr(CodeNotFound, "no such op %q (requests go to svc/{service}/{op})", clip(j.topic))
		return
	}
	if j.client == nil {
		answerErr(CodeForbidden, "the client is not known to the broker")
		return
	}
	who, ok := r.o.Identify(j.client)
	if !ok || who.ClientID != j.clientID {
		answerErr(CodeForbidden, "the client is not identified")
		return
	}
	if !allowed(o, who.Role) {
		answerErr(CodeForbidden, "role %q may not call %s/%s", who.Role, o.service, o.name)
		return
	}
	req := &Request{
		Service: o.service, Op: o.name, ID: env.id, V: Version,
		Body: j.payload, From: who, Received: j.received,
	}
	if o.mutating {
		r.serveMutating(ctx, o, req, to)
		return
	}
	ans, _ := r.call(ctx, o, req)
	r.send(to, ans)
}

// splitTopic splits svc/{service}/{op}.
func splitTopic(topic string) (service, op string, ok bool) {
	rest, ok := strings.CutPrefix(topic, "svc/")
	if !ok {
		return "", "", false
	}
	service, op, ok = strings.Cut(rest, "/")
	if !ok || service == "" || op == "" || strings.Contains(op, "/") {
		return "", "", false
	}
	return service, op, true
}

// call runs the handler and encodes its answer; code is "" for ok:true. A
// handler that panics is answered unavailable and logged with its stack, so
// one bad op cannot take the broker down.
func (r *Router) call(ctx context.Context, o *op, req *Request) (ans []byte, code string) {
	ctx, cancel := context.WithTimeout(ctx, r.o.HandlerTimeout)
	defer cancel()
	var res any
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("svc: handler panicked: %v\n%s", p, debug.Stack())
			}
		}()
		res, err = o.h(ctx, req)
	}()
	if err == nil {
		if kept, ok := req.keep.reuse(res); ok {
			return kept, ""
		}
		ans, err = okAnswer(req.ID, res)
		if err == nil {
			return ans, ""
		}
	}
	e, ok := asError(err)
	if !ok {
		r.stats.handlerErrors.Add(1)
		r.log.Error("svc: handler failed; answered unavailable", "service", o.service, "op", o.name,
			"client", req.From.ClientID, "id", req.ID, "error", err)
	}
	return errAnswer(req.ID, e), e.Code
}

// send publishes one answer to its reply address, if it has one.
func (r *Router) send(to replyTo, ans []byte) {
	if to.topic == "" {
		return
	}
	if err := r.publish(to.topic, to.corr, ans); err != nil {
		r.stats.publishErrors.Add(1)
		r.log.Warn("svc: publishing an answer failed", "topic", clip(to.topic), "error", err)
		return
	}
	r.stats.answered.Add(1)
}

// clip shortens a client-supplied string for a log line.
func clip(s string) string {
	const n = 128
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
