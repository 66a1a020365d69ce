package webpush

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// channel is where the replica announces every change to a
// conversation's messages (migration 0006).
const channel = "hq_messages"

// assistant is the store's assistant's sender id (its answers are not
// pushed: they come at once, while she is on the page).
const assistant = "assistant"

// bodyAAD is the additional data the replica seals messages.body with
// (hq/replica: bodyAAD); a body opens only with it.
var bodyAAD = []byte("hq/messages.body")

// note is one notification on hq_messages.
type note struct {
	Store        string `json:"store"`
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
	Sender       string `json:"sender"`
	Auto         bool   `json:"auto"`
	Read         bool   `json:"read"`
}

// Payload is what the service worker receives (decrypted).
type Payload struct {
	V     int    `json:"v"`
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url"`
	Tag   string `json:"tag"`
}

// Start runs the sender until ctx ends or Stop: one database connection
// listening on hq_messages (made again when lost) and push.workers
// senders.
func (s *Server) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	notes := make(chan note, s.cfg.Workers*16)
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range notes {
				s.handle(ctx, n)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.prune(ctx)
	}()
	go func() {
		s.listen(ctx, notes)
		close(notes)
		wg.Wait()
		close(s.done)
	}()
}

// Stop ends the sender and waits for it (up to ctx).
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("webpush: stop: %w", ctx.Err())
	}
}

// Listening says whether the sender is listening on hq_messages now.
func (s *Server) Listening() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listening
}

func (s *Server) setListening(v bool) {
	s.mu.Lock()
	s.listening = v
	s.mu.Unlock()
}

// listen keeps one connection listening and hands each notification to
// the senders; after a lost connection it first hands them the replies
// applied since (the claim keeps a reply from being pushed twice).
func (s *Server) listen(ctx context.Context, notes chan<- note) {
	var lostAt time.Time
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, notes, lostAt)
		s.setListening(false)
		if ctx.Err() != nil {
			return
		}
		lostAt = time.Now()
		s.m.reconnects.Inc()
		s.lost.note(s.log, "webpush: lost the database connection that hears new replies; listening again", "err", err, "in", s.cfg.ReconnectWait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.ReconnectWait):
		}
	}
}

func (s *Server) listenOnce(ctx context.Context, notes chan<- note, lostAt time.Time) error {
	conn, err := pgx.ConnectConfig(ctx, s.o.Pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.setListening(true)
	if !lostAt.IsZero() {
		s.lost.ok(s.log)
		missed, err := s.missed(ctx, conn, lostAt.Add(-s.cfg.ReconnectWait))
		if err != nil {
			return err
		}
		for _, n := range missed {
			select {
			case notes <- n:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	for {
		pn, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		var n note
		if err := json.Unmarshal([]byte(pn.Payload), &n); err != nil {
			s.log.Warn("webpush: a notification on hq_messages is not JSON; ignored", "payload", pn.Payload)
			continue
		}
		if !n.staffCandidate() {
			continue
		}
		select {
		case notes <- n:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// staffCandidate: a message (not a read), not automatic, not the
// assistant's, not hers (her conversation is named after her).
func (n note) staffCandidate() bool {
	return !n.Read && n.Seq > 0 && !n.Auto && n.Sender != "" && n.Sender != assistant && n.Sender != n.Conversation
}

// missed lists the messages applied since in the conversations of
// customers with subscriptions.
func (s *Server) missed(ctx context.Context, conn *pgx.Conn, since time.Time) ([]note, error) {
	rows, err := conn.Query(ctx, `SELECT m.store, m.conversation, m.seq, m.sender, m.auto
		FROM (SELECT DISTINCT hc.store, hc.customer FROM home_push_subscriptions p
		  JOIN home_logins l ON l.id = p.login JOIN home_customers hc ON hc.id = l.home_customer
		  WHERE l.revoked_at IS NULL AND ($2::bigint = 0 OR l.last_used > now() - make_interval(secs => $2::bigint))) c
		JOIN messages m ON m.store = c.store AND m.conversation = c.customer
		WHERE m.applied_at >= $1 ORDER BY m.applied_at, m.seq`, since, int64(s.o.LoginTTL/time.Second))
	if err != nil {
		return nil, fmt.Errorf("missed replies: %w", err)
	}
	var out []note
	for rows.Next() {
		var n note
		if err := rows.Scan(&n.Store, &n.Conversation, &n.Seq, &n.Sender, &n.Auto); err != nil {
			return nil, fmt.Errorf("missed replies: %w", err)
		}
		if n.staffCandidate() {
			out = append(out, n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("missed replies: %w", err)
	}
	return out, nil
}

// prune forgets pushed replies older than push.sent_keep, hourly.
func (s *Server) prune(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := s.o.Pool.Exec(ctx, `DELETE FROM home_push_sent WHERE at < now() - $1::interval`,
			strconv.FormatInt(int64(s.cfg.SentKeep/time.Second), 10)+" seconds"); err != nil && ctx.Err() == nil {
			s.log.Warn("webpush: forget old pushed replies", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// target is one subscription to push to.
type target struct {
	login, endpoint, p256dh, auth string
}

// handle pushes one message to its customer's devices when it is a staff
// reply she has subscriptions for, once across instances.
func (s *Server) handle(ctx context.Context, n note) {
	if err := s.push(ctx, n); err != nil && ctx.Err() == nil {
		s.m.replies.WithLabelValues("error").Inc()
		s.fails.note(s.log, "webpush: a reply was not pushed", "store", n.Store, "conversation", n.Conversation, "seq", n.Seq, "err", err)
	}
}

func (s *Server) push(ctx context.Context, n note) error {
	var (
		sender, kind, customer, storeName string
		auto, recalled                    bool
		sealed                            []byte
		ts                                *time.Time
	)
	err := s.o.Pool.QueryRow(ctx, `SELECT m.sender, m.kind, m.auto, m.recalled, m.body, m.ts,
		  COALESCE(c.customer, ''), COALESCE(NULLIF(st.name, ''), m.store)
		FROM messages m
		LEFT JOIN conversations c ON c.store = m.store AND c.conversation = m.conversation
		LEFT JOIN stores st ON st.store = m.store
		WHERE m.store = $1 AND m.conversation = $2 AND m.seq = $3`, n.Store, n.Conversation, n.Seq).
		Scan(&sender, &kind, &auto, &recalled, &sealed, &ts, &customer, &storeName)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the message: %w", err)
	}
	if auto || recalled || sender == assistant || sender == n.Conversation || (customer != "" && sender == customer) {
		return nil
	}
	targets, err := s.targets(ctx, n.Store, n.Conversation)
	if err != nil || len(targets) == 0 {
		return err
	}
	if ts != nil && ts.Before(time.Now().Add(-s.cfg.TTL)) {
		s.m.replies.WithLabelValues("stale").Inc()
		return nil
	}
	tag, err := s.o.Pool.Exec(ctx, `INSERT INTO home_push_sent (store, conversation, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		n.Store, n.Conversation, n.Seq)
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if tag.RowsAffected() == 0 {
		s.m.replies.WithLabelValues("claimed_elsewhere").Inc()
		return nil
	}
	payload, err := s.payload(storeName, kind, sealed)
	if err != nil {
		return err
	}
	s.m.replies.WithLabelValues("pushed").Inc()
	for _, t := range targets {
		s.send(ctx, t, payload)
	}
	return nil
}

// targets are the subscriptions of the store's customer's logins that
// are neither revoked nor unused for longer than Options.LoginTTL.
func (s *Server) targets(ctx context.Context, store, customer string) ([]target, error) {
	rows, err := s.o.Pool.Query(ctx, `SELECT p.login, p.endpoint, p.p256dh, p.auth FROM home_push_subscriptions p
		JOIN home_logins l ON l.id = p.login JOIN home_customers hc ON hc.id = l.home_customer
		WHERE hc.store = $1 AND hc.customer = $2 AND l.revoked_at IS NULL
		  AND ($3::bigint = 0 OR l.last_used > now() - make_interval(secs => $3::bigint))
		ORDER BY p.login`, store, customer, int64(s.o.LoginTTL/time.Second))
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (target, error) {
		var t target
		err := r.Scan(&t.login, &t.endpoint, &t.p256dh, &t.auth)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("subscriptions: %w", err)
	}
	return ts, nil
}

// payload is the notification's JSON: the store's name and the reply's
// first characters (or what it is, for a photo or a voice message).
func (s *Server) payload(storeName, kind string, sealed []byte) ([]byte, error) {
	var body struct {
		Text string `json:"text"`
	}
	if sealed != nil {
		plain, err := s.o.Keys.Open(sealed, bodyAAD)
		if err != nil {
			return nil, fmt.Errorf("open the body: %w", err)
		}
		if err := json.Unmarshal(plain, &body); err != nil {
			return nil, fmt.Errorf("read the body: %w", err)
		}
	}
	text := body.Text
	if text == "" {
		switch kind {
		case "image":
			text = "Photo"
		case "voice":
			text = "Voice message"
		default:
			text = "New message"
		}
	}
	p := Payload{V: 1, Title: firstChars(storeName, 100), Body: firstChars(text, s.cfg.BodyChars), URL: "/home/", Tag: "chat"}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	if len(b) > s.cfg.MaxPayloadBytes {
		return nil, fmt.Errorf("payload of %d bytes is over push.max_payload_bytes %d", len(b), s.cfg.MaxPayloadBytes)
	}
	return b, nil
}

// firstChars is s's first n characters.
func firstChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// send posts one encrypted notification; a subscription the push service
// says is gone (404, 410) is deleted.
func (s *Server) send(ctx context.Context, t target, payload []byte) {
	result, err := s.post(ctx, t, payload)
	s.m.sent.WithLabelValues(result).Inc()
	switch result {
	case "delivered":
		if _, err := s.o.Pool.Exec(ctx, `UPDATE home_push_subscriptions SET failures = 0 WHERE login = $1 AND failures <> 0`, t.login); err != nil {
			s.fails.note(s.log, "webpush: note a delivery", "login", t.login, "err", err)
		}
		s.fails.ok(s.log)
	case "gone":
		if _, err := s.o.Pool.Exec(ctx, `DELETE FROM home_push_subscriptions WHERE login = $1 AND endpoint = $2`, t.login, t.endpoint); err != nil {
			s.fails.note(s.log, "webpush: delete a subscription its push service ended", "login", t.login, "err", err)
		}
	default:
		if _, uerr := s.o.Pool.Exec(ctx, `UPDATE home_push_subscriptions SET failures = failures + 1 WHERE login = $1`, t.login); uerr != nil {
			err = errors.Join(err, uerr)
		}
		s.fails.note(s.log, "webpush: a push service refused or did not answer", "login", t.login, "result", result, "err", err)
	}
}

// post sends the request and names its result: delivered, gone,
// rejected (4xx), unavailable (5xx, 429), error (no answer).
func (s *Server) post(ctx context.Context, t target, payload []byte) (string, error) {
	ua, err := decodeB64(t.p256dh)
	if err != nil {
		return "error", fmt.Errorf("p256dh: %w", err)
	}
	auth, err := decodeB64(t.auth)
	if err != nil {
		return "error", fmt.Errorf("auth: %w", err)
	}
	body, err := sealFor(payload, ua, auth)
	if err != nil {
		return "error", err
	}
	authz, err := s.vapid.authorization(t.endpoint, time.Now())
	if err != nil {
		return "error", err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.endpoint, bytes.NewReader(body))
	if err != nil {
		return "error", fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("TTL", strconv.FormatInt(int64(s.cfg.TTL/time.Second), 10))
	req.Header.Set("Urgency", "high")
	req.Header.Set("Authorization", authz)
	resp, err := s.client.Do(req)
	if err != nil {
		return "error", fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return "delivered", nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return "gone", nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "unavailable", fmt.Errorf("push service: %s: %s", resp.Status, bytes.TrimSpace(msg))
	default:
		return "rejected", fmt.Errorf("push service: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
}
