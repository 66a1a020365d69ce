package booking

import (
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// idPattern is the alphabet of booking, customer, profile and request ids.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Reasons in an error's details: a client switches on these, not on the
// message (proto.Reason*).
const (
	ReasonBadTime         = proto.ReasonBadTime
	ReasonInPast          = proto.ReasonInPast
	ReasonBeyondHorizon   = proto.ReasonBeyondHorizon
	ReasonClosed          = proto.ReasonClosed
	ReasonOutsideHours    = proto.ReasonOutsideHours
	ReasonTaken           = proto.ReasonTaken
	ReasonUnknownService  = proto.ReasonUnknownService
	ReasonUnknownBooking  = proto.ReasonUnknownBooking
	ReasonUnknownProfile  = proto.ReasonUnknownProfile
	ReasonNotYours        = proto.ReasonNotYours
	ReasonDoesNotFit      = proto.ReasonDoesNotFit
	ReasonTooLong         = proto.ReasonTooLong
	ReasonWrongState      = proto.ReasonWrongState
	ReasonTooManyProfile  = proto.ReasonTooManyProfile
	ReasonAlreadyAnswered = proto.ReasonAlreadyAnswered
	ReasonOverlap         = proto.ReasonOverlap
)

// failf answers code with a machine-readable reason in the details.
func failf(code, reason, format string, args ...any) error {
	return svc.WithDetails(svc.Errorf(code, format, args...), map[string]any{"reason": reason})
}

// The request bodies: proto's, with the envelope svc already checked, so
// strict decoding accepts them.
type (
	servicesReq     struct{ proto.Envelope }
	availabilityReq struct {
		proto.Envelope
		proto.AvailabilityRequest
	}
	// bookReq and rescheduleReq read "start" as text, so that a malformed
	// time is answered with ReasonBadTime and the field's name.
	bookReq struct {
		proto.Envelope
		proto.BookRequest
		Start string `json:"start"`
	}
	rescheduleReq struct {
		proto.Envelope
		proto.RescheduleRequest
		Start string `json:"start"`
	}
	bookingReq struct {
		proto.Envelope
		proto.BookingRequest
	}
	progressReq struct {
		proto.Envelope
		proto.ProgressRequest
	}
	surveyReq struct {
		proto.Envelope
		proto.SurveyRequest
	}
	listReq struct {
		proto.Envelope
		proto.ListBookingsRequest
	}
	boardReq struct {
		proto.Envelope
		proto.BoardRequest
	}
	boardDaysReq struct {
		proto.Envelope
		proto.BoardDaysRequest
	}
	customersReq struct {
		proto.Envelope
		proto.CustomersRequest
	}
	changesReq struct {
		proto.Envelope
		proto.ChangesRequest
	}
	profilePutReq struct {
		proto.Envelope
		proto.ProfilePutRequest
	}
	profileReq struct {
		proto.Envelope
		proto.ProfileRequest
	}
)

// decode decodes one JSON object into v strictly (see internal/strictjson:
// case-sensitive names, each once, no unknown fields, nothing after).
func decode(b []byte, v any) error {
	if err := strictjson.Decode(b, v); err != nil {
		return svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	return nil
}

// parseTime parses an RFC 3339 time with its offset; the error names the field.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, failf(svc.CodeBadRequest, ReasonBadTime,
			"%q must be an RFC 3339 time with its offset, e.g. 2026-11-24T15:00:00+08:00 (got %q)", field, clip(s))
	}
	return t, nil
}

func checkID(field, v string) error {
	if !idPattern.MatchString(v) {
		return svc.Errorf(svc.CodeBadRequest, "%q must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", field)
	}
	return nil
}

// checkText bounds a free-text field.
func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return svc.Errorf(svc.CodeBadRequest, "%q is not valid UTF-8", field)
	}
	if err := safetext.Check(field, v, true); err != nil {
		return svc.Errorf(svc.CodeBadRequest, "%v", err)
	}
	if len(v) > max {
		return failf(svc.CodeTooLarge, ReasonTooLong, "%q is %d bytes, at most %d", field, len(v), max)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// fmtTime renders a time in the store's zone.
func (d *Desk) fmtTime(t time.Time) string { return t.In(d.cat().Location()).Format(time.RFC3339) }

// wireTime is a time as answers and changes give it: in the store's zone,
// to the second (it marshals as fmtTime renders it).
func (d *Desk) wireTime(t time.Time) time.Time { return t.In(d.cat().Location()).Truncate(time.Second) }
