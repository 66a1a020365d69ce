package device

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/storeedge/storeedge/proto"
)

// Code is a service error code (PROTOCOL.md, "Answers and error codes").
// The sentinels below are Codes: errors.Is(err, ErrConflict) holds for an
// *Error with that code.
type Code string

func (c Code) Error() string { return string(c) }

// The codes every service answers with.
const (
	ErrBadRequest    Code = proto.CodeBadRequest
	ErrNotFound      Code = proto.CodeNotFound
	ErrForbidden     Code = proto.CodeForbidden
	ErrConflict      Code = proto.CodeConflict
	ErrTooLarge      Code = proto.CodeTooLarge
	ErrQuotaExceeded Code = proto.CodeQuotaExceeded
	ErrUnavailable   Code = proto.CodeUnavailable
)

// Errors of the client itself.
var (
	// ErrNoAnswer: the context ended before the request was answered. The
	// request was withdrawn from the queue; if it had been sent it may have
	// taken effect, and repeating it with the same id (WithID) is safe.
	ErrNoAnswer = errors.New("device: no answer")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("device: client closed")
	// ErrQueueFull: Config.MaxQueued requests are waiting already.
	ErrQueueFull = errors.New("device: request queue full")
)

// Slot is a bookable time, as a conflict's alternatives and availability
// give them.
type Slot = proto.Slot

// Error is a service's refusal: {"ok":false,"error":{…}}, or the broker's
// refusal of the request's publish (PUBACK reason code ≥ 0x80), mapped to
// the nearest code.
type Error struct {
	Service, Op string
	// ID is the request id.
	ID      string
	Code    Code
	Message string
	// Reason is details.reason: which rule refused it (e.g. "taken").
	Reason string
	// Alternatives are details.alternatives of a conflict over a taken slot.
	Alternatives []Slot
	// Details is the whole details object, for fields not decoded above.
	Details json.RawMessage
}

func (e *Error) Error() string {
	s := fmt.Sprintf("svc/%s/%s: %s", e.Service, e.Op, e.Code)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is matches the Code sentinels.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// Temporary reports whether repeating the request later (with the same id)
// may succeed.
func (e *Error) Temporary() bool { return e.Code == ErrUnavailable || e.Code == ErrQuotaExceeded }

// pubackError maps the broker's refusal of a request publish to a code.
func pubackError(service, op, id string, reason byte) *Error {
	e := &Error{Service: service, Op: op, ID: id, Code: ErrUnavailable,
		Message: fmt.Sprintf("the broker refused the request (reason code 0x%02x)", reason)}
	switch reason {
	case 0x87: // not authorized: the ACL does not let this role publish there
		e.Code = ErrForbidden
	case 0x97: // quota exceeded: the store's disk is full
		e.Code = ErrQuotaExceeded
	case 0x95: // packet too large
		e.Code = ErrTooLarge
	}
	return e
}
