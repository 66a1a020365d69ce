package booking

import (
	"encoding/json"
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
)

// idPattern is the alphabet of booking, customer, profile and request ids.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Reasons in an error's details: a client switches on these, not on the message.
const (
	ReasonBadTime         = "bad_time"        // a time is not RFC 3339 with an offset
	ReasonInPast          = "in_past"         // the start has passed
	ReasonBeyondHorizon   = "beyond_horizon"  // further ahead than horizon_days
	ReasonClosed          = "closed"          // the store is closed that day
	ReasonOutsideHours    = "outside_hours"   // not inside one opening interval
	ReasonTaken           = "taken"           // the resources are not free (conflict)
	ReasonUnknownService  = "unknown_service" // no such service in the catalogue
	ReasonUnknownBooking  = "unknown_booking"
	ReasonUnknownProfile  = "unknown_profile"
	ReasonNotYours        = "not_yours"        // another customer's booking or profile
	ReasonDoesNotFit      = "does_not_fit"     // the pet's size or the baby's age is not taken
	ReasonTooLong         = "too_long"         // a text field is over its limit
	ReasonWrongState      = "wrong_state"      // e.g. rescheduling a cancelled booking
	ReasonTooManyProfile  = "too_many"         // the customer has max_profiles profiles
	ReasonAlreadyAnswered = "already_answered" // the survey was answered
)

// failf answers code with a machine-readable reason in the details.
func failf(code, reason, format string, args ...any) error {
	return svc.WithDetails(svc.Errorf(code, format, args...), map[string]any{"reason": reason})
}

// envelope holds the fields svc already checked; op bodies embed it.
type envelope struct {
	ID      string          `json:"id"`
	V       int             `json:"v"`
	ReplyTo json.RawMessage `json:"reply_to,omitempty"`
}

type servicesReq struct {
	envelope
}

type availabilityReq struct {
	envelope
	Service string `json:"service"`
	Date    string `json:"date"`
	Days    int    `json:"days"`
	Exclude string `json:"exclude"`
}

type bookReq struct {
	envelope
	Service  string   `json:"service"`
	Start    string   `json:"start"`
	Customer string   `json:"customer"`
	Profile  string   `json:"profile"`
	Notes    string   `json:"notes"`
	Contact  *Contact `json:"contact"`
	Source   string   `json:"source"`
}

type rescheduleReq struct {
	envelope
	Booking string `json:"booking"`
	Start   string `json:"start"`
}

type bookingReq struct {
	envelope
	Booking string `json:"booking"`
	Reason  string `json:"reason"`
}

type progressReq struct {
	envelope
	Booking string `json:"booking"`
	Stage   string `json:"stage"`
	Note    string `json:"note"`
	Photo   string `json:"photo"`
}

type surveyReq struct {
	envelope
	Booking string `json:"booking"`
	Score   int    `json:"score"`
	Comment string `json:"comment"`
}

type listReq struct {
	envelope
	Customer string `json:"customer"`
	From     string `json:"from"`
}

type boardReq struct {
	envelope
	Date string `json:"date"`
}

type changesReq struct {
	envelope
	After uint64 `json:"after"`
	Limit int    `json:"limit"`
}

type profilePutReq struct {
	envelope
	Customer string  `json:"customer"`
	Profile  Profile `json:"profile"`
}

type profileReq struct {
	envelope
	Customer string `json:"customer"`
	Profile  string `json:"profile"`
}

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
func (d *Desk) fmtTime(t time.Time) string { return t.In(d.cat.Location()).Format(time.RFC3339) }
