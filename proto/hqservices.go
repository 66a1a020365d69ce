package proto

// The store's answers to HQ's config pushes and media requests, beside
// hqlink.go's wire types (PROTOCOL.md, "The store's services for HQ").

// ConfigAck codes besides the svc codes of a refusal (bad_request,
// conflict).
const (
	// ConfigAlreadyApplied: the push's version is not newer than the last
	// push applied; nothing changed (OK is true).
	ConfigAlreadyApplied = "already_applied"
)

// ConfigAck reasons of a refusal besides the catalogue's (ReasonInvalid,
// ReasonStrands).
const (
	ReasonNothingToApply = "nothing_to_apply" // neither catalog nor faq
	ReasonBadPush        = "bad_push"         // not a v1 push
)
