// Package setup runs the store's first run: while the store has no admin
// account, the broker prints a one-time setup address with a random code,
// and the owner opens it in a browser (the page /setup/) to set the store's
// name, time zone, languages and kind of shop and the first admin's name
// and password. Picking the kind installs a starter catalogue and FAQ.
//
// The code is new at each start, valid until used, compared in constant
// time and never logged or counted once used. A wrong or used code is
// answered 403 and changes nothing; attempts are rate-limited per address
// and in total.
package setup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/storeedge/storeedge/broker/quota"
	"github.com/storeedge/storeedge/broker/settings"
)

// Admins is the account registry as the setup needs it: whether an admin
// exists, and creating the first one.
type Admins interface {
	HasAdmin(ctx context.Context) (bool, error)
	CreateAdmin(ctx context.Context, name, password string) error
}

// Catalogs replaces the store's bookable catalogue (services.yaml format).
type Catalogs interface {
	ReplaceCatalog(ctx context.Context, yaml []byte) error
}

// FAQ replaces the store's FAQ (faq.yaml format).
type FAQ interface {
	ReplaceFAQ(ctx context.Context, yaml []byte) error
}

// Auditor records an admin action once it is durable.
type Auditor interface {
	Audit(ctx context.Context, actor, action, target string, before, after any) error
}

// Options configure New.
type Options struct {
	// Admins is the account registry; nil turns the setup off.
	Admins Admins
	// Settings stores what the owner sets.
	Settings *settings.Store
	// Catalogs installs the starter catalogue; nil: not installed (logged).
	Catalogs Catalogs
	// FAQ installs the starter FAQ; nil: not installed (logged).
	FAQ FAQ
	// Auditor records the setup; nil = none.
	Auditor Auditor
	// MinPasswordLength is the shortest admin password the registry takes
	// (accounts.min_password_length); 0: MinPasswordBytes. Checked here so
	// that a short one is refused at its field before anything is saved.
	MinPasswordLength int
	// AttemptsPerMinute bounds setup requests from one address, and
	// AttemptsTotalPerMinute from all addresses together.
	AttemptsPerMinute      int
	AttemptsTotalPerMinute int
	Now                    func() time.Time
	Log                    *slog.Logger
}

// Setup is the first run's state.
type Setup struct {
	o Options

	perAddr, total *quota.Limiter

	mu   sync.Mutex
	code []byte // sha256 of the code; nil once used or when no setup is needed
	done bool
}

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// New checks whether the store has an admin; when it has none it makes a
// new setup code, returned here once (the caller prints it) and never
// again. code is "" when no setup is needed or the setup is off.
func New(ctx context.Context, o Options) (s *Setup, code string, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s = &Setup{o: o,
		perAddr: quota.New(quota.Options{Name: "setup_attempts_per_address", Unit: "attempts", Per: int64(o.AttemptsPerMinute), Window: time.Minute, Now: o.Now, Log: o.Log}),
		total:   quota.New(quota.Options{Name: "setup_attempts", Unit: "attempts", Per: int64(o.AttemptsTotalPerMinute), Window: time.Minute, Now: o.Now, Log: o.Log}),
	}
	if o.Admins == nil {
		s.done = true
		return s, "", nil
	}
	if o.Settings == nil {
		return nil, "", errors.New("setup: no settings store")
	}
	has, err := o.Admins.HasAdmin(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("setup: %w", err)
	}
	if has {
		s.done = true
		return s, "", nil
	}
	var raw [20]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("setup: code: %w", err)
	}
	code = strings.ToLower(codeEncoding.EncodeToString(raw[:]))
	h := sha256.Sum256([]byte(code))
	s.code = h[:]
	return s, code, nil
}

// Limiters are the setup's rate limits (per address, in total), for the
// metrics.
func (s *Setup) Limiters() []*quota.Limiter { return []*quota.Limiter{s.perAddr, s.total} }

// Pending reports whether the setup is still waiting for its code.
func (s *Setup) Pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code != nil
}

// codeOK compares code with the setup's in constant time (both hashed, so
// the length does not show either).
func (s *Setup) codeOK(code string) bool {
	if s.code == nil {
		return false
	}
	h := sha256.Sum256([]byte(code))
	return subtle.ConstantTimeCompare(h[:], s.code) == 1
}

// Request is what the setup page sends.
type Request struct {
	Code          string   `json:"code"`
	Name          string   `json:"name"`
	TimeZone      string   `json:"time_zone"`
	Languages     []string `json:"languages"`
	Kind          string   `json:"kind"`
	AdminName     string   `json:"admin_name"`
	AdminPassword string   `json:"admin_password"`
}

// Result is what a successful setup saved.
type Result struct {
	Settings settings.Settings
	Admin    string
}

// ErrForbidden: a wrong code, or the setup is over.
var ErrForbidden = errors.New("setup: wrong or used setup code")

// Apply runs a setup request: the code must match (ErrForbidden), the
// fields must be valid (a *FieldError); then the starter catalogue and
// FAQ of the kind, the settings and the admin are saved, in that order
// (the admin last: once it exists the setup is over, and a failure before
// it can be retried with the same code). The code is then used up.
func (s *Setup) Apply(ctx context.Context, r Request) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.codeOK(r.Code) {
		return Result{}, ErrForbidden
	}
	if err := Validate(&r, s.o.MinPasswordLength); err != nil {
		return Result{}, err
	}
	has, err := s.o.Admins.HasAdmin(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("setup: %w", err)
	}
	if has { // an admin was added by other means meanwhile: the setup is over
		s.code, s.done = nil, true
		return Result{}, ErrForbidden
	}
	services, faqYAML, err := Starter(r.Kind, r.TimeZone, r.Languages[0])
	if err != nil {
		return Result{}, err
	}
	if s.o.Catalogs != nil {
		if err := s.o.Catalogs.ReplaceCatalog(ctx, services); err != nil {
			return Result{}, fmt.Errorf("setup: install the starter catalogue: %w", err)
		}
	} else {
		s.o.Log.Warn("setup: the starter catalogue was not installed: this build has no editable catalogue", "kind", r.Kind)
	}
	if s.o.FAQ != nil {
		if err := s.o.FAQ.ReplaceFAQ(ctx, faqYAML); err != nil {
			return Result{}, fmt.Errorf("setup: install the starter FAQ: %w", err)
		}
	} else {
		s.o.Log.Warn("setup: the starter FAQ was not installed: no editable FAQ", "kind", r.Kind)
	}
	before, _, err := s.o.Settings.Get()
	if err != nil {
		return Result{}, err
	}
	saved, err := s.o.Settings.Put(ctx, settings.Settings{Name: r.Name, TimeZone: r.TimeZone, Languages: r.Languages, Kind: r.Kind})
	if err != nil {
		return Result{}, err
	}
	if err := s.o.Admins.CreateAdmin(ctx, r.AdminName, r.AdminPassword); err != nil {
		return Result{}, fmt.Errorf("setup: create the admin: %w", err)
	}
	s.code, s.done = nil, true
	s.o.Log.Info("setup: the store is set up; the setup address no longer works", "store", saved.Name, "kind", saved.Kind, "admin", r.AdminName)
	if s.o.Auditor != nil {
		if err := s.o.Auditor.Audit(ctx, r.AdminName, "store.setup", "settings", before, saved); err != nil {
			s.o.Log.Warn("setup: could not record the setup in the audit log", "err", err)
		}
	}
	return Result{Settings: saved, Admin: r.AdminName}, nil
}
