package auth

import (
	"strings"
	"testing"
)

func TestFilterWithin(t *testing.T) {
	tests := []struct {
		f, g string
		want bool
	}{
		// topics (no wildcards) against grants
		{"devices/k1/status", "devices/k1/status", true},
		{"devices/k1/status", "devices/+/status", true},
		{"devices/k1/status", "devices/#", true},
		{"devices/k1/status", "#", true},
		{"devices/k1/status", "devices/k2/status", false},
		{"devices/k1/status/x", "devices/+/status", false},
		{"devices/k1", "devices/+/status", false},
		{"devices", "devices/#", true}, // "#" covers the parent level
		{"devices/", "devices/#", true},
		{"devices/", "devices/+", true}, // empty level is a level
		{"devicesx/a", "devices/#", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"", "#", false},
		{"a", "", false},
		// filters within grants
		{"devices/+/status", "devices/+/status", true},
		{"devices/+/status", "devices/#", true},
		{"devices/#", "devices/+/status", false},
		{"#", "devices/+/status", false},
		{"#", "#", true},
		{"+/#", "#", true},
		{"#", "+/#", true}, // "+/#" also covers every one-level topic via the parent rule
		{"devices/+", "devices/k1", false},
		{"reply/+/#", "reply/k1/#", false},
		{"reply/k1/#", "reply/k1/#", true},
		{"reply/k1", "reply/k1/#", true},
		{"reply/k1/a/b", "reply/k1/#", true},
		{"reply/k2/a", "reply/k1/#", false},
		{"a/+/c", "a/+/+", true},
		{"a/+/+", "a/+/c", false},
		{"a/#", "a/+/#", false}, // "a" itself is not covered
		{"a/+/#", "a/#", true},
		// $-topics
		{"$SYS/broker/uptime", "#", false},
		{"$SYS/broker/uptime", "+/broker/uptime", false},
		{"$SYS/broker/uptime", "$SYS/#", true},
		{"$SYS/#", "$SYS/#", true},
		{"$SYS/#", "#", false},
		{"#", "$SYS/#", false},
		{"a/$x", "a/+", true}, // only the first level is special
	}
	for _, tt := range tests {
		if got := filterWithin(tt.f, tt.g); got != tt.want {
			t.Errorf("filterWithin(%q, %q) = %v, want %v", tt.f, tt.g, got, tt.want)
		}
	}
}

func TestValidFilterAndTopic(t *testing.T) {
	for _, f := range []string{"#", "+", "a/#", "a/+/b", "/", "a//b", "$SYS/#", "+/+/#"} {
		if !validFilter(f) {
			t.Errorf("validFilter(%q) = false", f)
		}
	}
	for _, f := range []string{"", "a/#/b", "a#", "a/b+", "++", "##", "a/\x00"} {
		if validFilter(f) {
			t.Errorf("validFilter(%q) = true", f)
		}
	}
	if validTopic("a/+") || validTopic("#") || validTopic("") || !validTopic("a/b") {
		t.Error("validTopic")
	}
}

func TestStripShare(t *testing.T) {
	tests := []struct {
		in, out string
		ok      bool
	}{
		{"$share/g/booking/events", "booking/events", true},
		{"$SHARE/g/#", "#", true},
		{"booking/events", "booking/events", true},
		{"$sharex/a", "$sharex/a", true},
		{"$share", "", false},
		{"$share/g", "", false},
		{"$share/g/", "", false},
		{"$share//a", "", false},
		{"$share/+/a", "", false},
	}
	for _, tt := range tests {
		out, ok := stripShare(tt.in)
		if out != tt.out || ok != tt.ok {
			t.Errorf("stripShare(%q) = %q, %v; want %q, %v", tt.in, out, ok, tt.out, tt.ok)
		}
	}
}

// refMatch is a straightforward reference matcher (MQTT 5 §4.7) used to check
// filterWithin.
func refMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range fl {
		if l == "#" {
			return true
		}
		if i >= len(tl) {
			return false
		}
		if l != "+" && l != tl[i] {
			return false
		}
	}
	return len(fl) == len(tl)
}

// expandTopics lists topics filter f matches, using the given alphabet for
// wildcard levels and expanding "#" to 0..maxExtra levels.
func expandTopics(f string, alphabet []string, maxExtra int) []string {
	levels := strings.Split(f, "/")
	var out []string
	var rec func(i int, acc []string)
	rec = func(i int, acc []string) {
		if len(out) > 5000 {
			return
		}
		if i == len(levels) {
			out = append(out, strings.Join(acc, "/"))
			return
		}
		switch levels[i] {
		case "+":
			for _, a := range alphabet {
				if i == 0 && strings.HasPrefix(a, "$") {
					continue // a leading wildcard never matches a $-topic
				}
				rec(i+1, append(acc[:len(acc):len(acc)], a))
			}
		case "#":
			if i > 0 {
				out = append(out, strings.Join(acc, "/")) // parent level
			}
			var ext func(n int, acc []string)
			ext = func(n int, acc []string) {
				if len(acc) > 0 {
					out = append(out, strings.Join(acc, "/"))
				}
				if n == 0 || len(out) > 5000 {
					return
				}
				for _, a := range alphabet {
					if len(acc) == 0 && i == 0 && strings.HasPrefix(a, "$") {
						continue
					}
					ext(n-1, append(acc[:len(acc):len(acc)], a))
				}
			}
			ext(maxExtra, acc)
		default:
			rec(i+1, append(acc[:len(acc):len(acc)], levels[i]))
		}
	}
	rec(0, nil)
	return out
}

func FuzzFilterWithin(f *testing.F) {
	for _, s := range [][2]string{
		{"devices/+/status", "devices/#"}, {"#", "devices/+/status"}, {"reply/+/#", "reply/k1/#"},
		{"$SYS/#", "#"}, {"a/#", "a/+/#"}, {"a", "a/#"}, {"+/+", "+/#"}, {"a//b", "a/+/b"}, {"$share/g/a", "a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, fl, gr string) {
		got := filterWithin(fl, gr) // must never panic, whatever the input
		_, _ = stripShare(fl)
		_ = validLevelValue(fl)
		if !validFilter(fl) || !validFilter(gr) {
			return
		}
		if strings.Count(fl, "/") > 5 || strings.Count(gr, "/") > 5 {
			return
		}
		// A topic is a filter without wildcards: filterWithin must agree with
		// the reference matcher.
		if validTopic(fl) && got != refMatch(gr, fl) {
			t.Fatalf("topic %q grant %q: filterWithin=%v refMatch=%v", fl, gr, got, !got)
		}
		// Containment: every topic fl matches must be matched by gr, and when
		// filterWithin says no there must be a counterexample.
		alphabet := []string{"", "$x"}
		seen := map[string]bool{"": true, "$x": true}
		for _, l := range strings.Split(gr+"/"+fl, "/") {
			if l != "+" && l != "#" && !seen[l] {
				seen[l] = true
				alphabet = append(alphabet, l)
			}
		}
		fresh := "q"
		for seen[fresh] {
			fresh += "q"
		}
		alphabet = append(alphabet, fresh)
		complete := len(alphabet) <= 7 // every literal of both filters, plus a fresh one
		if !complete {
			alphabet = append(alphabet[:6:6], fresh)
		}
		topics := expandTopics(fl, alphabet, strings.Count(gr, "/")+2)
		if len(topics) > 5000 {
			return
		}
		all := true
		for _, tp := range topics {
			if !refMatch(gr, tp) {
				all = false
				if got {
					t.Fatalf("filterWithin(%q, %q) = true, but topic %q is not matched by the grant", fl, gr, tp)
				}
				break
			}
		}
		if !got && all && complete {
			t.Fatalf("filterWithin(%q, %q) = false, but every sampled topic is matched: %q", fl, gr, topics)
		}
	})
}

func TestDeviceClientID(t *testing.T) {
	tests := []struct {
		cid, dev string
		want     bool
	}{
		{"kiosk-01", "kiosk-01", true},
		{"kiosk-01:a", "kiosk-01", true},
		{"kiosk-01:console_2.x-y", "kiosk-01", true},
		{"kiosk-01:", "kiosk-01", false},
		{"kiosk-01:a/b", "kiosk-01", false},
		{"kiosk-01:a+", "kiosk-01", false},
		{"kiosk-01:a:b", "kiosk-01", false},
		{"kiosk-01x", "kiosk-01", false},
		{"kiosk-02", "kiosk-01", false},
		{"kiosk-01:" + strings.Repeat("a", 64), "kiosk-01", true},
		{"kiosk-01:" + strings.Repeat("a", 65), "kiosk-01", false},
		{"k+1", "k+1", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := deviceClientID(tt.cid, tt.dev); got != tt.want {
			t.Errorf("deviceClientID(%q, %q) = %v, want %v", tt.cid, tt.dev, got, tt.want)
		}
	}
}
