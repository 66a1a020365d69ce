package customer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRequest: decoding a redeem body never panics, accepts only valid
// JSON with a non-empty token (or, without one, a username and password),
// and agrees with a plain decode.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"token":"abc"}`, `{"token":""}`, `{}`, `null`, `[]`, `{"token":5}`,
		`{"token":"a","token":"b"}`, `{"token":"\u0000"}`, `{"token":"a"} x`,
		`{"TOKEN":"a"}`, `{"token":"` + strings.Repeat("A", 43) + `"}`, "\xff",
		`{"username":"cust-abcd","password":"x"}`, `{"username":"cust-abcd"}`, `{"token":"","username":"u","password":"p"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseRequest(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted %q", body)
		}
		if req.Token == nil {
			if req.Username == "" || req.Password == "" {
				t.Fatalf("accepted %q without a token or a whole login", body)
			}
			return
		}
		tok := *req.Token
		if tok == "" {
			t.Fatalf("accepted %q with an empty token", body)
		}
		var plain struct{ Token string }
		if json.Unmarshal(body, &plain) != nil || plain.Token != tok {
			t.Fatalf("token %q, plain decode %q", tok, plain.Token)
		}
		if !utf8.ValidString(tok) && utf8.Valid(body) {
			t.Fatalf("invalid UTF-8 token %q from valid UTF-8 body", tok)
		}
	})
}

// FuzzHandlerBody: any body through the handler gets a JSON answer with one
// of the documented statuses and no-store.
func FuzzHandlerBody(f *testing.F) {
	f.Add([]byte(`{"token":"abc"}`))
	f.Add([]byte(`{"token":"` + strings.Repeat("A", 43) + `"}`))
	f.Add([]byte(`{`))
	f.Add([]byte(strings.Repeat("x", MaxRequestBytes+1)))
	e := newEnv(f, Options{})
	h := e.s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body))))
		switch rec.Code {
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer %q", rec.Body)
		}
	})
}
