package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

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
