package svc

import (
	"errors"
	"fmt"

	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/proto"
)

// The stable error codes of an answer (DESIGN §4 rule 4; proto.Code*).
const (
	CodeBadRequest    = proto.CodeBadRequest
	CodeNotFound      = proto.CodeNotFound
	CodeForbidden     = proto.CodeForbidden
	CodeConflict      = proto.CodeConflict
	CodeTooLarge      = proto.CodeTooLarge // above Options.MaxRequestBytes or an op's own limit
	CodeQuotaExceeded = proto.CodeQuotaExceeded
	CodeUnavailable   = proto.CodeUnavailable
)

// Error is an error with a stable code that a handler returns to answer
// {"ok":false,"error":{"code":…,"message":…}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details, when set, is what a client needs to act on the error without
	// parsing the message: a machine-readable reason, or the free slots
	// offered instead of a taken one. It must marshal to a JSON object.
	Details any `json:"details,omitempty"`
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the code and a formatted message. The message
// goes to the client: say what is wrong with the request, not how the store
// works inside.
func Errorf(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrTooLarge marks a request that failed a size limit (a text, a card, a
// chunk, a member list), not malformed input: BadInput answers it too_large.
var ErrTooLarge = errors.New("too large")

// BadInput is the answer to a request body that could not be decoded or
// checked: too_large when err wraps ErrTooLarge, else bad_request; the
// message says what is wrong.
func BadInput(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return Errorf(CodeTooLarge, "%v", err)
	}
	return Errorf(CodeBadRequest, "%v", err)
}

// WithDetails returns err's *Error with details added (see Error.Details); an
// error without a code is returned unchanged.
func WithDetails(err error, details any) error {
	var e *Error
	if !errors.As(err, &e) || e == nil {
		return err
	}
	c := *e
	c.Details = details
	return &c
}

// asError turns a handler's error into the answer's error. ok is false when
// err is not (and does not wrap) an *Error: the caller logs it and answers
// unavailable.
func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) && e != nil && validCode(e.Code) {
		return e, true
	}
	return &Error{Code: CodeUnavailable, Message: "internal error; try again later"}, false
}

func validCode(c string) bool {
	switch c {
	case CodeBadRequest, CodeNotFound, CodeForbidden, CodeConflict, CodeTooLarge, CodeQuotaExceeded, CodeUnavailable:
		return true
	}
	return false
}

// transient codes are not remembered for idempotency: a retry may succeed.
func transient(code string) bool {
	return code == CodeUnavailable || code == CodeQuotaExceeded
}

// FromCommit turns the error of a service's write transaction into its
// answer: nil stays nil, an *Error returned by the transaction's function is
// the answer (nothing was stored), a full database is quota_exceeded, and
// anything else is wrapped with the service's name (answered unavailable).
func FromCommit(service string, err error) error {
	var e *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrDiskFull):
		return Errorf(CodeQuotaExceeded, "the store's disk is full")
	case errors.Is(err, store.ErrFull):
		return Errorf(CodeQuotaExceeded, "the store's database is full")
	}
	return fmt.Errorf("%s: commit: %w", service, err)
}
