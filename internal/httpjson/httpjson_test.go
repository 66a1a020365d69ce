package httpjson

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// An error answer is what a device's HTTP client reads: the status, JSON
// that says so, and the code in the documented place; a value that cannot
// be encoded is a 500, not a broken body.
func TestAnswers(t *testing.T) {
	r := httptest.NewRecorder()
	Error(r, http.StatusNotFound, "not_found", "no such code")
	if r.Code != 404 || r.Header().Get("Content-Type") != "application/json; charset=utf-8" ||
		r.Body.String() != `{"error":{"code":"not_found","message":"no such code"}}`+"\n" {
		t.Fatalf("error answer: %d %q %q", r.Code, r.Header().Get("Content-Type"), r.Body.String())
	}
	r = httptest.NewRecorder()
	Write(r, http.StatusOK, map[string]any{"bad": func() {}})
	if r.Code != 500 || r.Body.String() != `{"error":{"code":"internal","message":"could not encode the answer"}}`+"\n" {
		t.Fatalf("unencodable answer: %d %q", r.Code, r.Body.String())
	}
}
