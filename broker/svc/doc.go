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
// A handler that writes calls Request.Keep at the end of its write
// transaction's function: the answer for repeats is then stored in that same
// transaction, so the op costs one commit, and a crash cannot leave the
// change on disk without the memory of its answer. The answer is published
// only after the handler returns, so after the commit. For a handler that
// does not call Keep (or whose result differs from what it kept) the router
// stores the answer after the handler returns, in a transaction of its own,
// and a crash between the two commits runs the handler again when the
// client retries. Handlers therefore still own the idempotency of their own
// writes: key them by the request (for example store the request id with
// the record it creates) and return the same result when finding their own
// earlier write.
package svc
