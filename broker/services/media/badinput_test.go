package media

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
)

// Malformed JSON, wrong types, unknown and missing fields: bad_request, and
// nothing stored.
func TestBadInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.connect(t, tablet)
	s := e.connect(t, anna)
	sha := hashOf([]byte("x"))
	ok(t, c.call(t, "begin", "", fmt.Sprintf(`{"upload":"u","type":"application/pdf","size":1,"sha256":%q}`, sha)))
	keys := e.uploadKeys(t)

	raw := []string{
		`{"id":"r1","v":1,"upload":`,
		`{"id":"r2","v":1,"upload":"u"} {}`,
		`not json`,
		`{"id":"r3","v":2,"upload":"u"}`,
	}
	for _, op := range []string{"begin", "chunk", "status", "complete", "stat", "get"} {
		for _, p := range raw {
			fails(t, c.raw(t, op, []byte(p)), svc.CodeBadRequest)
		}
	}
	cases := []struct{ op, body string }{
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"application/pdf","size":1,"sha256":%q,"extra":1}`, sha)},
		{"begin", `{"upload":"u2","type":"application/pdf","size":1}`},
		{"begin", `{"upload":"u2","type":"application/pdf","size":1,"sha256":"zz"}`},
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"application/pdf","size":1,"sha256":"%sx"}`, sha[:63])},
		{"begin", fmt.Sprintf(`{"upload":"a/b","type":"application/pdf","size":1,"sha256":%q}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":%q,"type":"application/pdf","size":1,"sha256":%q}`, strings.Repeat("u", 65), sha)},
		{"begin", fmt.Sprintf(`{"upload":"","type":"application/pdf","size":1,"sha256":%q}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"application/pdf","size":"1","sha256":%q}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"application/pdf","size":1.5,"sha256":%q}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"application/pdf","size":0,"sha256":%q}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"","size":1,"sha256":%q}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"application/pdf","size":1,"sha256":%q,"name":"a\u0007b"}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"application/pdf","size":1,"sha256":%q,"duration_ms":-1}`, sha)},
		{"begin", fmt.Sprintf(`{"Upload":"u2","type":"application/pdf","size":1,"sha256":%q}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":"u2","upload":"u3","type":"application/pdf","size":1,"sha256":%q}`, sha)},
		{"begin", fmt.Sprintf(`{"upload":"u2","type":"application/pdf","size":1,"sha256":%q,"name":"invoice\u202efdp.exe"}`, sha)},
		{"chunk", `{"upload":"u","data":"eA=="}`},
		{"chunk", `{"upload":"u","index":-1,"data":"eA=="}`},
		{"chunk", `{"upload":"u","index":0}`},
		{"chunk", `{"upload":"u","index":0,"data":""}`},
		{"chunk", `{"upload":"u","index":0,"data":"eA"}`},
		{"chunk", `{"upload":"u","index":0,"data":"e A="}`},
		{"chunk", `{"upload":"u","index":0,"data":"eA==\n"}`},
		{"chunk", `{"upload":"u","index":0,"data":"eB=="}`}, // non-zero padding bits
		{"chunk", `{"upload":"u","index":0,"data":"eA==","more":true}`},
		{"chunk", `{"upload":"u","index":"0","data":"eA=="}`},
		{"status", `{}`},
		{"status", `{"upload":"u","x":1}`},
		{"complete", `{"upload":7}`},
		{"complete", `{"upload":"u","force":true}`},
		{"stat", `{}`},
		{"stat", `{"hash":"abc"}`},
		{"stat", fmt.Sprintf(`{"hash":%q,"offset":0}`, sha)},
		{"get", fmt.Sprintf(`{"hash":%q,"offset":-1}`, sha)},
		{"get", fmt.Sprintf(`{"hash":%q,"length":-1}`, sha)},
		{"get", fmt.Sprintf(`{"hash":%q,"length":1,"whole":true}`, sha)},
		{"get", `{"hash":null}`},
	}
	for _, tc := range cases {
		who := c
		if tc.op == "stat" || tc.op == "get" {
			who = s
		}
		a := fails(t, who.call(t, tc.op, "", tc.body), svc.CodeBadRequest)
		if a.Error.Message == "" {
			t.Fatalf("%s %s: no message", tc.op, tc.body)
		}
	}
	if k := e.uploadKeys(t); k != keys {
		t.Fatalf("bad requests changed the store: keys %d → %d", keys, k)
	}
	st := ok(t, c.call(t, "status", "", `{"upload":"u"}`))
	if st.Received != 0 {
		t.Fatalf("a bad chunk was stored: %s", st.raw)
	}
	// The good chunk still goes in.
	ok(t, c.call(t, "chunk", "", `{"upload":"u","index":0,"data":"eA=="}`))
}

func TestMediaErrCodes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("media: begin %q: %w", "u", err) }
	cases := []struct {
		err  error
		code string
	}{
		{wrap(blob.ErrTooLarge), svc.CodeTooLarge},
		{wrap(blob.ErrType), svc.CodeBadRequest},
		{wrap(blob.ErrInvalid), svc.CodeBadRequest},
		{wrap(blob.ErrConflict), svc.CodeConflict},
		{wrap(blob.ErrIncomplete), svc.CodeConflict},
		{wrap(errors.Join(blob.ErrChecksum, errors.New("discard failed"))), svc.CodeConflict},
		{wrap(blob.ErrNotFound), svc.CodeNotFound},
		{wrap(blob.ErrQuota), svc.CodeQuotaExceeded},
		{wrap(fmt.Errorf("%w: %w", store.ErrFull, errors.New("mmap"))), svc.CodeQuotaExceeded},
		{wrap(svc.Errorf(svc.CodeForbidden, "no")), svc.CodeForbidden},
		{wrap(fmt.Errorf("%w: upload: %w", blob.ErrCorrupt, blob.ErrInvalid)), ""},
		{wrap(context.DeadlineExceeded), ""},
		{errors.New("disk on fire"), ""},
	}
	for _, tc := range cases {
		got := mediaErr("op", tc.err)
		var se *svc.Error
		switch {
		case tc.code == "":
			if errors.As(got, &se) || !errors.Is(got, tc.err) {
				t.Errorf("%v → %v, want it wrapped (unavailable)", tc.err, got)
			}
		case !errors.As(got, &se) || se.Code != tc.code:
			t.Errorf("%v → %v, want %s", tc.err, got, tc.code)
		case strings.Contains(se.Message, "media: "):
			t.Errorf("message %q names the Go package", se.Message)
		}
	}
}
