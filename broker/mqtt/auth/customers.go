package auth

import (
	"fmt"
	"strings"
)

// CustomerPrefix starts every customer id; device ids in the registry may not start with it.
const CustomerPrefix = "cust-"

// Customers verifies customers' session credentials (implemented by broker/mqtt/auth/customer, being written by someone else).
type Customers interface {
	// VerifyCustomer reports whether secret is the current secret of customer id and its session has not expired.
	VerifyCustomer(id string, secret []byte) (bool, error)
	// CustomerActive reports whether customer id has an unexpired session.
	CustomerActive(id string) bool
}

// Membership decides the %m placeholder: whether the client may use value at that level.
type Membership interface {
	Member(id Identity, value string) bool
}

// customersRef and membershipRef box the interfaces for atomic.Pointer.
type customersRef struct{ c Customers }

// membershipRef holds what decides %m grants: one Membership per topic root
// (the first level of the grant's filter, "chat", "camera"), and a default
// for the roots without their own.
type membershipRef struct {
	def    Membership
	byRoot map[string]Membership
}

// forRoot returns the Membership deciding %m grants under root; nil when
// none does (the grant then covers nothing).
func (r *membershipRef) forRoot(root string) Membership {
	if r == nil {
		return nil
	}
	if m, ok := r.byRoot[root]; ok {
		return m
	}
	return r.def
}

// SetCustomers lets customers log in: a client whose username starts with
// CustomerPrefix logs in when c verifies its password, with the role
// Options.CustomerRole, and keeps its grants only while c reports its session
// active. It may be called at any time; nil turns customer logins off (and
// silences customer sessions). It fails when the current ACL does not define
// the customer role; while customers are set, a Reload whose ACL lacks it is
// refused.
func (h *Hook) SetCustomers(c Customers) error {
	// Under reloadMu, so that a concurrent Reload either sees the customers
	// and keeps the role, or is checked here.
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	if c == nil {
		h.customers.Store(nil)
		return nil
	}
	if pol := h.pol.Load(); pol.cust == nil {
		return fmt.Errorf("auth: customers: role %q is not defined in the ACL (roles: %s)", h.custRole, roleList(pol.roles))
	}
	h.customers.Store(&customersRef{c: c})
	return nil
}

// SetMembership sets what decides %m grants under every topic root that has
// no Membership of its own (SetMembershipUnder); nil = those grants cover
// nothing. It may be called at any time. Its answers are never cached: a
// member removed from a conversation stops receiving at the next delivery.
func (h *Hook) SetMembership(m Membership) {
	h.updateMembership(func(r *membershipRef) { r.def = m })
}

// SetMembershipUnder sets what decides the %m grants whose filter starts
// with the level root ("camera" for camera/+/signal/%m), so that services
// decide their own topics: a camera session id is never taken for a
// conversation id. nil removes root's own Membership (the default applies
// again).
func (h *Hook) SetMembershipUnder(root string, m Membership) {
	h.updateMembership(func(r *membershipRef) {
		if m == nil {
			delete(r.byRoot, root)
			return
		}
		r.byRoot[root] = m
	})
}

// updateMembership replaces the membership set by a modified copy (readers
// load it without a lock at every delivery).
func (h *Hook) updateMembership(fn func(*membershipRef)) {
	h.membershipMu.Lock()
	defer h.membershipMu.Unlock()
	next := &membershipRef{byRoot: map[string]Membership{}}
	if cur := h.membership.Load(); cur != nil {
		next.def = cur.def
		for k, v := range cur.byRoot {
			next.byRoot[k] = v
		}
	}
	fn(next)
	h.membership.Store(next)
}

func (h *Hook) currentCustomers() Customers {
	if r := h.customers.Load(); r != nil {
		return r.c
	}
	return nil
}

func (h *Hook) currentMembership() *membershipRef { return h.membership.Load() }

// customerActive reports whether customer id's session is active now; false
// while no Customers is set.
func (h *Hook) customerActive(id string) bool {
	c := h.currentCustomers()
	return c != nil && c.CustomerActive(id)
}

// isCustomerName reports whether a username claims to be a customer.
func isCustomerName(username string) bool {
	return strings.HasPrefix(username, CustomerPrefix)
}
