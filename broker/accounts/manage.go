package accounts

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/proto"
)

// MaxNameBytes bounds a display name or a room.
const MaxNameBytes = 100

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadInput}, args...)...)
}

func checkName(field, s string, required bool) error {
	if s == "" {
		if required {
			return badf("%s is required", field)
		}
		return nil
	}
	if len(s) > MaxNameBytes || !utf8.ValidString(s) {
		return badf("%s: at most %d bytes of UTF-8", field, MaxNameBytes)
	}
	if err := safetext.Check(field, s, false); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	return nil
}

// checkPassword applies the minimum length (in characters) and a maximum
// (the hash functions' input is bounded).
func (r *Registry) checkPassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < r.o.MinPasswordLength {
		return badf("the password must have at least %d characters", r.o.MinPasswordLength)
	}
	if len(pw) > 72 {
		return badf("the password must have at most 72 bytes")
	}
	return nil
}

// AddStaff adds a staff account that logs in with password.
func (r *Registry) AddStaff(ctx context.Context, actor, id, name, role, password string) (Entry, error) {
	if !auth.ValidID(id) {
		return Entry{}, badf("account: 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	if !r.staffRole(role) {
		return Entry{}, badf("role %q: want one of %v", role, r.o.StaffRoles)
	}
	if err := checkName("name", name, false); err != nil {
		return Entry{}, err
	}
	if err := r.checkPassword(password); err != nil {
		return Entry{}, err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return Entry{}, fmt.Errorf("accounts: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lookupFoldLocked(id) != nil {
		return Entry{}, fmt.Errorf("%w: account %q exists already", ErrConflict, id)
	}
	now := r.o.Now().UTC()
	e := &Entry{ID: id, Kind: proto.KindStaff, Role: role, Name: name, PasswordHash: hash, Created: now, Updated: now}
	if err := r.changeLocked(ctx, map[string]*Entry{id: e}); err != nil {
		return Entry{}, err
	}
	r.audit(ctx, actor, "accounts.staff_add", id, nil, audited(e))
	return *e, nil
}

// HasAdmin reports whether an enabled account has the admin role.
func (r *Registry) HasAdmin(ctx context.Context) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries {
		if e.Role == r.o.AdminRole && e.canLogIn() {
			return true, nil
		}
	}
	return false, nil
}

// CreateAdmin creates the first admin (first-run setup): a staff account
// with the admin role, id = name. It is a conflict once an admin exists.
func (r *Registry) CreateAdmin(ctx context.Context, name, password string) error {
	if ok, err := r.HasAdmin(ctx); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: an admin exists already", ErrConflict)
	}
	_, err := r.AddStaff(ctx, "setup", name, name, r.o.AdminRole, password)
	return err
}

// SetPassword sets a staff account's password (a reset by an admin, or on
// the box's shell); its connections are closed.
func (r *Registry) SetPassword(ctx context.Context, actor, id, password string) error {
	if err := r.checkPassword(password); err != nil {
		return err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	return r.update(ctx, actor, "accounts.staff_reset_password", id, proto.KindStaff, func(e *Entry) error {
		e.PasswordHash = hash
		return nil
	})
}

// SetDisabled disables or enables a staff account. A disabled account
// cannot log in and its connections are closed at once.
func (r *Registry) SetDisabled(ctx context.Context, actor, id string, disabled bool) error {
	action := "accounts.staff_enable"
	if disabled {
		action = "accounts.staff_disable"
	}
	return r.update(ctx, actor, action, id, proto.KindStaff, func(e *Entry) error {
		if disabled && actor == id {
			return badf("you cannot disable your own account")
		}
		e.Disabled = disabled
		return nil
	})
}

// update changes one entry of kind with fn; a file entry changed here is
// the registry's from then on.
func (r *Registry) update(ctx context.Context, actor, action, id, kind string, fn func(*Entry) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.entries[id]
	if old == nil || old.Revoked || (kind != "" && old.Kind != kind) {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	e := *old
	if err := fn(&e); err != nil {
		return err
	}
	e.Source = ""
	e.Updated = r.o.Now().UTC()
	if err := r.changeLocked(ctx, map[string]*Entry{id: &e}); err != nil {
		return err
	}
	r.audit(ctx, actor, action, id, audited(old), audited(&e))
	return nil
}

// AddDevice adds a device of role that enrols with the returned pairing
// code before the entry's PairingUntil.
func (r *Registry) AddDevice(ctx context.Context, actor, role, name, room string) (Entry, string, error) {
	if !r.deviceRole(role) {
		return Entry{}, "", badf("role %q: want one of %v", role, r.o.DeviceRoles)
	}
	if err := checkName("name", name, true); err != nil {
		return Entry{}, "", err
	}
	if err := checkName("room", room, false); err != nil {
		return Entry{}, "", err
	}
	code, err := newCode()
	if err != nil {
		return Entry{}, "", fmt.Errorf("accounts: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id, err := r.newDeviceIDLocked(role)
	if err != nil {
		return Entry{}, "", err
	}
	now := r.o.Now().UTC()
	e := &Entry{ID: id, Kind: proto.KindDevice, Role: role, Name: name, Room: room,
		PairingHash: codeHash(code), PairingUntil: now.Add(r.o.PairingTTL), Created: now, Updated: now}
	if err := r.changeLocked(ctx, map[string]*Entry{id: e}); err != nil {
		return Entry{}, "", err
	}
	r.audit(ctx, actor, "accounts.device_add", id, nil, audited(e))
	return *e, code, nil
}

// UpdateDevice renames a device or moves it to another room (nil = keep).
func (r *Registry) UpdateDevice(ctx context.Context, actor, id string, name, room *string) error {
	if name != nil {
		if err := checkName("name", *name, true); err != nil {
			return err
		}
	}
	if room != nil {
		if err := checkName("room", *room, false); err != nil {
			return err
		}
	}
	return r.update(ctx, actor, "accounts.device_update", id, proto.KindDevice, func(e *Entry) error {
		if name != nil {
			e.Name = *name
		}
		if room != nil {
			e.Room = *room
		}
		return nil
	})
}

// Rotate kills a device's credentials now (it is disconnected) and returns
// a new pairing code it enrols with again.
func (r *Registry) Rotate(ctx context.Context, actor, id string) (Entry, string, error) {
	code, err := newCode()
	if err != nil {
		return Entry{}, "", fmt.Errorf("accounts: %w", err)
	}
	var out Entry
	err = r.update(ctx, actor, "accounts.device_rotate", id, proto.KindDevice, func(e *Entry) error {
		e.PasswordHash, e.CertCN = "", ""
		e.PairingHash, e.PairingUntil = codeHash(code), r.o.Now().UTC().Add(r.o.PairingTTL)
		out = *e
		return nil
	})
	if err != nil {
		return Entry{}, "", err
	}
	return out, code, nil
}

// Revoke ends a device for good: its credentials die, it is disconnected
// at once, and it stays listed as revoked.
func (r *Registry) Revoke(ctx context.Context, actor, id string) error {
	return r.update(ctx, actor, "accounts.device_revoke", id, proto.KindDevice, func(e *Entry) error {
		e.Revoked, e.PasswordHash, e.CertCN, e.PairingHash, e.PairingUntil = true, "", "", "", time.Time{}
		return nil
	})
}

// Redeem enrols a device with its pairing code: the code is used up and the
// device gets its id and a new random password, whose hash alone is kept.
// An unknown or used code is ErrNotFound, an expired one ErrExpired.
func (r *Registry) Redeem(ctx context.Context, code string) (Entry, string, error) {
	c := normCode(code)
	if c == "" {
		return Entry{}, "", fmt.Errorf("%w: pairing code", ErrNotFound)
	}
	h := codeHash(c)
	pw, err := newPassword()
	if err != nil {
		return Entry{}, "", fmt.Errorf("accounts: %w", err)
	}
	// bcrypt at a low cost would do for a random 192-bit password, but the
	// hook's checks are the same for every hash; HashPassword is the one.
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return Entry{}, "", fmt.Errorf("accounts: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.pairing[h]
	e := r.entries[id]
	// The map is keyed by the code's hash: its lookup time says nothing
	// about the code. The compare below is constant-time anyway.
	if !ok || e == nil || subtle.ConstantTimeCompare([]byte(e.PairingHash), []byte(h)) != 1 {
		return Entry{}, "", fmt.Errorf("%w: pairing code", ErrNotFound)
	}
	if !r.o.Now().Before(e.PairingUntil) {
		return Entry{}, "", ErrExpired
	}
	n := *e
	n.PasswordHash, n.PairingHash, n.PairingUntil, n.Updated = hash, "", time.Time{}, r.o.Now().UTC()
	if err := r.changeLocked(ctx, map[string]*Entry{id: &n}); err != nil {
		return Entry{}, "", err
	}
	return n, pw, nil
}
