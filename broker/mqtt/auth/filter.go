package auth

import "strings"

// The functions in this file are the ACL hot path: they run for every publish,
// every subscribe and every delivery to every subscriber, so they walk the
// strings in place and never allocate.

// filterWithin reports whether every topic that filter f can match is also
// matched by grant g. A topic name is a filter without wildcards, so the same
// function answers "may publish to topic t" and "may receive t".
//
// Both arguments must be valid filters (validFilter); the result for invalid
// input is false or meaningless, never a panic.
//
// Rules (MQTT 5 §4.7): "+" matches exactly one level, "#" (always last) matches
// any number of levels including none, so "a/#" also matches "a". Topics whose
// first level starts with "$" are not matched by a filter whose first level is
// a wildcard, so such topics are only covered by grants that name them.
func filterWithin(f, g string) bool {
	if f == "" || g == "" {
		return false
	}
	if f[0] == '$' && (g[0] == '+' || g[0] == '#') {
		return false
	}
	fi, gi := 0, 0
	for {
		fe := levelEnd(f, fi)
		ge := levelEnd(g, gi)
		fl, gl := f[fi:fe], g[gi:ge]
		switch {
		case gl == "#":
			return true
		case fl == "#":
			// f spans any number of levels here. Apart from "#", only "+/#"
			// covers that, and only at the first level, where "#" has no
			// parent level to match.
			return fi == 0 && gl == "+" && g[ge:] == "/#"
		case gl == "+":
			// f's level is a literal or "+": one level either way.
		case fl == "+":
			return false // f matches any level, g only one literal
		case fl != gl:
			return false
		}
		fDone, gDone := fe == len(f), ge == len(g)
		switch {
		case fDone && gDone:
			return true
		case fDone:
			// f ended; g only covers it if all that is left is "/#" (the
			// parent level is matched by "#").
			return g[ge+1:] == "#"
		case gDone:
			return false
		}
		fi, gi = fe+1, ge+1
	}
}

// levelEnd returns the index of the '/' ending the level starting at i, or len(s).
func levelEnd(s string, i int) int {
	if j := strings.IndexByte(s[i:], '/'); j >= 0 {
		return i + j
	}
	return len(s)
}

// validFilter reports whether f is a syntactically valid MQTT topic filter:
// not empty, "+" and "#" only as whole levels, "#" only as the last level, no
// NUL character.
func validFilter(f string) bool {
	if f == "" {
		return false
	}
	start := 0
	for i := 0; i <= len(f); i++ {
		if i < len(f) && f[i] != '/' {
			if f[i] == 0 {
				return false
			}
			continue
		}
		level := f[start:i]
		if len(level) > 1 && strings.ContainsAny(level, "+#") {
			return false
		}
		if level == "#" && i != len(f) {
			return false
		}
		start = i + 1
	}
	return true
}

// validTopic reports whether t is a valid topic name for a PUBLISH: a valid
// filter without wildcards.
func validTopic(t string) bool {
	return t != "" && strings.IndexByte(t, '+') < 0 && strings.IndexByte(t, '#') < 0 && validFilter(t)
}

// stripShare returns the filter inside a shared subscription
// "$share/<group>/<filter>" (the prefix is matched case-insensitively, as mochi
// does), or f unchanged when it is not a shared subscription. ok is false for
// a malformed shared subscription.
func stripShare(f string) (inner string, ok bool) {
	if len(f) < 6 || !strings.EqualFold(f[:6], "$share") || (len(f) > 6 && f[6] != '/') {
		return f, true
	}
	if len(f) == 6 {
		return "", false
	}
	rest := f[7:]
	j := strings.IndexByte(rest, '/')
	if j <= 0 || j == len(rest)-1 {
		return "", false
	}
	group := rest[:j]
	if strings.ContainsAny(group, "+#") {
		return "", false
	}
	return rest[j+1:], true
}

// validLevelValue reports whether a placeholder value (a client id or a
// username) can be substituted into a grant as exactly one level without
// widening it: not empty, no '/', '+', '#', no control characters and not
// starting with '$'.
func validLevelValue(v string) bool {
	if v == "" || v[0] == '$' {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '/' || c == '+' || c == '#':
			return false
		case c < 0x20 || c == 0x7f:
			return false
		}
	}
	return true
}
