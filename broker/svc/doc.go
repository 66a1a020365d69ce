// Package svc holds the request/answer framework every store service (chat, booking, media, camera) is built on.
//
// A client publishes a request on svc/{service}/{op}; a Router registered with
// Handle decodes it, checks the caller's role, runs the op's Handler on a
// bounded worker pool and publishes exactly one answer (QoS 1, Content Type
// application/json) to the request's reply address:
//
//	request: {"id":"01J…","v":1, …op fields…}
//	answer:  {"v":1,"id":"01J…","ok":true, …result fields…}
//	         {"v":1,"id":"01J…","ok":false,"error":{"code":"not_found","message":"…"}}
//
// The reply address is the MQTT 5 Response Topic (its Correlation Data is
// copied back) or, for MQTT 3.1.1 clients, the request's "reply_to" field. It
// must be reply/{requester's client id} or below it; a request with any other
// reply address is dropped unanswered and unhandled, so a client cannot make
// the broker publish on someone else's topic. A request without a reply
// address is handled, and its answer discarded.
//
// Error codes are the constants Code*; a handler returns an *Error (see
// Errorf) to choose one. Any other error becomes "unavailable" with a generic
// message, and the real one is logged.
//
// Idempotency. Answers to ops registered Mutating() are kept in the bucket
// svc_answers (owned by this package, with its expiry index svc_answers_exp)
// for Options.AnswerTTL, keyed by service/op, the requesting device (the
// client id for anonymous clients) and the request id. A repeated request gets
// the stored answer byte for byte and the handler is not called; a duplicate
// that arrives while the first is still running waits for it. Answers with
// the transient codes unavailable and quota_exceeded are not kept, so a retry
// runs the handler again.
//
// Handlers own the idempotency of their own writes: the answer is committed
// after the handler returns, in its own transaction, so a crash between the
// handler's commit and the answer's commit runs the handler again when the
// client retries. A handler that writes should therefore key its writes by
// the request (for example store the request id with the record it creates)
// and return the same result when it finds its own earlier write.
package svc
