package home

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/internal/httpjson"
)

// customerJSON is a Customer as the API shows it.
type customerJSON struct {
	ID        string `json:"id"`
	Store     string `json:"store"`
	StoreName string `json:"store_name"`
	Customer  string `json:"customer"`
	Name      string `json:"name"`
}

func jsonOf(c Customer) customerJSON {
	return customerJSON{ID: c.ID, Store: c.Store, StoreName: c.StoreName, Customer: c.Customer, Name: c.Name}
}

// decodeBody reads a small JSON body; false (answered) when it does not
// decode.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "The request is not the JSON this address takes: "+err.Error())
		return false
	}
	return true
}

// auth wraps h with the login check: the Bearer token of a login that is
// neither revoked nor unused for longer than login_ttl.
func (s *Server) auth(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !strings.HasPrefix(tok, "hqt_") {
			httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "Please sign in with the link your store gave you.")
			return
		}
		c, err := s.customerOf(r.Context(), tok)
		if errors.Is(err, errNoLogin) {
			httpjson.Error(w, http.StatusUnauthorized, "unauthorized", "This phone is signed out. Ask your store for a new link.")
			return
		}
		if err != nil {
			internal(w, s.log, "login", err)
			return
		}
		h(w, r, c)
	}
}

var errNoLogin = errors.New("home: no such login")

// customerOf finds the live login of tok and marks it used.
func (s *Server) customerOf(ctx context.Context, tok string) (Customer, error) {
	h := sha256.Sum256([]byte(tok))
	var c Customer
	var lastUsed time.Time
	var revoked *time.Time
	err := s.o.Pool.QueryRow(ctx, `SELECT l.id, l.last_used, l.revoked_at, c.id, c.store, COALESCE(st.name, ''), c.customer, c.name
		FROM home_logins l JOIN home_customers c ON c.id = l.home_customer LEFT JOIN stores st ON st.store = c.store
		WHERE l.hash = $1`, h[:]).Scan(&c.Login, &lastUsed, &revoked, &c.ID, &c.Store, &c.StoreName, &c.Customer, &c.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return Customer{}, errNoLogin
	}
	if err != nil {
		return Customer{}, err
	}
	now := s.now()
	if revoked != nil || now.Sub(lastUsed) > s.cfg.LoginTTL {
		return Customer{}, errNoLogin
	}
	if now.Sub(lastUsed) > time.Minute { // one write a minute, not one per request
		if _, err := s.o.Pool.Exec(ctx, `UPDATE home_logins SET last_used = $2 WHERE id = $1`, c.Login, now); err != nil {
			return Customer{}, err
		}
	}
	if c.StoreName == "" {
		c.StoreName = c.Store
	}
	return c, nil
}

type loginRequest struct {
	Store  string `json:"store"`
	Code   string `json:"code"`
	Device string `json:"device"`
}

// login redeems a link code for a login.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ip := s.clientIP(r)
	var req loginRequest
	if !decodeBody(w, r, &req) {
		return
	}
	req.Code = strings.ToLower(strings.TrimSpace(req.Code))
	tag := req.Store + "." + req.Code // the same link again is a retry, not a guess
	if over, retry := s.loginFails.over(ip, tag); over {
		tooMany(w, retry, "Too many links that did not work were tried from here. Please wait a minute.")
		return
	}
	if req.Store == "" || req.Code == "" {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "The link is incomplete: it needs the store and the code.")
		return
	}
	if len([]rune(req.Device)) > 120 {
		req.Device = string([]rune(req.Device)[:120])
	}
	sum := sha256.Sum256([]byte(req.Code))
	codeHash := hex.EncodeToString(sum[:])
	now := s.now()
	var (
		c        Customer
		tok      string
		status   int
		code     string
		message  string
		replaced bool
	)
	err := s.inTx(r.Context(), func(tx pgx.Tx) error {
		var expires time.Time
		var used *time.Time
		var replace bool
		err := tx.QueryRow(r.Context(), `SELECT customer, name, expires, used_at, replace FROM home_vouches
			WHERE store = $1 AND code_hash = $2 FOR UPDATE`, req.Store, codeHash).Scan(&c.Customer, &c.Name, &expires, &used, &replace)
		if errors.Is(err, pgx.ErrNoRows) {
			status, code, message = http.StatusNotFound, "not_found",
				"HQ does not know this link yet. The store may not have sent it yet: if you just got it, wait a moment."
			return nil
		}
		if err != nil {
			return err
		}
		if used != nil {
			status, code, message = http.StatusGone, "gone", "This link was already used. Ask your store for a new one."
			return nil
		}
		if !now.Before(expires) {
			status, code, message = http.StatusGone, "gone", "This link has expired. Ask your store for a new one."
			return nil
		}
		c.Store = req.Store
		err = tx.QueryRow(r.Context(), `INSERT INTO home_customers (id, store, customer, name) VALUES ($1, $2, $3, $4)
			ON CONFLICT (store, customer) DO UPDATE SET name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE home_customers.name END
			RETURNING id, name`, "hc-"+randomHex(8), c.Store, c.Customer, c.Name).Scan(&c.ID, &c.Name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(r.Context(), `UPDATE home_vouches SET used_at = $3 WHERE store = $1 AND code_hash = $2`,
			req.Store, codeHash, now); err != nil {
			return err
		}
		if replace {
			if _, err := tx.Exec(r.Context(), `UPDATE home_logins SET revoked_at = $2, revoked_by = 'replaced'
				WHERE home_customer = $1 AND revoked_at IS NULL`, c.ID, now); err != nil {
				return err
			}
			replaced = true
		}
		var hash []byte
		tok, hash = newToken()
		c.Login = "hl-" + randomHex(8)
		_, err = tx.Exec(r.Context(), `INSERT INTO home_logins (id, home_customer, hash, device, created_at, last_used)
			VALUES ($1, $2, $3, $4, $5, $5)`, c.Login, c.ID, hash, req.Device, now)
		if err != nil {
			return err
		}
		return tx.QueryRow(r.Context(), `SELECT COALESCE((SELECT name FROM stores WHERE store = $1), '')`, c.Store).Scan(&c.StoreName)
	})
	if err != nil {
		internal(w, s.log, "sign-in", err)
		return
	}
	if status != 0 {
		s.loginFails.add(ip, tag)
		httpjson.Error(w, status, code, message)
		return
	}
	if c.StoreName == "" {
		c.StoreName = c.Store
	}
	s.log.Info("a customer signed in at home", "store", c.Store, "home_customer", c.ID, "login", c.Login, "replaced_others", replaced)
	httpjson.Write(w, http.StatusOK, map[string]any{"token": tok, "login": c.Login, "customer": jsonOf(c)})
}

type loginJSON struct {
	ID       string    `json:"id"`
	Device   string    `json:"device"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	Current  bool      `json:"current"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c Customer) {
	st, err := s.State(r.Context(), c.Store)
	if err != nil {
		internal(w, s.log, "store state", err)
		return
	}
	rows, err := s.o.Pool.Query(r.Context(), `SELECT id, device, created_at, last_used FROM home_logins
		WHERE home_customer = $1 AND revoked_at IS NULL AND last_used > $2 ORDER BY created_at`, c.ID, s.now().Add(-s.cfg.LoginTTL))
	if err != nil {
		internal(w, s.log, "logins", err)
		return
	}
	logins, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (loginJSON, error) {
		var l loginJSON
		err := row.Scan(&l.ID, &l.Device, &l.Created, &l.LastUsed)
		l.Current = l.ID == c.Login
		return l, err
	})
	if err != nil {
		internal(w, s.log, "logins", err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"customer": jsonOf(c), "store": st, "login": c.Login, "logins": logins})
}

// endLogin signs one of her logins out (another phone, or this one).
func (s *Server) endLogin(w http.ResponseWriter, r *http.Request, c Customer) {
	tag, err := s.o.Pool.Exec(r.Context(), `UPDATE home_logins SET revoked_at = $3, revoked_by = $4
		WHERE id = $1 AND home_customer = $2 AND revoked_at IS NULL`, r.PathValue("id"), c.ID, s.now(), c.Login)
	if err != nil {
		internal(w, s.log, "sign out", err)
		return
	}
	if tag.RowsAffected() == 0 {
		httpjson.Error(w, http.StatusNotFound, "not_found", "There is no such device signed in.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c Customer) {
	if _, err := s.o.Pool.Exec(r.Context(), `UPDATE home_logins SET revoked_at = $2, revoked_by = $1 WHERE id = $1 AND revoked_at IS NULL`,
		c.Login, s.now()); err != nil {
		internal(w, s.log, "sign out", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
