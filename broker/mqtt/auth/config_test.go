package auth

import (
	"strings"
	"testing"

	"github.com/storeedge/storeedge/configs"
)

func TestShippedConfigs(t *testing.T) {
	p, err := buildPolicy(configs.Devices, configs.ACL, "anonymous")
	if err != nil {
		t.Fatalf("shipped devices.yaml / acl.yaml: %v", err)
	}
	for _, r := range []string{"kiosk", "chat-tablet", "camera", "staff", "admin", "cloud", "customer", "anonymous"} {
		if p.roles[r] == nil {
			t.Errorf("acl.yaml has no role %q", r)
		}
	}
	if len(p.devices) != 0 {
		t.Errorf("the embedded registry must be empty, has %d devices", len(p.devices))
	}
}

const testACL = `
roles:
  kiosk:
    publish: [devices/%u/status, svc/booking/#]
    retain: [devices/%u/status]
    subscribe: [reply/%c/#]
  staff:
    publish: ["svc/#"]
    subscribe: [devices/+/status]
`

func TestParseACLErrors(t *testing.T) {
	tests := []struct {
		name, acl string
		want      []string // substrings of the error
	}{
		{"unknown key", "roles:\n  kiosk:\n    publsh: [a]\n", []string{"line 3", "publsh"}},
		{"bad filter", "roles:\n  kiosk:\n    publish:\n      - a/#/b\n", []string{`role "kiosk"`, `"a/#/b"`, "line 4"}},
		{"bad placeholder", "roles:\n  kiosk:\n    publish: [devices/x%u/status]\n", []string{"placeholders", "whole level"}},
		{"unknown placeholder", "roles:\n  kiosk:\n    subscribe: [reply/%x/#]\n", []string{"%x"}},
		{"membership in retain", "roles:\n  kiosk:\n    publish: [a/%m]\n    retain: [a/%m]\n", []string{"retain filter", `"a/%m"`, "not allowed in retain"}},
		{"two memberships", "roles:\n  kiosk:\n    subscribe: [a/%m/%m]\n", []string{`"a/%m/%m"`, "at most one %m"}},
		{"membership not a whole level", "roles:\n  kiosk:\n    subscribe: [chat/c%m/events]\n", []string{"%m (membership)", "whole level"}},
		{"shared", "roles:\n  kiosk:\n    subscribe: [$share/g/a]\n", []string{"shared"}},
		{"role name", "roles:\n  Kiosk!:\n    publish: [a]\n", []string{`role "Kiosk!"`}},
		{"not a string", "roles:\n  kiosk:\n    publish:\n      - {a: b}\n", []string{"line 4", "want a topic filter"}},
		{"retain outside publish", "roles:\n  kiosk:\n    publish: [a/#]\n    retain: [b]\n", []string{`retain filter "b"`, "not covered"}},
		{"duplicate role", "roles:\n  kiosk: {}\n  kiosk: {}\n", []string{"acl.yaml line 3: roles.kiosk: key kiosk appears twice (also at line 2)"}},
		{"lone hash unquoted is a comment -> empty filter", "roles:\n  kiosk:\n    publish:\n      - #\n", []string{"line 4"}},
		{"bad deny filter", "roles:\n  kiosk:\n    publish: [lab/#]\n    deny:\n      - lab/#/x\n", []string{`role "kiosk"`, `deny filter "lab/#/x"`, "line 5", "not a valid MQTT topic filter"}},
		{"bad deny filter among good ones", "roles:\n  kiosk:\n    deny: [lab/a, \"lab/b+\", lab/c]\n", []string{`role "kiosk"`, `deny filter "lab/b+"`, "line 3"}},
		{"membership in deny", "roles:\n  kiosk:\n    subscribe: [chat/%m/events]\n    deny: [chat/%m/events]\n", []string{`role "kiosk"`, `deny filter "chat/%m/events"`, "not allowed in deny"}},
		{"deny placeholder not a whole level", "roles:\n  kiosk:\n    deny: [reply/x%c/#]\n", []string{`deny filter "reply/x%c/#"`, "whole level"}},
		{"shared deny", "roles:\n  kiosk:\n    deny: [$share/g/lab/#]\n", []string{`deny filter "$share/g/lab/#"`, "not deny filters"}},
		{"deny not a string", "roles:\n  kiosk:\n    deny:\n      - [a]\n", []string{`role "kiosk"`, "deny entry at line 4", "want a topic filter"}},
		{"deny not a list", "roles:\n  kiosk:\n    deny: lab/secret/#\n", []string{"line 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseACL([]byte(tt.acl))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseDevicesErrors(t *testing.T) {
	bc := "$2a$04$szvhcH0JNm/5v7qpdO8uo.tSJsEXXp3cExDBfyfO7yt7mAO0WZoUS"
	tests := []struct {
		name, devices string
		want          []string
	}{
		{"unknown key", "devices:\n  - id: k1\n    role: kiosk\n    pasword_hash: x\n", []string{"line 4", "pasword_hash"}},
		{"bad id", "devices:\n  - id: k/1\n    role: kiosk\n    password_hash: \"" + bc + "\"\n", []string{"line 2", `"k/1"`, "id must be"}},
		{"bad id plus", "devices:\n  - id: \"k+\"\n    role: kiosk\n    password_hash: \"" + bc + "\"\n", []string{`"k+"`}},
		{"duplicate", "devices:\n  - id: k1\n    role: kiosk\n    password_hash: \"" + bc + "\"\n  - id: k1\n    role: kiosk\n    password_hash: \"" + bc + "\"\n", []string{"line 5", "duplicate id"}},
		{"case duplicate", "devices:\n  - id: k1\n    role: kiosk\n    cert_cn: a\n  - id: K1\n    role: kiosk\n    cert_cn: b\n", []string{`"K1"`, "upper/lower case"}},
		{"unknown role", "devices:\n  - id: k1\n    role: kiosks\n    password_hash: \"" + bc + "\"\n", []string{`role "kiosks"`, "kiosk, staff"}},
		{"bad hash", "devices:\n  - id: k1\n    role: kiosk\n    password_hash: plaintext\n", []string{"line 2", "password_hash", "bcrypt"}},
		{"no credentials", "devices:\n  - id: k1\n    role: kiosk\n", []string{"never log in"}},
		{"customer prefix", "devices:\n  - id: cust-01\n    role: kiosk\n    password_hash: \"" + bc + "\"\n", []string{"line 2", `"cust-01"`, `"cust-"`, "reserved for customers"}},
		{"customer prefix upper case", "devices:\n  - id: CUST-01\n    role: kiosk\n    cert_cn: c\n", []string{`"CUST-01"`, "reserved for customers"}},
		{"duplicate cn", "devices:\n  - id: c1\n    role: kiosk\n    cert_cn: cam\n  - id: c2\n    role: kiosk\n    cert_cn: cam\n", []string{`device "c2"`, `already used by device "c1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildPolicy([]byte(tt.devices), []byte(testACL), "")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := buildPolicy(nil, []byte(testACL), "anonymous"); err == nil || !strings.Contains(err.Error(), "anonymous role") {
		t.Errorf("missing anonymous role: %v", err)
	}
	p, err := buildPolicy([]byte("# only comments\n"), []byte(testACL), "")
	if err != nil || len(p.devices) != 0 {
		t.Fatalf("empty registry: %v", err)
	}
}
