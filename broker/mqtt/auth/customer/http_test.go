package customer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type httpAnswer struct {
	status int
	header http.Header
	login  redeemResponse
	err    errorDetail
	raw    string
}

func post(t *testing.T, h http.Handler, method, body string) httpAnswer {
	t.Helper()
	req := httptest.NewRequest(method, "/chat/redeem", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := httpAnswer{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	if a.status == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &a.login); err != nil {
			t.Fatalf("answer %q: %v", a.raw, err)
		}
		return a
	}
	var eb errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
		t.Fatalf("error answer %q: %v", a.raw, err)
	}
	a.err = eb.Error
	return a
}

func wantStatus(t *testing.T, a httpAnswer, status int, code string) {
	t.Helper()
	if a.status != status || a.err.Code != code {
		t.Fatalf("got %d %q, want %d %q: %s", a.status, a.err.Code, status, code, a.raw)
	}
}

func TestHandler(t *testing.T) {
	e := newEnv(t, Options{TokenTTL: time.Minute})
	h := e.s.Handler()

	tk := e.issue(t, "")
	a := post(t, h, http.MethodPost, `{"token":"`+tk.Token+`"}`)
	if a.status != http.StatusOK || a.login.Customer != tk.Customer || a.login.Username != tk.Customer ||
		a.login.Password == "" || !a.login.Expires.Equal(t0.Add(DefaultSessionTTL)) {
		t.Fatalf("redeem answer %d %s", a.status, a.raw)
	}
	if !e.verify(t, a.login.Username, a.login.Password) {
		t.Fatal("the login from HTTP does not verify")
	}
	// The answer's field names are the contract.
	var m map[string]any
	if err := json.Unmarshal([]byte(a.raw), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"customer", "username", "password", "expires"} {
		if _, ok := m[k]; !ok || len(m) != 4 {
			t.Fatalf("answer %s lacks %q or has extras", a.raw, k)
		}
	}

	wantStatus(t, post(t, h, http.MethodPost, `{"token":"`+tk.Token+`"}`), http.StatusGone, CodeUsed)
	wantStatus(t, post(t, h, http.MethodPost, `{"token":"nope"}`), http.StatusNotFound, CodeNotFound)
	wantStatus(t, post(t, h, http.MethodPost, `{"token":"`+strings.Repeat("A", 43)+`"}`), http.StatusNotFound, CodeNotFound)

	old := e.issue(t, "")
	e.clock.Advance(time.Minute)
	wantStatus(t, post(t, h, http.MethodPost, `{"token":"`+old.Token+`","extra":1}`), http.StatusGone, CodeExpired)

	for _, body := range []string{``, `{`, `null`, `[]`, `"x"`, `{}`, `{"token":""}`, `{"token":null}`, `{"token":5}`, `{"token":"a"} {}`, `{"token":"a"}x`} {
		wantStatus(t, post(t, h, http.MethodPost, body), http.StatusBadRequest, CodeBadRequest)
	}
	big := `{"token":"` + strings.Repeat("A", MaxRequestBytes) + `"}`
	wantStatus(t, post(t, h, http.MethodPost, big), http.StatusRequestEntityTooLarge, CodeTooLarge)

	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead} {
		req := httptest.NewRequest(m, "/chat/redeem", nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d, Allow %q", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
	wantStatus(t, post(t, h, http.MethodGet, ""), http.StatusMethodNotAllowed, CodeMethodNotAllowed)

	// A store that cannot commit is a 500 without details.
	fresh := e.issue(t, "")
	e.stop(t)
	a = post(t, h, http.MethodPost, `{"token":"`+fresh.Token+`"}`)
	wantStatus(t, a, http.StatusInternalServerError, CodeInternal)
	if strings.Contains(a.raw, "closed") {
		t.Fatalf("500 leaks the cause: %s", a.raw)
	}
}
