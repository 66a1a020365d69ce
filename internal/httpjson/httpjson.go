// Package httpjson writes the JSON answers of the store's HTTP endpoints
// (POST /chat/redeem, /chat/start, /enroll, /setup): one shape for errors,
// {"error":{"code","message"}}, and the same headers on every answer.
package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers v as JSON with status. A value that cannot be encoded
// becomes a 500 with the internal error, never a half-written body.
func Write(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"could not encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Error answers {"error":{"code":code,"message":message}} with status.
func Error(w http.ResponseWriter, status int, code, message string) {
	Write(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}
