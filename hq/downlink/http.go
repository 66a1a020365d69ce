package downlink

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/internal/strictjson"
)

// ActorHeader names the authenticated caller. HQ's web server sets it
// after checking the API key or the sign-in cookie (and removes any the
// client sent); the handlers refuse a request without it.
const ActorHeader = "X-HQ-Actor"

// Handler serves, under /api/v1/:
//
//	POST /api/v1/notices              send a notice (NoticeRequest) → 201 NoticeSent (200 when repeated)
//	GET  /api/v1/notices              the notices, newest first (?before=id&limit=n) → NoticePage
//	GET  /api/v1/notices/{id}         one notice with its deliveries → NoticeDetail
//	POST /api/v1/stores/{id}/config   push a store's catalogue and/or FAQ (ConfigRequest) → 201 ConfigSent (200 when repeated)
//	GET  /api/v1/stores/{id}/config   the store's pushes, newest first (?before=version&limit=n) → ConfigPage
//
// Errors are {"error":{"code","message"}} with the Error's status.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/notices", s.actor(s.postNotice))
	mux.HandleFunc("GET /api/v1/notices", s.actor(s.listNotices))
	mux.HandleFunc("GET /api/v1/notices/{id}", s.actor(s.getNotice))
	mux.HandleFunc("POST /api/v1/stores/{id}/config", s.actor(s.postConfig))
	mux.HandleFunc("GET /api/v1/stores/{id}/config", s.actor(s.listConfig))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// maxRequestBytes bounds a request body: a config push's limit and room
// for its envelope.
func (s *Service) maxRequestBytes() int64 {
	return int64(max(s.o.Limits.MaxConfigBytes, s.o.Limits.MaxBody*4+s.o.Limits.MaxStores*70) + 4096)
}

func (s *Service) actor(h func(w http.ResponseWriter, r *http.Request, actor string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get(ActorHeader)
		if a == "" {
			httpjson.Error(w, http.StatusUnauthorized, CodeUnauthorized, "sign in or give an API key")
			return
		}
		h(w, r, a)
	}
}

func (s *Service) fail(w http.ResponseWriter, err error) {
	var e *Error
	if errors.As(err, &e) {
		httpjson.Error(w, e.Status, e.Code, e.Message)
		return
	}
	s.o.Logger.Error("downlink: request failed", "err", err)
	httpjson.Error(w, http.StatusInternalServerError, "internal", "HQ could not do it now; try again")
}

// decode reads a JSON request body strictly into v.
func (s *Service) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxRequestBytes()))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, CodeTooLarge, "the request is larger than "+strconv.FormatInt(tooBig.Limit, 10)+" bytes")
		return false
	}
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, CodeBadRequest, "cannot read the request: "+err.Error())
		return false
	}
	if err := strictjson.Decode(b, v); err != nil {
		httpjson.Error(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return false
	}
	return true
}

func limitParam(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, badRequest("limit must be 1-%d", MaxPageSize)
	}
	return n, nil
}

func (s *Service) postNotice(w http.ResponseWriter, r *http.Request, actor string) {
	var req NoticeRequest
	if !s.decode(w, r, &req) {
		return
	}
	out, err := s.SendNotice(r.Context(), actor, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpjson.Write(w, created(out.Created), out)
}

func created(c bool) int {
	if c {
		return http.StatusCreated
	}
	return http.StatusOK
}

func (s *Service) listNotices(w http.ResponseWriter, r *http.Request, _ string) {
	limit, err := limitParam(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	out, err := s.Notices(r.Context(), r.URL.Query().Get("before"), limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (s *Service) getNotice(w http.ResponseWriter, r *http.Request, _ string) {
	out, err := s.Notice(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

func (s *Service) postConfig(w http.ResponseWriter, r *http.Request, actor string) {
	var req ConfigRequest
	if !s.decode(w, r, &req) {
		return
	}
	out, err := s.PushConfig(r.Context(), actor, r.PathValue("id"), req)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpjson.Write(w, created(out.Created), out)
}

func (s *Service) listConfig(w http.ResponseWriter, r *http.Request, _ string) {
	limit, err := limitParam(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			s.fail(w, badRequest("before must be a version"))
			return
		}
	}
	out, err := s.ConfigPushes(r.Context(), r.PathValue("id"), before, limit)
	if err != nil {
		s.fail(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}
