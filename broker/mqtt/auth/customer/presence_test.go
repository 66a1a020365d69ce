package customer

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A presence binds the customer who confirmed a device's code to that
// device, for PresenceTTL, across a restart; nobody else can confirm it,
// a new code or EndPresence ends it, TakePresence uses it once, and Sweep
// removes what is over.
func TestPresence(t *testing.T) {
	e := newEnv(t, Options{PresenceTTL: 5 * time.Minute})
	ctx := t.Context()
	const kiosk, alice, bob = "kiosk-1", "cust-alice1", "cust-bob1"

	if c, _, err := e.s.PresentAt(kiosk); err != nil || c != "" {
		t.Fatalf("nobody yet: %q %v", c, err)
	}
	code, err := e.s.StartPresence(ctx, kiosk)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(code.URL)
	if u.Query().Get("present") != code.Code || u.Query().Get("t") != "" || !code.Expires.Equal(t0.Add(DefaultTokenTTL)) {
		t.Fatalf("code: %+v", code)
	}
	// A pending code names nobody.
	if c, _, _ := e.s.PresentAt(kiosk); c != "" {
		t.Fatalf("pending code names %q", c)
	}
	last := "A" // a code that differs from the real one in its last character
	if strings.HasSuffix(code.Code, last) {
		last = "B"
	}
	for _, bad := range []string{"", "short", code.Code[:len(code.Code)-1] + last} {
		if _, err := e.s.ConfirmPresence(ctx, bad, alice); !errors.Is(err, ErrNotFound) {
			t.Fatalf("confirm %q: %v", bad, err)
		}
	}
	if _, err := e.s.ConfirmPresence(ctx, code.Code, "kiosk-2"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a device confirming: %v", err)
	}
	p, err := e.s.ConfirmPresence(ctx, code.Code, alice)
	if err != nil || p.Device != kiosk || p.Customer != alice || !p.Until.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("confirm: %+v %v", p, err)
	}
	if again, err := e.s.ConfirmPresence(ctx, code.Code, alice); err != nil || again != p {
		t.Fatalf("a repeat: %+v %v", again, err)
	}
	if _, err := e.s.ConfirmPresence(ctx, code.Code, bob); !errors.Is(err, ErrMismatch) {
		t.Fatalf("bob confirming alice's code: %v", err)
	}
	e.restart(t)
	if c, until, err := e.s.PresentAt(kiosk); err != nil || c != alice || !until.Equal(p.Until) {
		t.Fatalf("after restart: %q %v %v", c, until, err)
	}
	if c, _, _ := e.s.PresentAt("kiosk-2"); c != "" {
		t.Fatalf("another kiosk names %q", c)
	}
	// Taken for another customer: nothing happens; for her: once.
	if ok, err := e.s.TakePresence(ctx, kiosk, bob); err != nil || ok {
		t.Fatalf("take for bob: %v %v", ok, err)
	}
	if ok, err := e.s.TakePresence(ctx, kiosk, alice); err != nil || !ok {
		t.Fatalf("take for alice: %v %v", ok, err)
	}
	if ok, _ := e.s.TakePresence(ctx, kiosk, alice); ok {
		t.Fatal("a presence was taken twice")
	}

	// Time runs out; a new code ends the customer before it.
	code, _ = e.s.StartPresence(ctx, kiosk)
	if _, err := e.s.ConfirmPresence(ctx, code.Code, alice); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5*time.Minute + time.Millisecond)
	if c, _, _ := e.s.PresentAt(kiosk); c != "" {
		t.Fatalf("after presence_ttl: %q", c)
	}
	if _, err := e.s.ConfirmPresence(ctx, code.Code, alice); !errors.Is(err, ErrExpired) {
		t.Fatalf("confirming again after the time: %v", err)
	}
	code, _ = e.s.StartPresence(ctx, kiosk)
	if _, err := e.s.ConfirmPresence(ctx, code.Code, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.StartPresence(ctx, kiosk); err != nil {
		t.Fatal(err)
	}
	if c, _, _ := e.s.PresentAt(kiosk); c != "" {
		t.Fatalf("a new code kept %q", c)
	}
	if ended, err := e.s.EndPresence(ctx, kiosk); err != nil || !ended {
		t.Fatalf("end: %v %v", ended, err)
	}
	if ended, _ := e.s.EndPresence(ctx, kiosk); ended {
		t.Fatal("ended twice")
	}
	// A code not confirmed in time is dead, and swept.
	code, _ = e.s.StartPresence(ctx, kiosk)
	e.clock.Advance(DefaultTokenTTL)
	if _, err := e.s.ConfirmPresence(ctx, code.Code, alice); !errors.Is(err, ErrExpired) {
		t.Fatalf("late confirm: %v", err)
	}
	if n, err := e.s.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if _, err := e.s.ConfirmPresence(ctx, code.Code, alice); !errors.Is(err, ErrNotFound) {
		t.Fatalf("swept code: %v", err)
	}
	if _, err := e.s.StartPresence(ctx, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no device: %v", err)
	}
}
