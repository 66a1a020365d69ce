package setup

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/storeedge/storeedge/internal/httpjson"
)

// Path is where the setup is served: GET redirects to the page
// (/setup/?code=…), POST applies the setup.
const Path = "/setup"

// MaxRequestBytes bounds a setup request's body.
const MaxRequestBytes = 8 << 10

// Error codes of the handler's answers.
const (
	CodeBadRequest  = "bad_request"  // 400: not the JSON wanted, or a field is not valid (field says which)
	CodeForbidden   = "forbidden"    // 403: wrong or used code, or the store is set up already
	CodeRateLimited = "rate_limited" // 429: too many attempts; retry_after says when
	CodeTooLarge    = "too_large"    // 413
	CodeInternal    = "internal"     // 500: the store could not save it; nothing is lost by retrying
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code       string `json:"code"`
	Field      string `json:"field,omitempty"`
	Message    string `json:"message"`
	MessageZH  string `json:"message_zh"`
	RetryAfter int64  `json:"retry_after,omitempty"`
}

type okBody struct {
	Store     string   `json:"store"`
	TimeZone  string   `json:"time_zone"`
	Languages []string `json:"languages"`
	Kind      string   `json:"kind"`
	Admin     string   `json:"admin"`
	Console   string   `json:"console"`
}

// Handler serves Path:
//
//	GET  /setup?code=…  303 to /setup/?code=… (the page)
//	POST /setup         {"code","name","time_zone","languages","kind","admin_name","admin_password"}
//	                    200 {"store","time_zone","languages","kind","admin","console":"/console/"}
//
// Errors are {"error":{"code","field","message","message_zh","retry_after"}}:
// 400 bad_request (field names the field), 403 forbidden (a wrong or used
// code, or the store is set up; nothing changed), 413 too_large, 429
// rate_limited, 500 internal. Every answer is Cache-Control: no-store.
func (s *Setup) Handler() http.Handler { return http.HandlerFunc(s.serve) }

func (s *Setup) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		w.Header().Set("Location", (&url.URL{Path: Path + "/", RawQuery: r.URL.RawQuery}).String())
		w.WriteHeader(http.StatusSeeOther)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, http.StatusMethodNotAllowed, errorDetail{Code: "method_not_allowed", Message: "use POST", MessageZH: "请使用 POST"})
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	for _, l := range []struct {
		lim interface{ Take(string, int64) error }
		key string
	}{{s.perAddr, host}, {s.total, "*"}} {
		if err := l.lim.Take(l.key, 1); err != nil {
			d := errorDetail{Code: CodeRateLimited, Message: "Too many attempts; wait a minute and try again.", MessageZH: "尝试次数过多，请稍等一分钟再试。", RetryAfter: 60}
			writeError(w, http.StatusTooManyRequests, d)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tl *http.MaxBytesError
		if errors.As(err, &tl) {
			writeError(w, http.StatusRequestEntityTooLarge, errorDetail{Code: CodeTooLarge, Message: "The request is too large.", MessageZH: "请求内容过大。"})
			return
		}
		writeError(w, http.StatusBadRequest, errorDetail{Code: CodeBadRequest, Message: "Could not read the request.", MessageZH: "无法读取请求。"})
		return
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		writeError(w, http.StatusBadRequest, errorDetail{Code: CodeBadRequest, Message: "Want one JSON object with the setup's fields.", MessageZH: "请求格式不正确。"})
		return
	}
	res, err := s.Apply(r.Context(), req)
	var fe *FieldError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, okBody{Store: res.Settings.Name, TimeZone: res.Settings.TimeZone, Languages: res.Settings.Languages,
			Kind: res.Settings.Kind, Admin: res.Admin, Console: "/console/"})
	case errors.Is(err, ErrForbidden):
		writeError(w, http.StatusForbidden, errorDetail{Code: CodeForbidden,
			Message:   "This setup address is not valid: it was used already, or the code is wrong. Sign in to the console instead, or restart the box for a new address.",
			MessageZH: "此设置地址无效：已被使用或验证码错误。请直接登录控制台，或重启门店盒子获取新地址。"})
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, errorDetail{Code: CodeBadRequest, Field: fe.Field, Message: fe.EN, MessageZH: fe.ZH})
	default:
		s.o.Log.Error("setup: could not save", "err", err)
		writeError(w, http.StatusInternalServerError, errorDetail{Code: CodeInternal, Message: "The store could not save the setup; try again.", MessageZH: "门店无法保存设置，请重试。"})
	}
}

func writeError(w http.ResponseWriter, status int, d errorDetail) {
	writeJSON(w, status, errorBody{Error: d})
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
