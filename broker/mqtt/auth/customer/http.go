package customer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/storeedge/storeedge/internal/httpjson"
)

// MaxRequestBytes bounds the body of a redeem request.
const MaxRequestBytes = 1 << 10

// Error codes of Handler's answers.
const (
	CodeBadRequest       = "bad_request"        // 400: not JSON, or no token
	CodeNotFound         = "not_found"          // 404: no such token
	CodeExpired          = "expired"            // 410: the token's time ran out
	CodeUsed             = "used"               // 410: the token was redeemed already
	CodeMethodNotAllowed = "method_not_allowed" // 405: not a POST
	CodeTooLarge         = "too_large"          // 413: body over MaxRequestBytes
	CodeInternal         = "internal"           // 500: the store failed
)

type redeemRequest struct {
	Token *string `json:"token"`
	// A phone whose id was merged into another: its old login.
	Username string `json:"username"`
	Password string `json:"password"`
}

type redeemResponse struct {
	Customer string    `json:"customer"`
	Username string    `json:"username"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var errBadRequest = errors.New("customer: bad request")

// Handler serves the customer page's redeem call:
//
//	POST {"token":"…"}  (JSON, at most MaxRequestBytes)
//	200 {"customer":"cust-…","username":"cust-…","password":"…","expires":"RFC 3339"}
//
// A phone whose customer id staff merged into another sends its old login
// instead, {"username":"cust-old","password":"…"}, and gets the same
// answer for the id it was merged into (404 not_found when it was not
// merged or the login has ended).
//
// Errors carry {"error":{"code":…,"message":…}}: 400 bad_request (not JSON,
// no token), 404 not_found, 410 expired or used, 405 method_not_allowed
// (anything but POST), 413 too_large, 500 internal. Every answer is
// Cache-Control: no-store.
func (s *Store) Handler() http.Handler { return http.HandlerFunc(s.serveRedeem) }

func (s *Store) serveRedeem(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use POST")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, "the request body is too large")
			return
		}
		writeError(w, http.StatusBadRequest, CodeBadRequest, "could not read the request body")
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, `want a JSON object {"token": "…"} (or {"username","password"} of a merged login)`)
		return
	}
	var login Login
	if req.Token != nil {
		login, err = s.Redeem(r.Context(), *req.Token)
	} else {
		login, err = s.Relogin(req.Username, req.Password)
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, redeemResponse{
			Customer: login.Customer,
			Username: login.Username,
			Password: login.Password,
			Expires:  login.Expires,
		})
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, "no such token")
	case errors.Is(err, ErrExpired):
		writeError(w, http.StatusGone, CodeExpired, "the token has expired; ask for a new code")
	case errors.Is(err, ErrUsed):
		writeError(w, http.StatusGone, CodeUsed, "the token was used already; ask for a new code")
	default:
		writeError(w, http.StatusInternalServerError, CodeInternal, "could not redeem the token")
	}
}

// parseRequest decodes a redeem request body: one JSON object with a
// non-empty string "token", or else a non-empty "username" and "password"
// (other members are ignored).
func parseRequest(body []byte) (redeemRequest, error) {
	var req redeemRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	if req.Token != nil && *req.Token == "" {
		return req, errBadRequest
	}
	if req.Token == nil && (req.Username == "" || req.Password == "") {
		return req, errBadRequest
	}
	return req, nil
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{errorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
