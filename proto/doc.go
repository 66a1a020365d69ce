// Package proto is the wire contract of the store's services: the request
// and answer body of every op on svc/{service}/{op}, every event, the error
// codes, the topic names and which ops change state. The broker's services
// decode requests into these types and encode answers and events from
// them; the device SDK, the bench and the firmware simulator encode
// requests and decode answers with them. PROTOCOL.md describes the same
// contract in prose.
//
// The types are plain structs with json tags. Request types carry no
// envelope (id, v, reply_to): the sender adds it and svc checks it. A
// pointer field is one whose absence the service tells from its zero value.
// Decoding rules (strict: case-sensitive names, each once, no unknown
// fields) are the services' (internal/strictjson), not these types'.
package proto

// String returns a pointer to s, for the optional text fields.
func String(s string) *string { return &s }
