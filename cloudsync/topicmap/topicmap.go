// Package topicmap reads the map: section of configs/cloud.yaml, which
// says which local topics go up to HQ, under which cloud topic, at which
// QoS and in which priority class. Rules are MQTT 5 topic filters tried in
// order; the first match wins, so a specific rule goes before a general
// one. The outbox classifies entries with Map.Class, and the daemon's
// capture hook files the device publishes (telemetry, status) whose topic
// Map.Match takes.
package topicmap

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/internal/strictyaml"
)

// DefaultCloud is the cloud topic template of a rule that names none.
const DefaultCloud = "stores/{store}/up/{topic}"

// DefaultQoS is the QoS of a rule that names none: at least once, since
// what goes to HQ is meant to arrive.
const DefaultQoS = 1

// Classes are the priority classes a rule may name (outbox.DefaultOrder).
var Classes = []string{outbox.ClassChat, outbox.ClassBooking, outbox.ClassMedia, outbox.ClassTelemetry}

// maxTopic is MQTT's limit on a topic or filter (a two-byte length).
const maxTopic = 65535

// Rule is one compiled rule.
type Rule struct {
	Local string // MQTT topic filter over local topics
	Cloud string // cloud topic template with {store} and {topic}
	Class string // one of Classes
	QoS   byte   // 0 or 1
}

// RuleConfig is one rule as written in cloud.yaml, for configuration
// structs that embed the map section and call Compile.
type RuleConfig struct {
	Local string `yaml:"local"`
	Cloud string `yaml:"cloud"`
	Class string `yaml:"class"`
	QoS   *int   `yaml:"qos"`
}

// Map is the compiled rules, in order. It is read-only after Compile and
// safe for concurrent use.
type Map struct {
	rules  []Rule
	levels [][]string // each rule's filter split at '/'
}

// file is cloud.yaml. The sections other than map belong to cloudsync's
// connection settings and are decoded where they are used; naming them here
// keeps unknown top-level keys (a misspelt "maps:") an error.
type file struct {
	Map      []RuleConfig `yaml:"map"`
	HQ       yaml.Node    `yaml:"hq"`
	Uplink   yaml.Node    `yaml:"uplink"`
	Downlink yaml.Node    `yaml:"downlink"`
	HomeURL  yaml.Node    `yaml:"home_url"`
}

// Parse reads the map section of a cloud.yaml document strictly: unknown
// keys are errors, and every problem of every rule is reported with its
// path.
func Parse(b []byte) (*Map, error) {
	var f file
	if err := strictyaml.DecodeFile("cloud.yaml", b, &f); err != nil {
		return nil, err
	}
	return Compile(f.Map)
}

// Compile validates rules and applies the defaults.
func Compile(rules []RuleConfig) (*Map, error) {
	if len(rules) == 0 {
		return nil, errors.New("topicmap: map: no rules, so nothing would go to HQ")
	}
	m := &Map{}
	var errs []error
	for i, rc := range rules {
		path := fmt.Sprintf("map[%d]", i)
		if rc.Local != "" {
			path += fmt.Sprintf(" (local %q)", rc.Local)
		}
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("topicmap: %s.%s: %s", path, field, fmt.Sprintf(format, args...)))
		}
		r := Rule{Local: rc.Local, Cloud: rc.Cloud, Class: rc.Class, QoS: DefaultQoS}
		if err := checkFilter(rc.Local); err != nil {
			bad("local", "%v", err)
		} else if j := slices.IndexFunc(m.rules, func(p Rule) bool { return p.Local == rc.Local }); j >= 0 {
			bad("local", "same filter as map[%d], which always matches first", j)
		}
		if r.Cloud == "" {
			r.Cloud = DefaultCloud
		}
		if err := checkTemplate(r.Cloud); err != nil {
			bad("cloud", "%v", err)
		}
		switch {
		case rc.Class == "":
			bad("class", "missing; one of %s", strings.Join(Classes, ", "))
		case !slices.Contains(Classes, rc.Class):
			bad("class", "%q is not one of %s", rc.Class, strings.Join(Classes, ", "))
		}
		if rc.QoS != nil {
			if *rc.QoS != 0 && *rc.QoS != 1 {
				bad("qos", "%d is not 0 or 1", *rc.QoS)
			} else {
				r.QoS = byte(*rc.QoS)
			}
		}
		m.rules = append(m.rules, r)
		m.levels = append(m.levels, strings.Split(r.Local, "/"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

// checkFilter applies MQTT 5's rules for a topic filter: '#' only as the
// whole last level, '+' only as a whole level.
func checkFilter(f string) error {
	if err := checkString(f); err != nil {
		return err
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("'#' must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return fmt.Errorf("level %q: a wildcard must be the whole level", l)
		}
	}
	return nil
}

// checkTemplate checks that a cloud template, filled in, is a topic name
// HQ's broker accepts for a publish.
func checkTemplate(t string) error {
	filled := strings.NewReplacer("{store}", "s", "{topic}", "t").Replace(t)
	switch {
	case strings.ContainsAny(filled, "{}"):
		return fmt.Errorf("%q: only {store} and {topic} may be filled in", t)
	case strings.ContainsAny(filled, "+#"):
		return fmt.Errorf("%q: a published topic has no wildcards", t)
	case strings.HasPrefix(filled, "$"):
		return fmt.Errorf("%q: topics starting with '$' belong to the broker", t)
	}
	return checkString(t)
}

func checkString(s string) error {
	switch {
	case s == "":
		return errors.New("missing")
	case len(s) > maxTopic:
		return fmt.Errorf("%d bytes, longer than %d", len(s), maxTopic)
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	case strings.ContainsRune(s, 0):
		return errors.New("contains U+0000")
	}
	return nil
}

// Match returns the first rule whose filter matches the topic name. A
// topic with wildcards matches nothing.
func (m *Map) Match(topic string) (Rule, bool) {
	if topic == "" || strings.ContainsAny(topic, "+#") {
		return Rule{}, false
	}
	t := strings.Split(topic, "/")
	for i, f := range m.levels {
		if matches(f, t) {
			return m.rules[i], true
		}
	}
	return Rule{}, false
}

// matches applies MQTT 5 matching: '+' is exactly one level (possibly
// empty), '#' is any number of levels including none, so "a/#" matches
// "a"; a filter starting with a wildcard does not match a topic starting
// with '$'.
func matches(filter, topic []string) bool {
	if strings.HasPrefix(topic[0], "$") && (filter[0] == "+" || filter[0] == "#") {
		return false
	}
	for i, f := range filter {
		if f == "#" {
			return true
		}
		if i >= len(topic) || (f != "+" && f != topic[i]) {
			return false
		}
	}
	return len(topic) == len(filter)
}

// CloudTopic fills in r's cloud template. store must be a valid topic level
// (no '/', '+' or '#'); the caller checks it once at start-up.
func (m *Map) CloudTopic(r Rule, store, topic string) string {
	return strings.NewReplacer("{store}", store, "{topic}", topic).Replace(r.Cloud)
}

// Filters are the rules' local filters, in order.
func (m *Map) Filters() []string {
	out := make([]string, len(m.rules))
	for i, r := range m.rules {
		out[i] = r.Local
	}
	return out
}

// Rules are the compiled rules, in order.
func (m *Map) Rules() []Rule { return slices.Clone(m.rules) }

// Class is the topic's priority class, for outbox.Options.Classify. An
// unmatched topic is telemetry, the first class evicted, so a topic the
// map forgot cannot crowd out chat and bookings.
func (m *Map) Class(topic string) string {
	if r, ok := m.Match(topic); ok {
		return r.Class
	}
	return outbox.ClassTelemetry
}
