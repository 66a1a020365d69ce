package auth

import (
	mqtt "github.com/mochi-mqtt/server/v2"
)

// Identity is who a client is, as the broker's services see it.
type Identity struct {
	// Device is the device id from the registry, the customer id (with
	// CustomerPrefix) for a customer, "" for an anonymous client.
	Device string
	// Role is the client's role in the ACL.
	Role string
	// ClientID is the MQTT client id (the device id or "<device id>:<suffix>").
	ClientID string
	// Anonymous is set for a client without credentials (allow_anonymous).
	Anonymous bool
	// Customer is set for a customer logged in with a session secret (see
	// Hook.SetCustomers); Device is then its customer id.
	Customer bool
}

// Identity returns the identity of any client the broker knows, connected or
// an offline session restored from storage: it is computed from the client id
// and username under the current registry and ACL, as the grants are. It
// reports false for a client that is not (or no longer) identified — an
// unknown device, a client id not valid for its device, an anonymous client
// while anonymous access is off, a customer whose session is not active — and
// for the broker's own inline clients.
func (h *Hook) Identity(cl *mqtt.Client) (Identity, bool) {
	if cl == nil || cl.Net.Inline {
		return Identity{}, false
	}
	pol := h.pol.Load()
	g := h.clients.get(cl.ID)
	if g == nil || g.cl != cl || g.pol != pol {
		// Not cached (a restored or departed session): compute without
		// caching, so a client that has left leaves nothing behind.
		g = pol.grantsFor(cl)
	}
	if g = h.active(g); !g.identified {
		return Identity{}, false
	}
	return g.id, true
}
