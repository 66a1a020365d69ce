package home

import (
	"context"
	"net/http"
	"time"
)

// Customer is a signed-in customer at home: HQ's id for her, the store
// that vouched for her and her id there (the conversation named after
// her), and the login (device) the request came with.
type Customer struct {
	ID        string // HQ's id, "hc-…"
	Store     string
	StoreName string
	Customer  string // the store's id, "cust-…"
	Name      string
	Login     string // the login's id
}

// HandlerFunc is an API handler for a signed-in customer.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, c Customer)

// Routes is a part of the page at home served by another package
// (bookings, the live view, notifications).
type Routes interface {
	// Mount adds the part's handlers (paths under /home/api/v1/) to mux;
	// auth wraps a handler that needs a signed-in customer (401 without).
	Mount(mux *http.ServeMux, auth func(HandlerFunc) http.HandlerFunc)
}

// Publisher publishes one message on HQ's broker: QoS 1, with the user
// property "id" set to id (the stores deduplicate by it). It returns once
// the broker acknowledged it (hq/downlink.MQTTPublisher).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, id string) error
}

// DownTopic is the topic on HQ's broker that reaches store as the local
// topic local ("hq/chat/message" → "stores/{store}/down/chat/message").
func DownTopic(store, local string) string {
	const p = "hq/"
	if len(local) > len(p) && local[:len(p)] == p {
		local = local[len(p):]
	}
	return "stores/" + store + "/down/" + local
}

// StoreState is what a customer at home is told about her store.
type StoreState struct {
	Store    string    `json:"store"`
	Name     string    `json:"name"`
	Zone     string    `json:"zone,omitempty"`
	Online   bool      `json:"online"`              // the replica's presence
	LastSeen time.Time `json:"last_seen,omitempty"` // its last status
	Open     bool      `json:"open"`                // within its hours now (false: closed or a closure)
	// NextOpen is when it opens next, when it is closed now and known.
	NextOpen *time.Time `json:"next_open,omitempty"`
}

// StateFunc tells a store's state (Server.State); the other parts of the
// page take it as a function.
type StateFunc func(ctx context.Context, store string) (StoreState, error)
