package homecam

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/storeedge/storeedge/hq/downlink"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/proto"
)

// Channel is the PostgreSQL notification channel a stored live answer is
// announced on (payload: its id, AnswerID for the camera's).
const Channel = "hq_home_answers"

// Kind is the kind of this package's rows in home_answers.
const Kind = "camera"

// Options configure New.
type Options struct {
	Config Config
	// Pool is the replica's database. Required.
	Pool *pgxpool.Pool
	// Pub publishes to the stores on HQ's broker. Required.
	Pub home.Publisher
	// State tells whether a store is online. Required.
	State home.StateFunc
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log (default slog.Default()).
	Log *slog.Logger
}

// Server serves the live view's API and waits for the stores' answers.
type Server struct {
	cfg    Config
	secret []byte
	pool   *pgxpool.Pool
	pub    home.Publisher
	state  home.StateFunc
	now    func() time.Time
	log    *slog.Logger
	slots  chan struct{} // one per watch waiting for its answer

	mu      sync.Mutex
	waiters map[string]chan struct{}
}

// New checks the configuration and reads the TURN secret.
func New(o Options) (*Server, error) {
	if o.Pool == nil || o.Pub == nil || o.State == nil {
		return nil, errors.New("homecam: Options.Pool, Pub and State are required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	cfg := o.Config.WithDefaults()
	secret, err := cfg.readSecret()
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Server{cfg: cfg, secret: secret, pool: o.Pool, pub: o.Pub, state: o.State, now: o.Now, log: o.Log,
		slots: make(chan struct{}, cfg.MaxWaiting), waiters: map[string]chan struct{}{}}, nil
}

// Mount adds GET /ice, GET /cameras, POST /watch and POST
// /watch/{session}/bye under /home/api/v1/.
func (s *Server) Mount(mux *http.ServeMux, auth func(home.HandlerFunc) http.HandlerFunc) {
	const p = "/home/api/v1"
	mux.HandleFunc("GET "+p+"/ice", auth(s.ice))
	mux.HandleFunc("GET "+p+"/cameras", auth(s.cameras))
	mux.HandleFunc("POST "+p+"/watch", auth(s.watch))
	mux.HandleFunc("POST "+p+"/watch/{session}/bye", auth(s.bye))
}

// iceServers are the TURN servers with a credential for c, valid for
// credential_ttl (coturn's REST API: username "<unix expiry>:<hc id>",
// credential base64(HMAC-SHA1(secret, username))).
func (s *Server) iceServers(c home.Customer) []proto.ICEServer {
	user := strconv.FormatInt(s.now().Add(s.cfg.CredentialTTL).Unix(), 10) + ":" + c.ID
	m := hmac.New(sha1.New, s.secret)
	m.Write([]byte(user))
	return []proto.ICEServer{{URLs: s.cfg.TURNURLs, Username: user, Credential: base64.StdEncoding.EncodeToString(m.Sum(nil))}}
}

func (s *Server) off(w http.ResponseWriter) bool {
	if len(s.cfg.TURNURLs) == 0 {
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "The live view from home is not set up at HQ.")
		return true
	}
	return false
}

func (s *Server) ice(w http.ResponseWriter, _ *http.Request, c home.Customer) {
	if s.off(w) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, map[string]any{"ice_servers": s.iceServers(c)})
}

// Camera is one of her bookings checked in now (GET /cameras).
type Camera struct {
	Booking     string     `json:"booking"`
	Service     string     `json:"service"`
	ServiceName proto.Text `json:"service_name"`
	Stage       string     `json:"stage"`
	Start       time.Time  `json:"start"`
}

func (s *Server) cameras(w http.ResponseWriter, r *http.Request, c home.Customer) {
	rows, err := s.pool.Query(r.Context(), `SELECT booking, service, stage, start_at FROM bookings
		WHERE store = $1 AND customer = $2 AND status = $3 ORDER BY start_at, booking`,
		c.Store, c.Customer, proto.StatusCheckedIn)
	if err != nil {
		s.internal(w, "cameras", err)
		return
	}
	out := []Camera{}
	for rows.Next() {
		var b Camera
		var start *time.Time
		if err := rows.Scan(&b.Booking, &b.Service, &b.Stage, &start); err != nil {
			rows.Close()
			s.internal(w, "cameras", err)
			return
		}
		if start != nil {
			b.Start = start.UTC()
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "cameras", err)
		return
	}
	names, err := s.serviceNames(r.Context(), c.Store)
	if err != nil {
		s.internal(w, "cameras", err)
		return
	}
	for i := range out {
		out[i].ServiceName = names[out[i].Service]
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"bookings": out})
}

// serviceNames are the store's services' names from shop_info.
func (s *Server) serviceNames(ctx context.Context, store string) (map[string]proto.Text, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT info FROM shop_info WHERE store = $1`, store).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return map[string]proto.Text{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("homecam: shop_info: %w", err)
	}
	var info proto.ShopInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("homecam: shop_info of %s: %w", store, err)
	}
	out := map[string]proto.Text{}
	for _, sv := range info.Catalog.Services {
		out[sv.ID] = sv.Name
	}
	return out, nil
}

// pageID is the id a page gives its watch.
var pageID = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

type watchReq struct {
	ID      string `json:"id"`
	Booking string `json:"booking"`
	Offer   string `json:"offer"`
}

// Session is the store's session id for her watch id: her HQ id, a dot
// and the page's id, so that a session names its customer.
func Session(c home.Customer, id string) string { return c.ID + "." + id }

func (s *Server) watch(w http.ResponseWriter, r *http.Request, c home.Customer) {
	if s.off(w) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxOfferBytes)+4096)
	var q watchReq
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("The offer is larger than %d bytes.", s.cfg.MaxOfferBytes))
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "The request is not valid JSON: "+err.Error())
		return
	}
	switch {
	case !pageID.MatchString(q.ID):
		httpjson.Error(w, http.StatusBadRequest, "bad_request", `"id" must be 8 to 64 letters, digits, '-' or '_'.`)
		return
	case q.Booking == "" || len(q.Booking) > 128:
		httpjson.Error(w, http.StatusBadRequest, "bad_request", `"booking" is required.`)
		return
	case !strings.HasPrefix(q.Offer, "v=0") || !strings.Contains(q.Offer, "m=video"):
		httpjson.Error(w, http.StatusBadRequest, "bad_request", `"offer" must be a complete SDP offer with video.`)
		return
	case len(q.Offer) > s.cfg.MaxOfferBytes:
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("The offer is larger than %d bytes.", s.cfg.MaxOfferBytes))
		return
	}
	ctx := r.Context()
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM bookings WHERE store = $1 AND booking = $2 AND customer = $3`,
		c.Store, q.Booking, c.Customer).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "There is no such booking.")
		return
	} else if err != nil {
		s.internal(w, "watch", err)
		return
	}
	if status != proto.StatusCheckedIn {
		httpjson.Error(w, http.StatusConflict, "conflict", "The live view opens once your pet is checked in at the store.")
		return
	}
	session := Session(c, q.ID)
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		httpjson.Error(w, http.StatusTooManyRequests, "quota_exceeded", "Too many live views are starting at once. Try again in a moment.")
		return
	}
	wake := s.listen(AnswerID(c.Store, session))
	defer s.unlisten(AnswerID(c.Store, session))
	if a, ok, err := s.answer(ctx, c.Store, session); err != nil {
		s.internal(w, "watch", err)
		return
	} else if ok { // the same watch again: its answer
		s.reply(w, session, a)
		return
	}
	st, err := s.state(ctx, c.Store)
	if err != nil {
		s.internal(w, "watch", err)
		return
	}
	if !st.Online {
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "The store is not reachable now, so the live view cannot start. Try again in a moment.")
		return
	}
	p, err := json.Marshal(proto.HQCameraWatch{V: 1, ID: session, Customer: c.Customer, Booking: q.Booking, Offer: q.Offer,
		ICEServers: s.iceServers(c), Expires: s.now().Add(s.cfg.AnswerWait).UTC()})
	if err != nil {
		s.internal(w, "watch", err)
		return
	}
	if err := s.pub.Publish(ctx, home.DownTopic(c.Store, proto.HQCameraWatchTopic), p, session); err != nil {
		s.log.Warn("homecam: watch not sent to the store", "store", c.Store, "session", session, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "The store is not reachable now. Try again in a moment.")
		return
	}
	deadline := time.NewTimer(s.cfg.AnswerWait)
	defer deadline.Stop()
	// A fallback beside the notifications, should the listening connection
	// be down for a moment.
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		select {
		case <-wake:
		case <-poll.C:
		case <-deadline.C:
			s.log.Info("homecam: no answer from the store in time", "store", c.Store, "session", session, "waited", s.cfg.AnswerWait)
			httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "The store is not reachable now. Try again in a moment.")
			return
		case <-ctx.Done():
			return
		}
		a, ok, err := s.answer(ctx, c.Store, session)
		if err != nil {
			s.internal(w, "watch", err)
			return
		}
		if ok {
			s.reply(w, session, a)
			return
		}
	}
}

// reply answers a watch with the store's answer.
func (s *Server) reply(w http.ResponseWriter, session string, a proto.HQCameraAnswer) {
	if a.OK {
		httpjson.Write(w, http.StatusOK, map[string]string{"session": session, "answer": a.Answer, "camera": a.Camera})
		return
	}
	status := map[string]int{"bad_request": 400, "forbidden": 403, "not_found": 404, "conflict": 409,
		"quota_exceeded": 429}[a.Code]
	code := a.Code
	if status == 0 {
		status, code = http.StatusServiceUnavailable, "unavailable"
	}
	msg := a.Message
	if msg == "" {
		msg = "The store did not start the live view."
	}
	httpjson.Error(w, status, code, msg)
}

// answer reads the store's answer to session, if it is there.
func (s *Server) answer(ctx context.Context, store, session string) (proto.HQCameraAnswer, bool, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, `SELECT payload FROM home_answers WHERE id = $1 AND store = $2 AND kind = $3`, AnswerID(store, session), store, Kind).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return proto.HQCameraAnswer{}, false, nil
	}
	if err != nil {
		return proto.HQCameraAnswer{}, false, fmt.Errorf("homecam: home_answers: %w", err)
	}
	var a proto.HQCameraAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return proto.HQCameraAnswer{}, false, fmt.Errorf("homecam: answer %s: %w", session, err)
	}
	return a, true, nil
}

func (s *Server) bye(w http.ResponseWriter, r *http.Request, c home.Customer) {
	session := r.PathValue("session")
	id, ok := strings.CutPrefix(session, c.ID+".")
	if !ok || !pageID.MatchString(id) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "There is no such live view.")
		return
	}
	p, err := json.Marshal(proto.HQCameraBye{V: 1, ID: session + ".bye", Session: session})
	if err != nil {
		s.internal(w, "bye", err)
		return
	}
	err = s.pub.Publish(r.Context(), home.DownTopic(c.Store, proto.HQCameraByeTopic), p, session+".bye")
	if errors.Is(err, downlink.ErrNoSubscribers) {
		err = nil // the store is not linked at all: its relay ends the session itself
	}
	if err != nil {
		s.log.Warn("homecam: bye not sent to the store", "store", c.Store, "session", session, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "HQ cannot reach its broker now; the store ends the view by itself soon.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	s.log.Error("homecam: "+what, "err", err)
	httpjson.Error(w, http.StatusInternalServerError, "internal", "Something went wrong at HQ. Try again in a moment.")
}

// listen registers a waiter for session's answer.
func (s *Server) listen(session string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.waiters[session] = ch
	s.mu.Unlock()
	return ch
}

func (s *Server) unlisten(session string) {
	s.mu.Lock()
	delete(s.waiters, session)
	s.mu.Unlock()
}

// wake tells the waiter of session (every waiter for "") to look again.
func (s *Server) wake(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.waiters {
		if session == "" || id == session {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Run listens on Channel and wakes the waiting watches until ctx ends,
// connecting again after a failure; it also removes the camera answers
// older than an hour.
func (s *Server) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("homecam: listening for the stores' answers failed; trying again", "err", err, "in", backoff)
		s.wake("")
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

func (s *Server) listenOnce(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("homecam: acquire: %w", err)
	}
	// A connection that listened is not given back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("homecam: listen: %w", err)
	}
	s.wake("") // an answer may have come while no one listened
	sweep := s.now()
	for {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := pc.WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
		if err != nil {
			return fmt.Errorf("homecam: wait: %w", err)
		}
		if n != nil {
			s.wake(n.Payload)
		}
		if s.now().Sub(sweep) > 10*time.Minute {
			sweep = s.now()
			if _, err := s.pool.Exec(ctx, `DELETE FROM home_answers WHERE kind = $1 AND at < now() - interval '1 hour'`, Kind); err != nil {
				s.log.Warn("homecam: old answers not removed", "err", err)
			}
		}
	}
}
