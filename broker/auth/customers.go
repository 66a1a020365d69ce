package auth

import (
	"fmt"
	"strings"
)

// CustomerPrefix starts every customer id; device ids in the registry may not start with it.
const CustomerPrefix = "cust-"

// Customers verifies customers' session credentials (implemented by broker/auth/customer, being written by someone else).
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

type membershipRef struct{ m Membership }

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

// SetMembership sets what decides %m grants; nil = %m grants cover nothing.
// It may be called at any time. Its answers are never cached: a member
// removed from a conversation stops receiving at the next delivery.
func (h *Hook) SetMembership(m Membership) {
	if m == nil {
		h.membership.Store(nil)
		return
	}
	h.membership.Store(&membershipRef{m: m})
}

func (h *Hook) currentCustomers() Customers {
	if r := h.customers.Load(); r != nil {
		return r.c
	}
	return nil
}

func (h *Hook) currentMembership() Membership {
	if r := h.membership.Load(); r != nil {
		return r.m
	}
	return nil
}

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
