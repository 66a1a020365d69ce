package home

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/internal/httpjson"
	"github.com/storeedge/storeedge/proto"
)

// Additional data binding the sealed columns to their place.
var (
	messagesAAD  = []byte("hq/messages.body") // the replica's messages.body
	homeBodyAAD  = []byte("hq/home_messages.body")
	homeAutoAAD  = []byte("hq/home_messages.auto_reply")
	homeMediaAAD = []byte("hq/home_media.data")
)

// Msg is one message as the page at home shows it.
type Msg struct {
	Key      string           `json:"key"`
	ID       string           `json:"id"`
	Seq      uint64           `json:"seq"`
	From     string           `json:"from"` // me, staff or assistant
	Sender   string           `json:"sender"`
	Kind     string           `json:"kind"`
	Text     *string          `json:"text,omitempty"`
	Card     json.RawMessage  `json:"card,omitempty"`
	Media    *proto.MediaInfo `json:"media,omitempty"`
	TS       time.Time        `json:"ts"`
	State    string           `json:"state,omitempty"` // hers: sending, delivered, read
	Recalled bool             `json:"recalled"`
	Auto     bool             `json:"auto"`
	Via      string           `json:"via,omitempty"` // "hq": HQ answered while the store was offline
}

// body is what a message body holds (the replica's and home_messages').
type body struct {
	Text  string           `json:"text,omitempty"`
	Card  json.RawMessage  `json:"card,omitempty"`
	Media *proto.MediaInfo `json:"media,omitempty"`
}

// view is her conversation as the page shows it.
type view struct {
	Version  string     `json:"version"`
	Messages []Msg      `json:"messages"`
	Store    StoreState `json:"store"`
}

type homeRow struct {
	id, kind   string
	text       string
	media      *proto.MediaInfo
	auto       *proto.HomeAutoReply
	sent       time.Time
	recalled   bool
	inReplica  bool
	replicaSeq uint64
}

// homeRows are the latest messages she sent from home.
func (s *Server) homeRows(ctx context.Context, c Customer, limit int) ([]homeRow, error) {
	rows, err := s.o.Pool.Query(ctx, `SELECT h.id, h.kind, h.body, h.media, h.auto_reply, h.sent_at, h.recalled_at IS NOT NULL,
		  COALESCE((SELECT m.seq FROM messages m WHERE m.store = h.store AND m.conversation = h.conversation AND m.id = h.id LIMIT 1), 0)
		FROM home_messages h WHERE h.home_customer = $1 ORDER BY h.sent_at DESC, h.id DESC LIMIT $2`, c.ID, limit)
	if err != nil {
		return nil, fmt.Errorf("home: her messages: %w", err)
	}
	defer rows.Close()
	var out []homeRow
	for rows.Next() {
		var h homeRow
		var sealedBody, sealedAuto, media []byte
		var seq int64
		if err := rows.Scan(&h.id, &h.kind, &sealedBody, &media, &sealedAuto, &h.sent, &h.recalled, &seq); err != nil {
			return nil, fmt.Errorf("home: her messages: %w", err)
		}
		h.replicaSeq, h.inReplica = uint64(seq), seq > 0
		if sealedBody != nil {
			b, err := s.o.Keys.Open(sealedBody, homeBodyAAD)
			if err != nil {
				return nil, fmt.Errorf("home: open a message: %w", err)
			}
			var bd body
			if err := json.Unmarshal(b, &bd); err != nil {
				return nil, fmt.Errorf("home: a message body: %w", err)
			}
			h.text = bd.Text
		}
		if media != nil {
			if err := json.Unmarshal(media, &h.media); err != nil {
				return nil, fmt.Errorf("home: a message's media: %w", err)
			}
		}
		if sealedAuto != nil {
			b, err := s.o.Keys.Open(sealedAuto, homeAutoAAD)
			if err != nil {
				return nil, fmt.Errorf("home: open an answer: %w", err)
			}
			if err := json.Unmarshal(b, &h.auto); err != nil {
				return nil, fmt.Errorf("home: an answer: %w", err)
			}
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// view builds her conversation: the store's copy from the replica (the
// last page_size), her messages HQ holds that the store has not filed yet,
// and HQ's own answers to them.
func (s *Server) view(ctx context.Context, c Customer) (view, error) {
	st, err := s.State(ctx, c.Store)
	if err != nil {
		return view{}, err
	}
	shop, err := s.shop(ctx, c.Store)
	if err != nil {
		return view{}, err
	}
	homes, err := s.homeRows(ctx, c, s.cfg.PageSize)
	if err != nil {
		return view{}, err
	}
	homeByID := map[string]*homeRow{}
	autoAfter := map[uint64]bool{} // seq of her message HQ answered
	for i := range homes {
		homeByID[homes[i].id] = &homes[i]
		if homes[i].inReplica && homes[i].auto != nil {
			autoAfter[homes[i].replicaSeq] = true
		}
	}
	var readUpTo int64
	if err := s.o.Pool.QueryRow(ctx, `SELECT COALESCE(max(up_to), 0) FROM conversation_reads
		WHERE store = $1 AND conversation = $2 AND member <> $3`, c.Store, c.Customer, c.Customer).Scan(&readUpTo); err != nil {
		return view{}, fmt.Errorf("home: reads: %w", err)
	}
	rows, err := s.o.Pool.Query(ctx, `SELECT seq, id, sender, kind, ts, auto, recalled, body FROM messages
		WHERE store = $1 AND conversation = $2 ORDER BY seq DESC LIMIT $3`, c.Store, c.Customer, s.cfg.PageSize)
	if err != nil {
		return view{}, fmt.Errorf("home: conversation: %w", err)
	}
	var msgs []Msg
	for rows.Next() {
		var m Msg
		var seq int64
		var ts *time.Time
		var sealed []byte
		if err := rows.Scan(&seq, &m.ID, &m.Sender, &m.Kind, &ts, &m.Auto, &m.Recalled, &sealed); err != nil {
			rows.Close()
			return view{}, fmt.Errorf("home: conversation: %w", err)
		}
		m.Seq = uint64(seq)
		m.Key = "s:" + strconv.FormatUint(m.Seq, 10)
		if ts != nil {
			m.TS = *ts
		}
		if sealed != nil && !m.Recalled {
			b, err := s.o.Keys.Open(sealed, messagesAAD)
			if err != nil {
				rows.Close()
				return view{}, fmt.Errorf("home: open a message: %w", err)
			}
			var bd body
			if err := json.Unmarshal(b, &bd); err != nil {
				rows.Close()
				return view{}, fmt.Errorf("home: a message body: %w", err)
			}
			if bd.Text != "" {
				t := bd.Text
				m.Text = &t
			}
			m.Card, m.Media = bd.Card, bd.Media
		}
		switch {
		case m.Sender == c.Customer:
			m.From, m.State = "me", "delivered"
			if readUpTo >= seq {
				m.State = "read"
			}
			if h := homeByID[m.ID]; h != nil && h.recalled {
				m.Recalled, m.Text, m.Media, m.Card = true, nil, nil, nil
			}
		case m.Sender == assistantID || m.Auto:
			m.From = "assistant"
			if m.Auto && autoAfter[m.Seq-1] {
				m.Via = "hq"
			}
		default:
			m.From = "staff"
			if shop != nil && shop.staff[m.Sender] != "" {
				m.Sender = shop.staff[m.Sender]
			}
		}
		msgs = append(msgs, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return view{}, fmt.Errorf("home: conversation: %w", err)
	}
	// Oldest first.
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	for i := len(homes) - 1; i >= 0; i-- {
		h := homes[i]
		if h.inReplica {
			continue
		}
		msgs = append(msgs, s.pendingMsgs(c, h)...)
	}
	if len(msgs) > s.cfg.PageSize {
		msgs = msgs[len(msgs)-s.cfg.PageSize:]
	}
	if msgs == nil {
		msgs = []Msg{}
	}
	v := view{Messages: msgs, Store: st}
	b, _ := json.Marshal(struct {
		M            []Msg
		Online, Open bool
	}{msgs, st.Online, st.Open})
	sum := sha256.Sum256(b)
	v.Version = hex.EncodeToString(sum[:8])
	return v, nil
}

// pendingMsgs are her message only HQ has, and HQ's answer to it.
func (s *Server) pendingMsgs(c Customer, h homeRow) []Msg {
	m := Msg{Key: "p:" + h.id, ID: h.id, From: "me", Sender: c.Customer, Kind: h.kind, TS: h.sent, State: "sending",
		Recalled: h.recalled}
	if !h.recalled {
		if h.text != "" {
			t := h.text
			m.Text = &t
		}
		m.Media = h.media
	}
	out := []Msg{m}
	if h.auto != nil && !h.recalled {
		t := h.auto.Text
		out = append(out, Msg{Key: "p:" + h.id + "/auto", ID: h.id + "/auto", From: "assistant", Sender: assistantID,
			Kind: "text", Text: &t, TS: h.sent, Auto: true, Via: "hq"})
	}
	return out
}

// messages answers her conversation, at once when its version is not
// since, else when it changes or wait seconds pass.
func (s *Server) messages(w http.ResponseWriter, r *http.Request, c Customer) {
	q := r.URL.Query()
	since := q.Get("since")
	var wait time.Duration
	if ws := q.Get("wait"); ws != "" {
		n, err := strconv.Atoi(ws)
		if err != nil || n < 0 {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", "wait is a number of seconds.")
			return
		}
		wait = min(time.Duration(n)*time.Second, s.cfg.MaxWait)
	}
	if wait > 0 {
		s.waitMu.Lock()
		busy := s.polls[c.ID] >= s.cfg.MaxWaitsPerCustomer
		if !busy {
			s.polls[c.ID]++
		}
		s.waitMu.Unlock()
		if busy {
			tooMany(w, time.Second, fmt.Sprintf("This conversation is already open on %d screens; close one.", s.cfg.MaxWaitsPerCustomer))
			return
		}
		defer func() {
			s.waitMu.Lock()
			if s.polls[c.ID]--; s.polls[c.ID] <= 0 {
				delete(s.polls, c.ID)
			}
			s.waitMu.Unlock()
		}()
	}
	ch, done := s.subscribe(c.Store, c.Customer)
	defer done()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		v, err := s.view(r.Context(), c)
		if err != nil {
			internal(w, s.log, "conversation", err)
			return
		}
		if v.Version != since || wait == 0 {
			httpjson.Write(w, http.StatusOK, v)
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			wait = 0
		case <-s.stopped:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}

// sendRequest is POST /messages.
type sendRequest struct {
	ID    string           `json:"id"`
	Kind  string           `json:"kind"`
	Text  string           `json:"text,omitempty"`
	Media *proto.MediaInfo `json:"media,omitempty"`
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// send takes a message from home: stored, sent down to the store, and
// answered by HQ itself while the store cannot.
func (s *Server) send(w http.ResponseWriter, r *http.Request, c Customer) {
	var req sendRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !validID(req.ID) {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "Each message needs an id of 1 to 64 letters, digits, '-', '_' or '.'.")
		return
	}
	switch req.Kind {
	case "text":
		if strings.TrimSpace(req.Text) == "" {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", "The message is empty.")
			return
		}
		req.Media = nil
	case "image", "voice":
		if req.Media == nil || req.Media.Hash == "" {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", "A photo or voice message needs its uploaded media.")
			return
		}
	default:
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "A message is text, a photo (image) or a voice message (voice).")
		return
	}
	if len(req.Text) > s.cfg.MaxText {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "too_large",
			fmt.Sprintf("The message is too long: at most %d bytes (about %d Chinese characters).", s.cfg.MaxText, s.cfg.MaxText/3))
		return
	}
	ctx := r.Context()
	// A repeat of a message HQ holds: send it again, store nothing new.
	existing, err := s.homeMessage(ctx, req.ID)
	if err != nil {
		internal(w, s.log, "message", err)
		return
	}
	if existing != nil && existing.owner != c.ID {
		httpjson.Error(w, http.StatusConflict, "conflict", "This message id is already taken; send it with a new id.")
		return
	}
	var media *proto.MediaInfo
	if req.Media != nil {
		media, _, err = s.ownMedia(ctx, c, req.Media)
		if err != nil {
			internal(w, s.log, "media", err)
			return
		}
		if media == nil {
			httpjson.Error(w, http.StatusNotFound, "not_found", "That photo or voice message was not uploaded from this account; upload it first.")
			return
		}
		if (req.Kind == "image") != strings.HasPrefix(media.Type, "image/") {
			httpjson.Error(w, http.StatusBadRequest, "bad_request", "A photo must be an image and a voice message a recording.")
			return
		}
	}
	st, err := s.State(ctx, c.Store)
	if err != nil {
		internal(w, s.log, "store state", err)
		return
	}
	if existing == nil {
		if over, retry := s.sends.over(c.ID, ""); over {
			s.sent.WithLabelValues("refused").Inc()
			tooMany(w, retry, fmt.Sprintf("You have sent %d messages in a minute; please wait a little.", s.cfg.MessagesPerMinute))
			return
		}
		var auto *proto.HomeAutoReply
		if !st.Online {
			if auto, err = s.autoReply(ctx, c.Store, st, req.Text, r.Header.Get("Accept-Language")); err != nil {
				internal(w, s.log, "answer", err)
				return
			}
		}
		if err := s.storeMessage(ctx, c, req, media, auto); err != nil {
			internal(w, s.log, "message", err)
			return
		}
		s.sends.add(c.ID, "")
		if existing, err = s.homeMessage(ctx, req.ID); err != nil || existing == nil || existing.owner != c.ID {
			if err == nil {
				err = errors.New("message lost after insert")
			}
			if existing != nil && existing.owner != c.ID {
				httpjson.Error(w, http.StatusConflict, "conflict", "This message id is already taken; send it with a new id.")
				return
			}
			internal(w, s.log, "message", err)
			return
		}
		s.wake(c.Store, c.Customer)
	}
	if err := s.publishPending(ctx, c); err != nil {
		s.log.Warn("a message from home could not be sent to the store yet; HQ sends it again", "store", c.Store, "id", req.ID, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable",
			"HQ keeps your message and will pass it on to the store as soon as it can.")
		return
	}
	// The store is online: it answers itself, if the message gets there
	// in time; else HQ answers for it.
	if existing.auto == nil && !existing.inReplica && st.Online && s.cfg.ReplyWait > 0 {
		arrived, err := s.awaitReplica(ctx, c, req.ID)
		if err != nil {
			return // the caller went away
		}
		if !arrived {
			auto, err := s.autoReply(ctx, c.Store, st, req.Text, r.Header.Get("Accept-Language"))
			if err == nil {
				err = s.setAutoReply(ctx, req.ID, auto)
			}
			if err != nil {
				internal(w, s.log, "answer", err)
				return
			}
			s.wake(c.Store, c.Customer)
		}
	}
	s.answerMessage(w, r, c, req.ID)
}

// answerMessage answers POST /messages and recall: the message and HQ's
// answer to it, as the view shows them.
func (s *Server) answerMessage(w http.ResponseWriter, r *http.Request, c Customer, id string) {
	v, err := s.view(r.Context(), c)
	if err != nil {
		internal(w, s.log, "conversation", err)
		return
	}
	out := map[string]any{"auto": []Msg{}}
	var auto []Msg
	found := false
	for i, m := range v.Messages {
		if m.ID == id && m.From == "me" {
			out["message"] = m
			found = true
			for _, n := range v.Messages[i+1:] {
				if n.From == "assistant" && n.Auto && (n.ID == id+"/auto" || n.Via == "hq" || n.Seq == m.Seq+1 && m.Seq > 0) {
					auto = append(auto, n)
					continue
				}
				break
			}
			break
		}
	}
	if !found { // beyond the page: the bare message
		h, err := s.homeRows(r.Context(), c, 1000)
		if err != nil {
			internal(w, s.log, "message", err)
			return
		}
		for _, x := range h {
			if x.id == id {
				out["message"] = s.pendingMsgs(c, x)[0]
			}
		}
	}
	if auto != nil {
		out["auto"] = auto
	}
	httpjson.Write(w, http.StatusOK, out)
}

// stored is one of home_messages as send and recall need it.
type stored struct {
	id, owner, store, customer, kind string
	text                             string
	media                            *proto.MediaInfo
	auto                             *proto.HomeAutoReply
	sent                             time.Time
	recalled                         *time.Time
	inReplica                        bool
}

func (s *Server) homeMessage(ctx context.Context, id string) (*stored, error) {
	var m stored
	var sealedBody, sealedAuto, media []byte
	err := s.o.Pool.QueryRow(ctx, `SELECT h.id, h.home_customer, h.store, h.conversation, h.kind, h.body, h.media, h.auto_reply,
		  h.sent_at, h.recalled_at,
		  EXISTS (SELECT 1 FROM messages m WHERE m.store = h.store AND m.conversation = h.conversation AND m.id = h.id)
		FROM home_messages h WHERE h.id = $1`, id).Scan(&m.id, &m.owner, &m.store, &m.customer, &m.kind, &sealedBody, &media,
		&sealedAuto, &m.sent, &m.recalled, &m.inReplica)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("home: message %s: %w", id, err)
	}
	if sealedBody != nil {
		b, err := s.o.Keys.Open(sealedBody, homeBodyAAD)
		if err != nil {
			return nil, fmt.Errorf("home: open message %s: %w", id, err)
		}
		var bd body
		if err := json.Unmarshal(b, &bd); err != nil {
			return nil, fmt.Errorf("home: message %s: %w", id, err)
		}
		m.text = bd.Text
	}
	if media != nil {
		if err := json.Unmarshal(media, &m.media); err != nil {
			return nil, fmt.Errorf("home: message %s: %w", id, err)
		}
	}
	if sealedAuto != nil {
		b, err := s.o.Keys.Open(sealedAuto, homeAutoAAD)
		if err != nil {
			return nil, fmt.Errorf("home: open answer %s: %w", id, err)
		}
		if err := json.Unmarshal(b, &m.auto); err != nil {
			return nil, fmt.Errorf("home: answer %s: %w", id, err)
		}
	}
	return &m, nil
}

func (s *Server) storeMessage(ctx context.Context, c Customer, req sendRequest, media *proto.MediaInfo, auto *proto.HomeAutoReply) error {
	var sealedBody, sealedAuto, mediaJSON []byte
	if req.Text != "" {
		b, _ := json.Marshal(body{Text: req.Text})
		var err error
		if sealedBody, err = s.o.Keys.Seal(b, homeBodyAAD); err != nil {
			return fmt.Errorf("home: seal: %w", err)
		}
	}
	if media != nil {
		mediaJSON, _ = json.Marshal(media)
	}
	if auto != nil {
		b, _ := json.Marshal(auto)
		var err error
		if sealedAuto, err = s.o.Keys.Seal(b, homeAutoAAD); err != nil {
			return fmt.Errorf("home: seal: %w", err)
		}
	}
	_, err := s.o.Pool.Exec(ctx, `INSERT INTO home_messages (id, home_customer, store, conversation, kind, body, media, auto_reply, sent_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
		req.ID, c.ID, c.Store, c.Customer, req.Kind, sealedBody, mediaJSON, sealedAuto, s.now())
	if err != nil {
		return fmt.Errorf("home: store message: %w", err)
	}
	s.sent.WithLabelValues(map[bool]string{true: "offline_answer", false: "store"}[auto != nil]).Inc()
	return nil
}

func (s *Server) setAutoReply(ctx context.Context, id string, auto *proto.HomeAutoReply) error {
	b, _ := json.Marshal(auto)
	sealed, err := s.o.Keys.Seal(b, homeAutoAAD)
	if err != nil {
		return fmt.Errorf("home: seal: %w", err)
	}
	if _, err := s.o.Pool.Exec(ctx, `UPDATE home_messages SET auto_reply = $2 WHERE id = $1 AND auto_reply IS NULL`, id, sealed); err != nil {
		return fmt.Errorf("home: answer: %w", err)
	}
	return nil
}

// publishPending sends down, in the order she sent them, her messages
// HQ's broker has not taken yet, and marks each taken. It stops at the
// first that fails (the rest wait their turn: the store gets them in
// order).
func (s *Server) publishPending(ctx context.Context, c Customer) error {
	// One sender per customer at a time in this process: the resend loop
	// and her own send do not send the same message twice.
	mu := &s.sendLocks[fnv32(c.ID)%uint32(len(s.sendLocks))]
	mu.Lock()
	defer mu.Unlock()
	rows, err := s.o.Pool.Query(ctx, `SELECT id FROM home_messages WHERE home_customer = $1 AND published_at IS NULL
		AND recalled_at IS NULL ORDER BY sent_at, id`, c.ID)
	if err != nil {
		return fmt.Errorf("home: messages to send: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("home: messages to send: %w", err)
	}
	for _, id := range ids {
		m, err := s.homeMessage(ctx, id)
		if err != nil {
			return err
		}
		if m == nil || m.inReplica {
			continue
		}
		if err := s.publishMessage(ctx, c, m); err != nil {
			return err
		}
		if _, err := s.o.Pool.Exec(ctx, `UPDATE home_messages SET published_at = $2 WHERE id = $1`, id, s.now()); err != nil {
			return fmt.Errorf("home: message %s sent: %w", id, err)
		}
	}
	return nil
}

// resend sends again what HQ's broker did not take, for every customer
// with such messages older than publish_timeout.
func (s *Server) resend(ctx context.Context) error {
	rows, err := s.o.Pool.Query(ctx, `SELECT DISTINCT c.id, c.store, c.customer FROM home_messages h
		JOIN home_customers c ON c.id = h.home_customer
		WHERE h.published_at IS NULL AND h.recalled_at IS NULL AND h.sent_at < $1 LIMIT 1000`, s.now().Add(-s.cfg.PublishTimeout))
	if err != nil {
		return fmt.Errorf("home: resend: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) {
		var c Customer
		return c, r.Scan(&c.ID, &c.Store, &c.Customer)
	})
	if err != nil {
		return fmt.Errorf("home: resend: %w", err)
	}
	for _, c := range cs {
		if err := s.publishPending(ctx, c); err != nil {
			return err
		}
		s.log.Info("page at home: sent again what HQ's broker had not taken", "store", c.Store, "home_customer", c.ID)
	}
	return nil
}

// publishMessage sends her message down (its blob first).
func (s *Server) publishMessage(ctx context.Context, c Customer, m *stored) error {
	if m.media != nil {
		_, data, err := s.ownMedia(ctx, c, m.media)
		if err != nil {
			return err
		}
		if data == nil {
			return fmt.Errorf("home: message %s: its blob %s is gone", m.id, m.media.Hash)
		}
		put := proto.HQMediaPut{V: 1, ID: "mp-" + m.id, Customer: c.Customer, Hash: m.media.Hash, Type: m.media.Type, Data: data}
		b, _ := json.Marshal(put)
		if err := s.publish(ctx, c.Store, proto.HQMediaPutTopic, b, put.ID); err != nil {
			return fmt.Errorf("home: media put: %w", err)
		}
	}
	sent := m.sent.UTC()
	msg := proto.HQChatMessage{V: 1, ID: m.id, Customer: c.Customer, Kind: m.kind, Media: m.media, Sent: &sent, AutoReply: m.auto}
	if m.text != "" {
		t := m.text
		msg.Text = &t
		if hasHan(t) {
			msg.Lang = "zh"
		}
	}
	b, _ := json.Marshal(msg)
	if err := s.publish(ctx, c.Store, "hq/chat/message", b, msg.ID); err != nil {
		return fmt.Errorf("home: chat message: %w", err)
	}
	return nil
}

// awaitReplica waits reply_wait for the store's copy of message id.
func (s *Server) awaitReplica(ctx context.Context, c Customer, id string) (bool, error) {
	ch, done := s.subscribe(c.Store, c.Customer)
	defer done()
	timer := time.NewTimer(s.cfg.ReplyWait)
	defer timer.Stop()
	for {
		var ok bool
		if err := s.o.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE store = $1 AND conversation = $2 AND id = $3)`,
			c.Store, c.Customer, id).Scan(&ok); err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
		select {
		case <-ch:
		case <-timer.C:
			return false, nil
		case <-s.stopped:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// Notices HQ gives while the store cannot answer.
var notices = map[string]map[string]string{
	"offline": {
		"en": "The store is offline right now. Your message is kept and will reach the store when it is back.",
		"zh": "门店暂时离线。您的消息已保存，门店恢复连接后就会收到。",
	},
	"closed": {
		"en": "The store is closed now{when}. Your message is kept and will reach the store when it is back.",
		"zh": "门店现在休息{when}。您的消息已保存，门店恢复后就会收到。",
	},
}

// autoReply is HQ's answer to a message the store cannot answer now: the
// notice, and the store's FAQ answer to her question when it has one.
func (s *Server) autoReply(ctx context.Context, store string, st StoreState, text, acceptLang string) (*proto.HomeAutoReply, error) {
	lang := "en"
	if hasHan(text) || text == "" && strings.HasPrefix(strings.ToLower(acceptLang), "zh") {
		lang = "zh"
	}
	reason := "offline"
	if !st.Open {
		reason = "closed"
	}
	notice := notices[reason][lang]
	when := ""
	if st.NextOpen != nil {
		loc := time.UTC
		if l, err := time.LoadLocation(st.Zone); err == nil {
			loc = l
		}
		if lang == "zh" {
			when = "，" + st.NextOpen.In(loc).Format("1月2日 15:04") + " 开门"
		} else {
			when = ", opens " + st.NextOpen.In(loc).Format("Mon 2 Jan at 15:04")
		}
	}
	notice = strings.ReplaceAll(notice, "{when}", when)
	out := &proto.HomeAutoReply{Text: notice, Reason: reason}
	if strings.TrimSpace(text) == "" {
		return out, nil
	}
	shop, err := s.shop(ctx, store)
	if err != nil {
		return nil, err
	}
	if shop == nil || shop.faq == nil {
		return out, nil
	}
	rep := shop.faq.Answer(text, lang)
	if rep.Kind == faq.Answer || rep.Kind == faq.Handoff && rep.Intent == faq.IntentUrgent {
		out.Text = notice + "\n\n" + rep.Text
		out.Intent = rep.Intent
	}
	return out, nil
}

// recall takes back her message within the recall window.
func (s *Server) recall(w http.ResponseWriter, r *http.Request, c Customer) {
	id := r.PathValue("id")
	m, err := s.homeMessage(r.Context(), id)
	if err != nil {
		internal(w, s.log, "recall", err)
		return
	}
	if m == nil || m.owner != c.ID {
		httpjson.Error(w, http.StatusNotFound, "not_found", "There is no such message of yours sent from here.")
		return
	}
	if m.recalled == nil {
		if s.now().Sub(m.sent) > s.cfg.RecallWindow {
			httpjson.Error(w, http.StatusConflict, "conflict",
				fmt.Sprintf("A message can be taken back only within %s of sending it.", s.cfg.RecallWindow))
			return
		}
		if _, err := s.o.Pool.Exec(r.Context(), `UPDATE home_messages SET recalled_at = $2 WHERE id = $1 AND recalled_at IS NULL`,
			id, s.now()); err != nil {
			internal(w, s.log, "recall", err)
			return
		}
		s.wake(c.Store, c.Customer)
	}
	rc := proto.HQChatRecall{V: 1, ID: "rc-" + id, Customer: c.Customer, Message: id}
	b, _ := json.Marshal(rc)
	if err := s.publish(r.Context(), c.Store, proto.HQChatRecallTopic, b, rc.ID); err != nil {
		s.log.Warn("a recall from home could not be sent to the store yet", "store", c.Store, "id", id, "err", err)
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "HQ took the message back but could not tell the store just now. Please try again.")
		return
	}
	s.answerMessage(w, r, c, id)
}

type readRequest struct {
	UpTo uint64 `json:"up_to"`
}

// read passes her read receipt to the store.
func (s *Server) read(w http.ResponseWriter, r *http.Request, c Customer) {
	var req readRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.UpTo == 0 {
		httpjson.Error(w, http.StatusBadRequest, "bad_request", "up_to is the last message seen (its seq).")
		return
	}
	rd := proto.HQChatRead{V: 1, ID: fmt.Sprintf("rd-%s-%d", c.ID, req.UpTo), Customer: c.Customer, UpTo: req.UpTo}
	b, _ := json.Marshal(rd)
	if err := s.publish(r.Context(), c.Store, "hq/chat/read", b, rd.ID); err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "unavailable", "HQ could not pass this on just now.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fnv32 is the FNV-1a hash of s.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
