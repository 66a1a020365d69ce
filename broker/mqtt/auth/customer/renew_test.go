package customer

import (
	"context"
	"testing"
	"time"
)

// A customer who keeps using her login keeps it: each login renews it for
// SessionTTL; one she leaves unused for SessionTTL stops working, and the
// renewal survives a restart (it is on disk).
func TestLoginRenewedByUse(t *testing.T) {
	const ttl = 10 * 24 * time.Hour
	e := newEnv(t, Options{SessionTTL: ttl})
	l := e.redeem(t, e.issue(t, "").Token)
	for i := range 3 { // 27 days, a visit every 9 days
		e.clock.Advance(9 * 24 * time.Hour)
		if !e.verify(t, l.Username, l.Password) {
			t.Fatalf("visit %d: the login used 9 days ago does not verify", i+1)
		}
	}
	e.restart(t)
	e.clock.Advance(9 * 24 * time.Hour)
	if !e.verify(t, l.Username, l.Password) || !e.s.CustomerActive(l.Customer) {
		t.Fatal("after a restart the renewed login does not verify")
	}
	e.clock.Advance(ttl)
	if e.verify(t, l.Username, l.Password) || e.s.CustomerActive(l.Customer) {
		t.Fatal("a login unused for the whole TTL still works")
	}
	if e.s.RenewFailures() != 0 {
		t.Fatalf("renew failures %d", e.s.RenewFailures())
	}
	// A login never used after the redeem ends SessionTTL after it.
	l2 := e.redeem(t, e.issue(t, "").Token)
	e.clock.Advance(ttl - time.Second)
	e.s.mu.Lock()
	e.s.loaded = false // read from disk: the expiry stored is the redeem's
	e.s.mu.Unlock()
	if !e.s.CustomerActive(l2.Customer) {
		t.Fatal("inactive a second before its TTL")
	}
	e.clock.Advance(time.Second)
	if e.verify(t, l2.Username, l2.Password) {
		t.Fatal("an unused login outlived its TTL")
	}
}

// Revoke ends every session of one customer at once, and only hers.
func TestRevoke(t *testing.T) {
	e := newEnv(t, Options{})
	tk := e.issue(t, "")
	a := e.redeem(t, tk.Token)
	b := e.redeem(t, e.issue(t, tk.Customer).Token) // her second phone
	other := e.redeem(t, e.issue(t, "").Token)
	n, err := e.s.Revoke(context.Background(), tk.Customer)
	if err != nil || n != 2 {
		t.Fatalf("revoke: %d, %v; want 2 sessions", n, err)
	}
	if e.verify(t, a.Username, a.Password) || e.verify(t, b.Username, b.Password) || e.s.CustomerActive(tk.Customer) {
		t.Fatal("a revoked login still works")
	}
	if !e.verify(t, other.Username, other.Password) {
		t.Fatal("revoking one customer ended another's login")
	}
	e.restart(t)
	if e.verify(t, a.Username, a.Password) {
		t.Fatal("a revoked login works again after a restart")
	}
	if n, err := e.s.Revoke(context.Background(), tk.Customer); err != nil || n != 0 {
		t.Fatalf("second revoke: %d, %v", n, err)
	}
	_, err = e.s.Revoke(context.Background(), "anna")
	wantErr(t, err, ErrInvalid)
}
