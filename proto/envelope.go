package proto

import "encoding/json"

// Version is the envelope version ("v") of requests, answers and events.
const Version = 1

// Envelope is what every request carries besides its op's fields: the
// request id, the version and, for MQTT 3.1.1 clients, the reply topic.
// Services embed it in the struct they decode a request into, so a strict
// decode accepts it; svc checks it.
type Envelope struct {
	ID      string          `json:"id"`
	V       int             `json:"v"`
	ReplyTo json.RawMessage `json:"reply_to,omitempty"`
}

// AnswerHead is what every answer carries besides its op's fields.
type AnswerHead struct {
	V     int          `json:"v"`
	ID    string       `json:"id"`
	OK    bool         `json:"ok"`
	Error *AnswerError `json:"error,omitempty"`
}

// AnswerError is the error of an ok:false answer. Details, when present,
// is a JSON object: "reason" (which rule refused it) and, for a taken
// booking slot, "alternatives".
type AnswerError struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`
}

// ErrorDetails are the details fields clients act on: which rule refused
// the request and, for a taken booking slot, the nearest free ones.
type ErrorDetails struct {
	Reason       string `json:"reason,omitempty"`
	Alternatives []Slot `json:"alternatives,omitempty"`
}
