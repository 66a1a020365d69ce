package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/hq/replica"
)

func TestKeyCommand(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	var out bytes.Buffer
	if err := KeyCommand(ctx, f.r, []string{"add", "crm"}, &out); err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`hqk_[0-9a-f]{12}_[a-z2-7]+`).FindString(out.String())
	if key == "" {
		t.Fatalf("no key printed: %q", out.String())
	}
	// The printed key works.
	wantStatus(t, f.call(t, "GET", "/api/v1/stores", key, ""), http.StatusOK, "")

	out.Reset()
	if err := KeyCommand(ctx, f.r, []string{"list"}, &out); err != nil {
		t.Fatal(err)
	}
	if l := out.String(); !strings.Contains(l, "crm") || !strings.Contains(l, "ops-li") || strings.Contains(l, key) {
		t.Errorf("list: %q", l)
	}
	out.Reset()
	if err := KeyCommand(ctx, f.r, []string{"revoke", replica.KeyID(key)}, &out); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.call(t, "GET", "/api/v1/stores", key, ""), http.StatusUnauthorized, "forbidden")
	if err := KeyCommand(ctx, f.r, []string{"revoke", "000000000000"}, &out); !errors.Is(err, replica.ErrNoKey) {
		t.Errorf("revoking an unknown key: %v", err)
	}
	for _, args := range [][]string{nil, {"add"}, {"remove", "x"}, {"list", "x"}} {
		if err := KeyCommand(ctx, f.r, args, &out); !errors.Is(err, ErrKeyUsage) {
			t.Errorf("%v: %v, want the usage", args, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("the zero config (all defaults): %v", err)
	}
	good := Config{SessionTTL: 8 * time.Hour, MaxSessions: 100, SignInFailuresPerMin: 5, StaleAfter: time.Minute, ClientIPHeader: "X-Real-IP", SecureCookie: true}
	if err := good.Validate(); err != nil {
		t.Errorf("%+v: %v", good, err)
	}
	for key, c := range map[string]Config{
		"web.session_ttl":                 {SessionTTL: time.Second},
		"web.max_sessions":                {MaxSessions: -1},
		"web.sign_in_failures_per_minute": {SignInFailuresPerMin: 5000},
		"web.stale_after":                 {StaleAfter: time.Second},
		"web.client_ip_header":            {ClientIPHeader: "X Real IP"},
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%+v: %v, want an error naming %s", c, err, key)
		}
	}
}
