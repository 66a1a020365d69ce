// Package accounts is the store's account registry, kept in the store's
// database: staff accounts and devices, their roles, names, rooms, password
// hashes, certificate names and state, and the pairing codes devices enrol
// with. Every change is durable first, then applied to the auth hook at once
// (no SIGHUP): an account revoked, disabled or given new credentials is
// disconnected before the change returns.
//
// auth.devices_file (devices.yaml) still works: its entries are imported at
// start and on SIGHUP (SyncFile) and stay managed by the file until they are
// changed here; `storeedge devices export` writes the registry back in that
// format.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/proto"
)

// Buckets of the registry.
var (
	bAccounts = []byte("accounts")         // id -> Entry (JSON, sealed)
	bPairing  = []byte("accounts_pairing") // sha256(code) hex -> id
	bSeen     = []byte("accounts_seen")    // id -> seen (JSON, sealed)
)

// Defaults of Options.
const (
	DefaultPairingTTL        = 10 * time.Minute
	DefaultMinPasswordLength = 10
	DefaultEnrollPerMinute   = 10
	DefaultEnrollTotalPerMin = 60
)

// Default roles of Options.
var (
	DefaultStaffRoles  = []string{"staff", "admin"}
	DefaultDeviceRoles = []string{"kiosk", "chat-tablet", "camera"}
)

// SourceFile marks an entry managed by auth.devices_file.
const SourceFile = "file"

// DB is the store (broker/store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	UpdateAsync(fn func(*bolt.Tx) error, onErr func(error))
	View(fn func(*bolt.Tx) error) error
}

// Hook is what the registry needs of the auth hook (auth.Hook).
type Hook interface {
	SetAccounts(accts []auth.Account) (int, error)
	ReloadACL(acl []byte, accts []auth.Account) (int, error)
	HasRole(role string) bool
	Connected(id string) bool
}

// Sealer encrypts records at rest (internal/seal.Keyring); additionalData
// is authenticated, not stored.
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// put and get write and read a record of bucket b as sealed JSON (plain
// JSON without a Sealer): names, addresses and password hashes are not
// left in the clear in the database file.
func put(tx *bolt.Tx, seal Sealer, b []byte, id string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if seal != nil {
		if raw, err = seal.Seal(raw, ad(b, id)); err != nil {
			return fmt.Errorf("accounts: seal %s: %w", id, err)
		}
	}
	return tx.Bucket(b).Put([]byte(id), raw)
}

func get(seal Sealer, b []byte, id string, raw []byte, v any) error {
	if seal != nil {
		var err error
		if raw, err = seal.Open(raw, ad(b, id)); err != nil {
			return fmt.Errorf("accounts: open %s: %w", id, err)
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("accounts: %s: %w", id, err)
	}
	return nil
}

func ad(b []byte, id string) []byte { return []byte(string(b) + "/" + id) }

// Auditor records an admin action once it is durable. Implemented elsewhere;
// nil = none.
type Auditor interface {
	Audit(ctx context.Context, actor, action, target string, before, after any) error
}

// Options configure Open.
type Options struct {
	DB   DB
	Hook Hook
	// Now is the store's clock (pairing codes expire on it); nil = time.Now.
	Now func() time.Time
	// PairingTTL is how long a pairing code is valid (default 10 min).
	PairingTTL time.Duration
	// MinPasswordLength is the shortest staff password (default 10).
	MinPasswordLength int
	// StaffRoles are the roles a staff account may have (default staff,
	// admin); DeviceRoles those of a device added for enrolment (default
	// kiosk, chat-tablet, camera). Each must be in the ACL.
	StaffRoles  []string
	DeviceRoles []string
	// AdminRole is the role of the first admin (default "admin").
	AdminRole string
	// Auditor, when set, is told of every admin action.
	Auditor Auditor
	// Seal, when set, encrypts the records at rest.
	Seal Sealer
	Log  *slog.Logger
}

// Entry is one account as stored.
type Entry struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"` // proto.KindDevice or proto.KindStaff
	Role         string    `json:"role"`
	Name         string    `json:"name,omitempty"`
	Room         string    `json:"room,omitempty"`
	PasswordHash string    `json:"password_hash,omitempty"`
	CertCN       string    `json:"cert_cn,omitempty"`
	Disabled     bool      `json:"disabled,omitempty"`
	Revoked      bool      `json:"revoked,omitempty"` // kept so that a file sync does not bring it back
	Source       string    `json:"source,omitempty"`  // SourceFile, or "" (managed here)
	PairingHash  string    `json:"pairing_hash,omitempty"`
	PairingUntil time.Time `json:"pairing_until,omitzero"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// seen is what the store last saw of an account.
type seen struct {
	At      time.Time `json:"at"`
	Address string    `json:"address,omitempty"`
	App     string    `json:"app,omitempty"`
}

// canLogIn reports whether the entry gives the hook an account.
func (e *Entry) canLogIn() bool {
	return !e.Disabled && !e.Revoked && (e.PasswordHash != "" || e.CertCN != "")
}

// Errors of the registry's Go API; the ops answer them with their codes.
var (
	ErrNotFound = errors.New("accounts: no such account")
	ErrConflict = errors.New("accounts: conflict")
	ErrBadInput = errors.New("accounts: bad input")
	ErrExpired  = errors.New("accounts: pairing code expired")
)

// Registry is the account registry.
type Registry struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex // serialises changes; guards the maps
	entries map[string]*Entry
	// ids are the ids of entries, read without mu: SeenApp runs in the
	// broker's delivery of a status, which a disconnect made while mu is
	// held (a Last Will) may cause.
	ids     atomic.Pointer[map[string]bool]
	pairing map[string]string // code hash -> id
	seenMu  sync.Mutex
	seen    map[string]seen
	// auditor is SetAuditor's, for an audit log made after the registry
	// (the broker opens accounts before its services).
	auditor atomic.Pointer[auditorBox]
	// shopInfo is SetShopInfo's.
	shopInfo atomic.Pointer[shopInfoBox]
}

type auditorBox struct{ a Auditor }

// ShopInfoFiler files what HQ knows of the shop, the staff list included
// (StaffIn), in the transaction that changes a member of staff
// (broker/services/hqlink).
type ShopInfoFiler interface {
	FileShopInfo(tx *bolt.Tx) error
}

type shopInfoBox struct{ f ShopInfoFiler }

// SetShopInfo sets the filer called in the transaction of every change to
// a member of staff (the services that build the shop come after the
// registry).
func (r *Registry) SetShopInfo(f ShopInfoFiler) { r.shopInfo.Store(&shopInfoBox{f}) }

// StaffIn lists the members of staff in tx, by id, as HQ sees them: id,
// name and role, no credentials; revoked and disabled accounts are left
// out. It takes no lock: it may run inside any package's transaction.
func (r *Registry) StaffIn(tx *bolt.Tx) ([]proto.StaffMember, error) {
	out := []proto.StaffMember{}
	b := tx.Bucket(bAccounts)
	if b == nil {
		return out, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var e Entry
		if err := get(r.o.Seal, bAccounts, string(k), v, &e); err != nil {
			return fmt.Errorf("accounts: read %s: %w", k, err)
		}
		if e.Kind == proto.KindStaff && !e.Revoked && !e.Disabled {
			out = append(out, proto.StaffMember{ID: e.ID, Name: e.Name, Role: e.Role})
		}
		return nil
	})
	return out, err
}

// SetAuditor sets the Auditor when Options.Auditor was not set.
func (r *Registry) SetAuditor(a Auditor) { r.auditor.Store(&auditorBox{a}) }

// Open loads the registry from the database. It does not touch the hook:
// call Apply (or SyncFile) once the hook is ready.
func Open(ctx context.Context, o Options) (*Registry, error) {
	if o.DB == nil || o.Hook == nil {
		return nil, errors.New("accounts: Options.DB and Options.Hook are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PairingTTL <= 0 {
		o.PairingTTL = DefaultPairingTTL
	}
	if o.MinPasswordLength <= 0 {
		o.MinPasswordLength = DefaultMinPasswordLength
	}
	if len(o.StaffRoles) == 0 {
		o.StaffRoles = DefaultStaffRoles
	}
	if len(o.DeviceRoles) == 0 {
		o.DeviceRoles = DefaultDeviceRoles
	}
	if o.AdminRole == "" {
		o.AdminRole = "admin"
	}
	r := &Registry{o: o, log: o.Log, entries: map[string]*Entry{}, pairing: map[string]string{}, seen: map[string]seen{}}
	if r.log == nil {
		r.log = slog.Default()
	}
	if err := o.DB.Update(ctx, func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bAccounts, bPairing, bSeen} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("accounts: create buckets: %w", err)
	}
	err := o.DB.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bAccounts).ForEach(func(k, v []byte) error {
			e := &Entry{}
			if err := get(o.Seal, bAccounts, string(k), v, e); err != nil {
				return err
			}
			r.entries[e.ID] = e
			if e.PairingHash != "" {
				r.pairing[e.PairingHash] = e.ID
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bSeen).ForEach(func(k, v []byte) error {
			var s seen
			if get(o.Seal, bSeen, string(k), v, &s) == nil {
				r.seen[string(k)] = s
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: load: %w", err)
	}
	r.storeIDsLocked()
	return r, nil
}

// Empty reports whether the registry has no account at all.
func (r *Registry) Empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries) == 0
}

// accountsLocked is what the hook gets: the accounts that can log in.
func (r *Registry) accountsLocked() []auth.Account {
	out := make([]auth.Account, 0, len(r.entries))
	for _, e := range r.entries {
		if e.canLogIn() {
			out = append(out, auth.Account{ID: e.ID, Role: e.Role, PasswordHash: e.PasswordHash, CertCN: e.CertCN})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Accounts returns the accounts that can log in, as the hook has them.
func (r *Registry) Accounts() []auth.Account {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accountsLocked()
}

// Apply hands the registry to the hook.
func (r *Registry) Apply() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.o.Hook.SetAccounts(r.accountsLocked())
	return err
}

// Entries returns a copy of every entry, sorted by id.
func (r *Registry) Entries() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns a copy of one entry.
func (r *Registry) Get(id string) (Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[id]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// change writes the entries in next (nil value = delete) and the pairing
// keys, durably, then updates the cache and the hook. Call with r.mu held.
func (r *Registry) changeLocked(ctx context.Context, next map[string]*Entry) error {
	if err := r.saveLocked(ctx, next); err != nil {
		return err
	}
	if _, err := r.o.Hook.SetAccounts(r.accountsLocked()); err != nil {
		// The entries were validated before; a failure here is a bug or an
		// ACL reloaded without a role in use. Say so: logins still use the
		// previous registry.
		r.log.Error("accounts: the auth hook refused the registry; logins use the previous one", "err", err)
		return fmt.Errorf("accounts: apply: %w", err)
	}
	return nil
}

// saveLocked writes next durably and updates the cache.
func (r *Registry) saveLocked(ctx context.Context, next map[string]*Entry) error {
	// The filer is set once the services run (SetShopInfo): the devices
	// file's sync at start is in the snapshot the link files when it is
	// configured; every change after that to a member of staff is filed now.
	staff := false
	for id, e := range next {
		if old := r.entries[id]; (old != nil && old.Kind == proto.KindStaff) || (e != nil && e.Kind == proto.KindStaff) {
			staff = true
		}
	}
	err := r.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		b, pb := tx.Bucket(bAccounts), tx.Bucket(bPairing)
		for id, e := range next {
			if old := r.entries[id]; old != nil && old.PairingHash != "" && (e == nil || e.PairingHash != old.PairingHash) {
				if err := pb.Delete([]byte(old.PairingHash)); err != nil {
					return err
				}
			}
			if e == nil {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
				continue
			}
			if err := put(tx, r.o.Seal, bAccounts, id, e); err != nil {
				return err
			}
			if e.PairingHash != "" {
				if err := pb.Put([]byte(e.PairingHash), []byte(id)); err != nil {
					return err
				}
			}
		}
		if f := r.shopInfo.Load(); staff && f != nil && f.f != nil {
			if err := f.f.FileShopInfo(tx); err != nil {
				return fmt.Errorf("accounts: shop info for HQ: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("accounts: save: %w", err)
	}
	for id, e := range next {
		if old := r.entries[id]; old != nil && old.PairingHash != "" {
			delete(r.pairing, old.PairingHash)
		}
		if e == nil {
			delete(r.entries, id)
			continue
		}
		r.entries[id] = e
		if e.PairingHash != "" {
			r.pairing[e.PairingHash] = id
		}
	}
	r.storeIDsLocked()
	return nil
}

func (r *Registry) storeIDsLocked() {
	ids := make(map[string]bool, len(r.entries))
	for id := range r.entries {
		ids[id] = true
	}
	r.ids.Store(&ids)
}

// SyncFile makes the entries managed by auth.devices_file match accts (the
// file, parsed by auth.ParseDevices): entries from the file are added or
// updated, those the file no longer lists are removed. Entries changed here
// (in the console) are the registry's and are left alone, revoked ones too.
// With acl (SIGHUP), the hook gets the new ACL with the accounts, both
// checked before anything is written. It returns how many entries it added,
// updated and removed.
func (r *Registry) SyncFile(ctx context.Context, accts []auth.Account, acl []byte) (added, updated, removed int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.o.Now().UTC()
	next := map[string]*Entry{}
	inFile := map[string]bool{}
	for _, a := range accts {
		inFile[strings.ToLower(a.ID)] = true
		old := r.lookupFoldLocked(a.ID)
		switch {
		case old == nil:
			next[a.ID] = &Entry{ID: a.ID, Kind: kindOf(a.Role), Role: a.Role, PasswordHash: a.PasswordHash, CertCN: a.CertCN,
				Source: SourceFile, Created: now, Updated: now}
			added++
		case old.Source != SourceFile:
			if old.ID == a.ID && (old.Role != a.Role || old.PasswordHash != a.PasswordHash || old.CertCN != a.CertCN) && !old.Revoked {
				r.log.Warn("accounts: devices_file lists an account that is managed in the console; the file's entry is ignored", "device", a.ID)
			}
		case old.Role != a.Role || old.PasswordHash != a.PasswordHash || old.CertCN != a.CertCN:
			e := *old
			e.Role, e.PasswordHash, e.CertCN, e.Updated = a.Role, a.PasswordHash, a.CertCN, now
			next[e.ID] = &e
			updated++
		}
	}
	for id, e := range r.entries {
		if e.Source == SourceFile && !inFile[strings.ToLower(id)] {
			next[id] = nil
			removed++
		}
	}
	if acl != nil {
		if err := auth.CheckAccounts(acl, r.accountsWithLocked(next)); err != nil {
			return 0, 0, 0, err
		}
	}
	if len(next) > 0 {
		if err := r.saveLocked(ctx, next); err != nil {
			return 0, 0, 0, err
		}
	}
	if acl != nil {
		_, err = r.o.Hook.ReloadACL(acl, r.accountsLocked())
	} else {
		_, err = r.o.Hook.SetAccounts(r.accountsLocked())
	}
	if err != nil {
		return 0, 0, 0, err
	}
	return added, updated, removed, nil
}

// accountsWithLocked is accountsLocked after next is applied.
func (r *Registry) accountsWithLocked(next map[string]*Entry) []auth.Account {
	var out []auth.Account
	for id, e := range r.entries {
		if _, changed := next[id]; !changed && e.canLogIn() {
			out = append(out, auth.Account{ID: e.ID, Role: e.Role, PasswordHash: e.PasswordHash, CertCN: e.CertCN})
		}
	}
	for _, e := range next {
		if e != nil && e.canLogIn() {
			out = append(out, auth.Account{ID: e.ID, Role: e.Role, PasswordHash: e.PasswordHash, CertCN: e.CertCN})
		}
	}
	return out
}

func (r *Registry) lookupFoldLocked(id string) *Entry {
	if e := r.entries[id]; e != nil {
		return e
	}
	for k, e := range r.entries {
		if strings.EqualFold(k, id) {
			return e
		}
	}
	return nil
}

// kindOf guesses the kind of an entry imported from the file.
func kindOf(role string) string {
	switch role {
	case "staff", "admin":
		return proto.KindStaff
	}
	return proto.KindDevice
}

// Seen records a login (auth.Options.OnLogin): when and from where. It does
// not block; the record is written in the background.
func (r *Registry) Seen(id, remote string) {
	r.seenMu.Lock()
	s := r.seen[id]
	s.At, s.Address = r.o.Now().UTC(), hostOf(remote)
	r.seen[id] = s
	r.seenMu.Unlock()
	r.saveSeen(id, s)
}

// SeenApp records the app version a device reports (an account the
// registry does not have is ignored).
func (r *Registry) SeenApp(id, app string) {
	if len(app) > 64 {
		app = app[:64]
	}
	if ids := r.ids.Load(); ids == nil || !(*ids)[id] || !utf8.ValidString(app) {
		return
	}
	r.seenMu.Lock()
	s, ok := r.seen[id]
	if ok && s.App == app {
		r.seenMu.Unlock()
		return
	}
	s.App = app
	r.seen[id] = s
	r.seenMu.Unlock()
	r.saveSeen(id, s)
}

func (r *Registry) saveSeen(id string, s seen) {
	r.o.DB.UpdateAsync(func(tx *bolt.Tx) error {
		return put(tx, r.o.Seal, bSeen, id, s)
	}, func(err error) { r.log.Debug("accounts: recording a login failed", "device", id, "err", err) })
}

func hostOf(remote string) string {
	if i := strings.LastIndexByte(remote, ':'); i > 0 && !strings.HasSuffix(remote, "]") {
		return strings.Trim(remote[:i], "[]")
	}
	return remote
}

// Info is an entry as the console sees it: no credential.
func (r *Registry) Info(e *Entry) proto.AccountInfo {
	r.seenMu.Lock()
	s := r.seen[e.ID]
	r.seenMu.Unlock()
	in := proto.AccountInfo{ID: e.ID, Kind: e.Kind, Role: e.Role, Name: e.Name, Room: e.Room, CertCN: e.CertCN,
		Disabled: e.Disabled, Revoked: e.Revoked, Pending: !e.Revoked && e.PasswordHash == "" && e.CertCN == "",
		FromFile: e.Source == SourceFile, Online: r.o.Hook.Connected(e.ID),
		Created: rfc(e.Created), Updated: rfc(e.Updated), LastSeen: rfc(s.At), Address: s.Address, AppVersion: s.App}
	if e.PairingHash != "" {
		in.CodeExpires = rfc(e.PairingUntil)
	}
	return in
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// codeAlphabet has no 0/O, 1/I/L: read aloud or typed, nothing is mistaken.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// CodeLength is the length of a pairing code.
const CodeLength = 8

func newCode() (string, error) {
	var b strings.Builder
	n := big.NewInt(int64(len(codeAlphabet)))
	for range CodeLength {
		i, err := rand.Int(rand.Reader, n)
		if err != nil {
			return "", err
		}
		b.WriteByte(codeAlphabet[i.Int64()])
	}
	return b.String(), nil
}

// normCode upper-cases a typed code and drops spaces and dashes; "" when it
// cannot be a code.
func normCode(s string) string {
	s = strings.ToUpper(strings.NewReplacer(" ", "", "-", "").Replace(s))
	if len(s) != CodeLength {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(codeAlphabet, rune(s[i])) {
			return ""
		}
	}
	return s
}

func codeHash(code string) string {
	h := sha256.Sum256([]byte("storeedge-pairing:" + code))
	return hex.EncodeToString(h[:])
}

// newPassword is a device's random password: 24 random bytes as 32
// URL-safe characters.
func newPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := make([]byte, 32)
	for i := range out {
		// 4 characters from 3 bytes, 6 bits each.
		j := i / 4 * 3
		v := uint(b[j])<<16 | uint(b[j+1])<<8 | uint(b[j+2])
		out[i] = a[(v>>(18-6*(i%4)))&63]
	}
	return string(out), nil
}

// newDeviceID is "<role>-<6 random letters and digits>".
func (r *Registry) newDeviceIDLocked(role string) (string, error) {
	const a = "abcdefghjkmnpqrstuvwxyz23456789"
	n := big.NewInt(int64(len(a)))
	for range 10 {
		var b strings.Builder
		b.WriteString(role)
		b.WriteByte('-')
		for range 6 {
			i, err := rand.Int(rand.Reader, n)
			if err != nil {
				return "", err
			}
			b.WriteByte(a[i.Int64()])
		}
		id := b.String()
		if r.lookupFoldLocked(id) == nil && auth.ValidID(id) {
			return id, nil
		}
	}
	return "", errors.New("accounts: no free device id")
}

func (r *Registry) staffRole(role string) bool {
	return slices.Contains(r.o.StaffRoles, role) && r.o.Hook.HasRole(role)
}

func (r *Registry) deviceRole(role string) bool {
	return slices.Contains(r.o.DeviceRoles, role) && r.o.Hook.HasRole(role)
}

func (r *Registry) audit(ctx context.Context, actor, action, target string, before, after any) {
	a := r.o.Auditor
	if box := r.auditor.Load(); a == nil && box != nil {
		a = box.a
	}
	if a == nil {
		return
	}
	if err := a.Audit(ctx, actor, action, target, before, after); err != nil {
		r.log.Warn("accounts: audit record failed", "action", action, "target", target, "err", err)
	}
}

// audited is an entry as the audit sees it: no hash, no pairing code.
func audited(e *Entry) any {
	if e == nil {
		return nil
	}
	return map[string]any{"id": e.ID, "kind": e.Kind, "role": e.Role, "name": e.Name, "room": e.Room,
		"disabled": e.Disabled, "revoked": e.Revoked, "cert_cn": e.CertCN}
}

// EntriesOffline reads the entries of a stopped store's database.
func EntriesOffline(tx *bolt.Tx, seal Sealer) ([]Entry, error) {
	var out []Entry
	b := tx.Bucket(bAccounts)
	if b == nil {
		return nil, nil
	}
	err := b.ForEach(func(k, v []byte) error {
		var e Entry
		if err := get(seal, bAccounts, string(k), v, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// SetHashOffline sets a staff account's password hash in a stopped store's
// database (`storeedge admin reset-password` with the daemon stopped).
func SetHashOffline(tx *bolt.Tx, seal Sealer, id, hash string, now time.Time) error {
	b := tx.Bucket(bAccounts)
	var v []byte
	if b != nil {
		v = b.Get([]byte(id))
	}
	if v == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	var e Entry
	if err := get(seal, bAccounts, id, v, &e); err != nil {
		return err
	}
	if e.Kind != proto.KindStaff || e.Revoked {
		return fmt.Errorf("%w: %q is not a staff account", ErrNotFound, id)
	}
	e.PasswordHash, e.Source, e.Updated = hash, "", now.UTC()
	return put(tx, seal, bAccounts, id, &e)
}
