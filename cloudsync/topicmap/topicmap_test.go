package topicmap_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/cloudsync/topicmap"
)

func TestShippedConfigParses(t *testing.T) {
	b, err := os.ReadFile("../../configs/cloud.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := topicmap.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	wantFilters := []string{"chat/+/hq", "chat/closing", "chat/rating", "booking/changes", "booking/hq/outcome", "audit/entries",
		"shop/info", "store/hello", "sync/answer", "config/ack", "notice/ack",
		"home/vouch", "home/revoke", "booking/hq/availability", "camera/hq/answer", "media/#", "devices/+/telemetry", "devices/+/status"}
	if got := m.Filters(); !slices.Equal(got, wantFilters) {
		t.Fatalf("filters %v", got)
	}
	// The topics the chat and booking services file entries under.
	for topic, want := range map[string]string{
		"chat/01JQ8ZK3/hq":      "chat",
		"chat/closing":          "chat",
		"chat/rating":           "chat",
		"booking/changes":       "booking",
		"booking/hq/outcome":    "booking",
		"home/vouch":            "booking",
		"camera/hq/answer":      "telemetry",
		"audit/entries":         "booking",
		"shop/info":             "booking",
		"store/hello":           "booking",
		"sync/answer":           "booking",
		"config/ack":            "booking",
		"notice/ack":            "booking",
		"media/3f9a0c":          "media",
		"devices/kiosk1/status": "telemetry",
		"booking/events":        "telemetry", // not mapped
	} {
		if got := m.Class(topic); got != want {
			t.Errorf("Class(%s) = %s, want %s", topic, got, want)
		}
	}
	r, ok := m.Match("chat/01JQ8ZK3/hq")
	if !ok || r.QoS != 1 || m.CloudTopic(r, "sh-001", "chat/01JQ8ZK3/hq") != "stores/sh-001/up/chat/01JQ8ZK3/hq" {
		t.Fatalf("chat rule %+v", r)
	}
	if r, ok := m.Match("devices/cam2/telemetry"); !ok || r.QoS != 0 || r.Class != "telemetry" {
		t.Fatalf("telemetry rule %+v %v", r, ok)
	}
	for _, topic := range []string{"booking/events", "chat/c/events", "hq/chat/message", "devices/x"} {
		if r, ok := m.Match(topic); ok {
			t.Errorf("%s matched %+v", topic, r)
		}
	}
}

func TestMatchWildcards(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b", "a", false},
		{"a/+", "a/b", true},
		{"a/+", "a/", true}, // '+' matches an empty level
		{"a/+", "a", false},
		{"a/+", "a/b/c", false}, // '+' does not cross levels
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/x/c", false},
		{"+/+", "/x", true},
		{"+", "a", true},
		{"+", "a/b", false},
		{"a/#", "a", true}, // '#' matches the parent level (MQTT 5 4.7.1.2)
		{"a/#", "a/", true},
		{"a/#", "a/b/c/d", true},
		{"a/#", "ab", false},
		{"a/#", "b/a", false},
		{"#", "a/b", true},
		{"#", "/", true},
		{"#", "$SYS/x", false}, // wildcards at the first level skip '$' topics
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/b", "a/+", false}, // a topic name has no wildcards
		{"a/+", "a/#", false},
		{"a", "A", false},
	}
	for _, c := range cases {
		m, err := topicmap.Compile([]topicmap.RuleConfig{{Local: c.filter, Class: "telemetry"}})
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		if _, got := m.Match(c.topic); got != c.want {
			t.Errorf("filter %q topic %q: got %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

func TestFirstMatchWinsAndDefaults(t *testing.T) {
	m, err := topicmap.Parse([]byte(`
map:
  - local: devices/cam1/telemetry
    class: media
    qos: 0
    cloud: "media/{store}/{topic}/preview"
  - local: devices/#
    class: telemetry
`))
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.Match("devices/cam1/telemetry")
	if !ok || r.Class != "media" || r.QoS != 0 || m.CloudTopic(r, "s1", "devices/cam1/telemetry") != "media/s1/devices/cam1/telemetry/preview" {
		t.Fatalf("specific rule %+v", r)
	}
	r, ok = m.Match("devices/cam2/telemetry")
	if !ok || r.Class != "telemetry" || r.QoS != topicmap.DefaultQoS || r.Cloud != topicmap.DefaultCloud {
		t.Fatalf("general rule %+v", r)
	}
	// A local topic holding "{store}" is copied, not filled in again.
	if got := m.CloudTopic(r, "s1", "devices/{store}"); got != "stores/s1/up/devices/{store}" {
		t.Fatalf("cloud topic %q", got)
	}
	if got := m.Rules(); len(got) != 2 || got[1].Local != "devices/#" {
		t.Fatalf("rules %+v", got)
	}
}

func TestOtherSectionsAreLeftToTheirOwner(t *testing.T) {
	_, err := topicmap.Parse([]byte(`
hq: { url: "mqtts://hq.example.com:8883", anything: [1, 2] }
uplink: { inflight: 64 }
downlink: { subscribe: ["hq/broadcast/#"] }
map:
  - { local: "chat/+/hq", class: chat }
`))
	if err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string // every substring must appear
	}{
		{"empty", "", []string{"no rules"}},
		{"unknown top-level key", "maps: []\n", []string{"maps"}},
		{"unknown rule key", "map:\n  - { local: a, class: chat, qos: 1, priority: 2 }\n", []string{"priority"}},
		{"not a list", "map: { local: a }\n", []string{"cloud.yaml line 1: map: want a list"}},
		{"bad qos type", "map:\n  - { local: a, class: chat, qos: one }\n", []string{`cloud.yaml line 2: map[0].qos: want a whole number, not "one"`}},
		{"everything wrong", `
map:
  - { local: "a/#/b", class: chat }
  - { local: "a/b+", class: gossip, qos: 2 }
  - { class: booking, cloud: "up/{shop}/x" }
  - { local: "x", class: telemetry, cloud: "up/+/{topic}" }
  - { local: "x", cloud: "$SYS/{topic}" }
`, []string{
			`map[0] (local "a/#/b").local: '#' must be the last level`,
			`map[1] (local "a/b+").local: level "b+": a wildcard must be the whole level`,
			`map[1] (local "a/b+").class: "gossip" is not one of chat, booking, media, telemetry`,
			`map[1] (local "a/b+").qos: 2 is not 0 or 1`,
			`map[2].local: missing`,
			`map[2].cloud: "up/{shop}/x": only {store} and {topic}`,
			`map[3] (local "x").cloud: "up/+/{topic}": a published topic has no wildcards`,
			`map[4] (local "x").local: same filter as map[3]`,
			`map[4] (local "x").class: missing`,
			`map[4] (local "x").cloud: "$SYS/{topic}"`,
		}},
		{"long filter", "map:\n  - { local: " + strings.Repeat("a", 65536) + ", class: chat }\n", []string{"longer than 65535"}},
		{"nul", "map:\n  - { local: \"a\\0b\", class: chat }\n", []string{"U+0000"}},
	}
	for _, c := range cases {
		_, err := topicmap.Parse([]byte(c.yaml))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q\nlacks %q", c.name, err, w)
			}
		}
	}
}
