package proto

// The stable error codes of an answer {"ok":false,"error":{"code":…}}
// (PROTOCOL.md, "Answers and error codes").
const (
	CodeBadRequest    = "bad_request"    // malformed JSON, missing or invalid id, wrong v, invalid op fields
	CodeNotFound      = "not_found"      // unknown service or op, or the thing asked for does not exist
	CodeForbidden     = "forbidden"      // the caller's role may not call the op, or may not touch the thing
	CodeConflict      = "conflict"       // the request contradicts the current state (slot taken, …)
	CodeTooLarge      = "too_large"      // the request exceeds the store's request size or an op's own limit
	CodeQuotaExceeded = "quota_exceeded" // a storage or per-client quota is used up; retry later
	CodeUnavailable   = "unavailable"    // the service is busy, stopping or failed internally; retry later
)

// Codes are all the error codes, in the order above.
var Codes = []string{CodeBadRequest, CodeNotFound, CodeForbidden, CodeConflict, CodeTooLarge, CodeQuotaExceeded, CodeUnavailable}

// ReasonNotPresent is the details reason of a refusal to a shared device
// (kiosk, chat tablet) whose customer has not confirmed its presence code.
const ReasonNotPresent = "not_present"
