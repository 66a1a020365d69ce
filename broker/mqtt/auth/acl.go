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

// ACL file format (configs/acl.yaml documents it for operators):
//
//	roles:
//	  <role>:
//	    description: text
//	    publish:   [filters]
//	    retain:    [filters]   # retained publishes (and retained wills) need this too
//	    subscribe: [filters]
//	    deny:      [filters]   # win over the grants, for publish and subscribe
//
// Filters use MQTT syntax; "%c" (client id), "%u" (username = device or
// customer id) and "%m" (a value the Membership checker approves, e.g. a
// conversation the client is a member of) are placeholders that must fill a
// whole level. %m is not allowed in retain or deny and at most once per filter.
//
// A deny filter refuses a publish to a topic it matches, a subscription it
// covers entirely (filterWithin) and the delivery of a topic it matches on a
// wider subscription. Grants are never widened by a placeholder that has no
// value; denies are never narrowed by one (see template.expandDeny).

var roleNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

type aclFile struct {
	Roles map[string]roleFile `yaml:"roles"`
}

type roleFile struct {
	Description string      `yaml:"description"`
	Publish     []yaml.Node `yaml:"publish"`
	Retain      []yaml.Node `yaml:"retain"`
	Subscribe   []yaml.Node `yaml:"subscribe"`
	Deny        []yaml.Node `yaml:"deny"`
}

// role is one compiled role: its grant and deny templates, placeholders
// still in place.
type role struct {
	name      string
	publish   []template
	retain    []template
	subscribe []template
	deny      []template
}

// template is one grant or deny filter as written in the ACL.
type template struct {
	filter string   // as written, e.g. "reply/%c/#"
	levels []string // split on '/', for substitution
	client bool     // contains %c
	user   bool     // contains %u
	member int      // level index of %m, -1 = none
}

// expand substitutes %c and %u. %m cannot be substituted in advance (its
// value is whatever the checked topic has at that level), so it becomes "+"
// and the grant is only usable through a membership check (memberGrant). ok
// is false when a needed value cannot be substituted without widening the
// grant (empty, or containing '/', '+', '#'): such a grant is dropped, never
// widened.
func (t template) expand(clientID, username string) (string, bool) {
	if !t.client && !t.user && t.member < 0 {
		return t.filter, true
	}
	if (t.client && !validLevelValue(clientID)) || (t.user && !validLevelValue(username)) {
		return "", false
	}
	out := make([]string, len(t.levels))
	for i, l := range t.levels {
		switch l {
		case "%c":
			out[i] = clientID
		case "%u":
			out[i] = username
		case "%m":
			out[i] = "+"
		default:
			out[i] = l
		}
	}
	return strings.Join(out, "/"), true
}

// expandDeny substitutes %c and %u in a deny filter (%m is refused in deny at
// load). Where a value cannot be substituted as one literal level (an
// anonymous client has no username), the level becomes "+": a deny is
// widened rather than dropped, so a missing value never lifts it.
func (t template) expandDeny(clientID, username string) string {
	if !t.client && !t.user {
		return t.filter
	}
	out := make([]string, len(t.levels))
	for i, l := range t.levels {
		switch {
		case l == "%c" && validLevelValue(clientID):
			out[i] = clientID
		case l == "%u" && validLevelValue(username):
			out[i] = username
		case l == "%c" || l == "%u":
			out[i] = "+"
		default:
			out[i] = l
		}
	}
	return strings.Join(out, "/")
}

// parseACL decodes and validates an ACL file.
func parseACL(b []byte) (map[string]*role, error) {
	var f aclFile
	if err := strictyaml.DecodeFile("acl.yaml", b, &f); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(f.Roles))
	for name := range f.Roles {
		names = append(names, name)
	}
	sort.Strings(names)

	roles := make(map[string]*role, len(f.Roles))
	var errs []error
	for _, name := range names {
		rf := f.Roles[name]
		if !roleNamePattern.MatchString(name) {
			errs = append(errs, fmt.Errorf("acl: role %q: use 1-32 lower-case letters, digits, '-' or '_', starting with a letter", name))
			continue
		}
		r := &role{name: name}
		var err error
		if r.publish, err = compileList(name, "publish", rf.Publish); err != nil {
			errs = append(errs, err)
		}
		if r.retain, err = compileList(name, "retain", rf.Retain); err != nil {
			errs = append(errs, err)
		}
		if r.subscribe, err = compileList(name, "subscribe", rf.Subscribe); err != nil {
			errs = append(errs, err)
		}
		if r.deny, err = compileList(name, "deny", rf.Deny); err != nil {
			errs = append(errs, err)
		}
		for i, rt := range r.retain {
			if !coveredByAny(rt.filter, r.publish) {
				errs = append(errs, fmt.Errorf("acl: role %q: retain filter %q (line %d) is not covered by any publish filter of the role",
					name, rt.filter, rf.Retain[i].Line))
			}
		}
		roles[name] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return roles, nil
}

func coveredByAny(f string, ts []template) bool {
	for _, t := range ts {
		if filterWithin(f, t.filter) {
			return true
		}
	}
	return false
}

func compileList(roleName, list string, nodes []yaml.Node) ([]template, error) {
	out := make([]template, 0, len(nodes))
	var errs []error
	for i := range nodes {
		n := &nodes[i]
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "") {
			errs = append(errs, fmt.Errorf("acl: role %q: %s entry at line %d: want a topic filter string", roleName, list, n.Line))
			continue
		}
		t, err := compileTemplate(n.Value, list)
		if err != nil {
			errs = append(errs, fmt.Errorf("acl: role %q: %s filter %q (line %d): %w", roleName, list, n.Value, n.Line, err))
			continue
		}
		out = append(out, t)
	}
	return out, errors.Join(errs...)
}

// compileTemplate compiles one filter of the named list (publish, retain,
// subscribe or deny). %m is refused in retain: a retained message is kept for
// whoever subscribes later, long after the publisher's membership was
// checked. It is refused in deny too: membership decides what a client may
// reach, and a deny that held only while a service answered "member" would
// be lifted by a wrong or missing answer.
func compileTemplate(s, list string) (template, error) {
	if !validFilter(s) {
		return template{}, errors.New(`not a valid MQTT topic filter ("+" and "#" must be whole levels, "#" only last; quote a lone "#" in YAML)`)
	}
	if inner, ok := stripShare(s); !ok || inner != s {
		if list == "deny" {
			return template{}, errors.New("shared subscriptions ($share/...) are not deny filters; deny the topic filter itself")
		}
		return template{}, errors.New("shared subscriptions ($share/...) are not grants; grant the topic filter itself")
	}
	t := template{filter: s, levels: strings.Split(s, "/"), member: -1}
	for i, l := range t.levels {
		switch {
		case l == "%c":
			t.client = true
		case l == "%u":
			t.user = true
		case l == "%m" && list == "retain":
			return template{}, errors.New("%m (membership) is not allowed in retain: a retained message reaches later subscribers, whatever the publisher's membership by then")
		case l == "%m" && list == "deny":
			return template{}, errors.New(`%m (membership) is not allowed in deny: a deny must not depend on a membership answer; use "+" to deny the level for every value`)
		case l == "%m" && t.member >= 0:
			// One checked level keeps the check a single Member call per
			// grant; no role needs two.
			return template{}, errors.New("at most one %m per filter")
		case l == "%m":
			t.member = i
		case strings.Contains(l, "%"):
			return template{}, fmt.Errorf("level %q: placeholders are %%c (client id), %%u (username) and %%m (membership) and must fill a whole level", l)
		}
	}
	return t, nil
}
