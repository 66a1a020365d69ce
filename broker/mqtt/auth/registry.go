package auth

import (
	"github.com/storeedge/storeedge/internal/strictyaml"

	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	deviceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

type devicesFile struct {
	Devices []deviceFile `yaml:"devices"`
}

type deviceFile struct {
	ID           string `yaml:"id"`
	Role         string `yaml:"role"`
	PasswordHash string `yaml:"password_hash"`
	CertCN       string `yaml:"cert_cn"`
}

// device is one validated registry entry.
type device struct {
	id     string
	role   *role
	hash   string // "" = certificate only
	certCN string // "" = password only
}

// policy is one immutable snapshot of the registry and the ACL; Reload swaps
// it atomically.
type policy struct {
	roles   map[string]*role
	devices map[string]*device // by id
	byCN    map[string]*device // by cert_cn
	anon    *role              // nil unless anonymous clients are allowed
	cust    *role              // the customer role; nil when the ACL lacks it (then no customer is identified)
}

// buildPolicy parses and validates both files. anonRole is the role for
// clients without credentials, "" when they are not allowed.
func buildPolicy(devicesYAML, aclYAML []byte, anonRole string) (*policy, error) {
	roles, err := parseACL(aclYAML)
	if err != nil {
		return nil, err
	}
	p := &policy{roles: roles}
	if anonRole != "" {
		if p.anon = roles[anonRole]; p.anon == nil {
			return nil, fmt.Errorf("acl: anonymous role %q is not defined (roles: %s)", anonRole, roleList(roles))
		}
	}
	if p.devices, p.byCN, err = parseDevices(devicesYAML, roles); err != nil {
		return nil, err
	}
	return p, nil
}

func parseDevices(b []byte, roles map[string]*role) (map[string]*device, map[string]*device, error) {
	var f devicesFile
	if err := strictyaml.DecodeFile("devices.yaml", b, &f); err != nil {
		return nil, nil, err
	}
	// A second pass over the node tree only to know each entry's line.
	var lines struct {
		Devices []yaml.Node `yaml:"devices"`
	}
	if err := strictyaml.Decode(b, &lines); err != nil {
		return nil, nil, fmt.Errorf("devices: %w", err)
	}
	line := func(i int) int {
		if i < len(lines.Devices) {
			return lines.Devices[i].Line
		}
		return 0
	}

	byID := make(map[string]*device, len(f.Devices))
	byCN := make(map[string]*device)
	folded := make(map[string]string, len(f.Devices))
	var errs []error
	for i, d := range f.Devices {
		where := fmt.Sprintf("devices: line %d: device %q", line(i), d.ID)
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s: "+format, append([]any{where}, a...)...))
		}
		if !deviceIDPattern.MatchString(d.ID) {
			bad("id must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
			continue
		}
		// Customer logins are recognised by the prefix; a device with it
		// would be taken for a customer, or a customer for it. Any case, as
		// ids differing only in case are refused too.
		if strings.HasPrefix(strings.ToLower(d.ID), CustomerPrefix) {
			bad("ids starting with %q are reserved for customers (scan-to-chat logins); rename the device", CustomerPrefix)
			continue
		}
		if other, dup := folded[strings.ToLower(d.ID)]; dup {
			if other == d.ID {
				bad("duplicate id")
			} else {
				bad("id differs from device %q only in upper/lower case", other)
			}
			continue
		}
		folded[strings.ToLower(d.ID)] = d.ID
		r := roles[d.Role]
		if r == nil {
			bad("role %q is not defined in the ACL (roles: %s)", d.Role, roleList(roles))
		}
		if d.PasswordHash == "" && d.CertCN == "" {
			bad("set password_hash, cert_cn or both, otherwise the device can never log in")
		}
		if d.PasswordHash != "" {
			if err := checkHash(d.PasswordHash); err != nil {
				bad("password_hash: %w", err)
			}
		}
		if d.CertCN != "" {
			if strings.TrimSpace(d.CertCN) != d.CertCN {
				bad("cert_cn %q has leading or trailing spaces", d.CertCN)
			} else if other, dup := byCN[d.CertCN]; dup {
				bad("cert_cn %q is already used by device %q", d.CertCN, other.id)
			}
		}
		dev := &device{id: d.ID, role: r, hash: d.PasswordHash, certCN: d.CertCN}
		byID[d.ID] = dev
		if d.CertCN != "" {
			if _, dup := byCN[d.CertCN]; !dup {
				byCN[d.CertCN] = dev
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return byID, byCN, nil
}

func roleList(roles map[string]*role) string {
	names := make([]string, 0, len(roles))
	for n := range roles {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
