package auth

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Account is one entry of the device registry as the hook sees it: who may
// log in, with which role and credentials. The registry itself (devices.yaml
// or the store's database, broker/accounts) builds these.
type Account struct {
	ID           string
	Role         string
	PasswordHash string // "" = certificate only
	CertCN       string // "" = password only
}

// ParseDevices validates a registry in the devices.yaml format against the
// roles of an ACL and returns its accounts, sorted by id. Its errors are those
// NewHook and Reload give for the same file.
func ParseDevices(devicesYAML, aclYAML []byte) ([]Account, error) {
	roles, err := parseACL(aclYAML)
	if err != nil {
		return nil, err
	}
	byID, _, err := parseDevices(devicesYAML, roles)
	if err != nil {
		return nil, err
	}
	return accountsOf(byID), nil
}

// ValidID reports whether id can be an account id: 1-64 letters, digits,
// '_', '.' or '-', starting with a letter or digit, without the customer
// prefix.
func ValidID(id string) bool {
	return deviceIDPattern.MatchString(id) && !strings.HasPrefix(strings.ToLower(id), CustomerPrefix)
}

func accountsOf(byID map[string]*device) []Account {
	out := make([]Account, 0, len(byID))
	for _, d := range byID {
		out = append(out, Account{ID: d.id, Role: d.role.name, PasswordHash: d.hash, CertCN: d.certCN})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// indexAccounts validates accounts against roles, as parseDevices does for
// the file.
func indexAccounts(accts []Account, roles map[string]*role) (map[string]*device, map[string]*device, error) {
	byID := make(map[string]*device, len(accts))
	byCN := make(map[string]*device)
	folded := make(map[string]string, len(accts))
	var errs []error
	for _, a := range accts {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("account %q: "+format, append([]any{a.ID}, args...)...))
		}
		if !ValidID(a.ID) {
			bad("not a valid account id")
			continue
		}
		if other, dup := folded[strings.ToLower(a.ID)]; dup {
			bad("same id as %q", other)
			continue
		}
		folded[strings.ToLower(a.ID)] = a.ID
		r := roles[a.Role]
		if r == nil {
			bad("role %q is not defined in the ACL (roles: %s)", a.Role, roleList(roles))
			continue
		}
		if a.PasswordHash != "" {
			if err := checkHash(a.PasswordHash); err != nil {
				bad("password hash: %w", err)
				continue
			}
		}
		d := &device{id: a.ID, role: r, hash: a.PasswordHash, certCN: a.CertCN}
		if a.CertCN != "" {
			if other, dup := byCN[a.CertCN]; dup {
				bad("cert_cn %q is already used by %q", a.CertCN, other.id)
				continue
			}
			byCN[a.CertCN] = d
		}
		byID[a.ID] = d
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return byID, byCN, nil
}

// HasRole reports whether the current ACL defines role.
func (h *Hook) HasRole(role string) bool {
	return h.pol.Load().roles[role] != nil
}

// Roles returns the roles of the current ACL, sorted.
func (h *Hook) Roles() []string {
	roles := h.pol.Load().roles
	out := make([]string, 0, len(roles))
	for n := range roles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Accounts returns the accounts of the current registry, sorted by id.
func (h *Hook) Accounts() []Account {
	return accountsOf(h.pol.Load().devices)
}

// SetAccounts replaces the registry with accts, keeping the ACL; a bad
// entry changes nothing. It applies at once: the connections of an account
// that is gone, or whose password hash or certificate name changed, are
// closed before it returns (MQTT 5 clients get DISCONNECT 0x87, not
// authorized), and a role change applies to the next publish, subscribe or
// delivery. It returns how many connections were closed.
func (h *Hook) SetAccounts(accts []Account) (int, error) {
	h.reloadMu.Lock()
	old := h.pol.Load()
	byID, byCN, err := indexAccounts(accts, old.roles)
	if err != nil {
		h.reloadMu.Unlock()
		return 0, fmt.Errorf("auth: %w", err)
	}
	p := &policy{roles: old.roles, devices: byID, byCN: byCN, anon: old.anon, cust: old.cust}
	h.pol.Store(p)
	h.clients.clear()
	h.reloadMu.Unlock()
	return h.disconnectChanged(old, p), nil
}

// ReloadACL replaces the ACL and the registry together (SIGHUP with the
// registry in the database): both valid, or nothing changes.
func (h *Hook) ReloadACL(acl []byte, accts []Account) (int, error) {
	if len(acl) == 0 {
		return 0, errors.New("auth: reload: ACL is empty")
	}
	roles, err := parseACL(acl)
	if err != nil {
		return 0, fmt.Errorf("auth: reload: %w", err)
	}
	byID, byCN, err := indexAccounts(accts, roles)
	if err != nil {
		return 0, fmt.Errorf("auth: reload: %w", err)
	}
	p := &policy{roles: roles, devices: byID, byCN: byCN}
	if h.anonRole != "" {
		if p.anon = roles[h.anonRole]; p.anon == nil {
			return 0, fmt.Errorf("auth: reload: acl: anonymous role %q is not defined (roles: %s)", h.anonRole, roleList(roles))
		}
	}
	p.cust = roles[h.custRole]
	h.reloadMu.Lock()
	if p.cust == nil && h.customers.Load() != nil {
		h.reloadMu.Unlock()
		return 0, fmt.Errorf("auth: reload: acl: customer role %q is not defined (roles: %s), and customers log in", h.custRole, roleList(roles))
	}
	old := h.pol.Load()
	h.pol.Store(p)
	h.clients.clear()
	h.reloadMu.Unlock()
	return h.disconnectChanged(old, p), nil
}

// disconnectChanged closes the connections of the accounts of old that p no
// longer has, or has with other credentials.
func (h *Hook) disconnectChanged(old, p *policy) int {
	n := 0
	for id, d := range old.devices {
		nd := p.devices[id]
		if nd != nil && nd.hash == d.hash && nd.certCN == d.certCN {
			continue
		}
		for _, cl := range h.conns.clients(id) {
			if cl.Closed() {
				continue
			}
			h.log.Info("auth: account removed, disabled or its credentials changed: disconnecting", "device", id, "client", cl.ID, "remote", cl.Net.Remote)
			_ = h.srv.DisconnectClient(cl, packets.ErrNotAuthorized) // returns the code itself
			n++
		}
	}
	return n
}

// Connected reports whether the account id has a connection now.
func (h *Hook) Connected(id string) bool {
	for _, cl := range h.conns.clients(id) {
		if !cl.Closed() {
			return true
		}
	}
	return false
}

// CheckAccounts validates accounts against the roles of an ACL, as
// ReloadACL would, without changing anything.
func CheckAccounts(aclYAML []byte, accts []Account) error {
	roles, err := parseACL(aclYAML)
	if err != nil {
		return err
	}
	_, _, err = indexAccounts(accts, roles)
	return err
}
