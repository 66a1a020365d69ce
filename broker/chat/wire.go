package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/svc"
)

// Message kinds.
const (
	KindText = "text"
	KindCard = "card"
)

// idPattern is the alphabet of conversation ids and members (device ids, as
// in the device registry); a conversation id is one topic level.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// envelope holds the fields svc already checked; op bodies embed it so
// strict decoding accepts them.
type envelope struct {
	ID      string          `json:"id"`
	V       int             `json:"v"`
	ReplyTo json.RawMessage `json:"reply_to,omitempty"`
}

type openReq struct {
	envelope
	Conversation string   `json:"conversation"`
	Members      []string `json:"members"`
}

type sendReq struct {
	envelope
	Conversation string          `json:"conversation"`
	Kind         string          `json:"kind"`
	Text         *string         `json:"text"`
	Card         json.RawMessage `json:"card"`
}

type historyReq struct {
	envelope
	Conversation string `json:"conversation"`
	After        uint64 `json:"after"`
	Limit        int    `json:"limit"`
}

type readReq struct {
	envelope
	Conversation string  `json:"conversation"`
	UpTo         *uint64 `json:"up_to"`
}

type recallReq struct {
	envelope
	Conversation string `json:"conversation"`
	Seq          uint64 `json:"seq"`
}

type listReq struct {
	envelope
	After string `json:"after"`
	Limit int    `json:"limit"`
}

// errTooLarge marks a decode failure that is a size limit, not bad input.
var errTooLarge = errors.New("too large")

// decodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

// badRequest turns a decode error into the op's answer.
func badRequest(err error) error {
	if errors.Is(err, errTooLarge) {
		return svc.Errorf(svc.CodeTooLarge, "%v", err)
	}
	return svc.Errorf(svc.CodeBadRequest, "%v", err)
}

func checkConv(id string) error {
	if !idPattern.MatchString(id) {
		return errors.New(`"conversation" must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`)
	}
	return nil
}

func decodeOpen(b []byte, maxMembers int) (openReq, error) {
	var r openReq
	if err := decodeStrict(b, &r); err != nil {
		return r, err
	}
	if r.Conversation != "" {
		if err := checkConv(r.Conversation); err != nil {
			return r, err
		}
	}
	if len(r.Members) > maxMembers {
		return r, fmt.Errorf("%w: %d members, at most %d", errTooLarge, len(r.Members), maxMembers)
	}
	for _, m := range r.Members {
		if !idPattern.MatchString(m) {
			return r, fmt.Errorf("member %q is not a device id", clip(m))
		}
	}
	slices.Sort(r.Members)
	r.Members = slices.Compact(r.Members)
	return r, nil
}

// body is what is sealed: exactly one of Text and Card.
type body struct {
	Text string          `json:"text,omitempty"`
	Card json.RawMessage `json:"card,omitempty"`
}

func decodeSend(b []byte, maxBody int) (sendReq, body, error) {
	var r sendReq
	if err := decodeStrict(b, &r); err != nil {
		return r, body{}, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, body{}, err
	}
	switch r.Kind {
	case KindText:
		if r.Text == nil || r.Card != nil {
			return r, body{}, errors.New(`a text message has "text" and no "card"`)
		}
		if *r.Text == "" || !utf8.ValidString(*r.Text) {
			return r, body{}, errors.New(`"text" must be non-empty UTF-8`)
		}
		if len(*r.Text) > maxBody {
			return r, body{}, fmt.Errorf("%w: text of %d bytes, at most %d", errTooLarge, len(*r.Text), maxBody)
		}
		return r, body{Text: *r.Text}, nil
	case KindCard:
		if r.Card == nil || r.Text != nil {
			return r, body{}, errors.New(`a card message has "card" and no "text"`)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, r.Card); err != nil {
			return r, body{}, fmt.Errorf(`"card": %w`, err)
		}
		if buf.Len() < 2 || buf.Bytes()[0] != '{' {
			return r, body{}, errors.New(`"card" must be a JSON object`)
		}
		if buf.Len() > maxBody {
			return r, body{}, fmt.Errorf("%w: card of %d bytes, at most %d", errTooLarge, buf.Len(), maxBody)
		}
		return r, body{Card: buf.Bytes()}, nil
	default:
		return r, body{}, fmt.Errorf(`"kind" must be %q or %q`, KindText, KindCard)
	}
}

func decodeHistory(b []byte, pageSize int) (historyReq, error) {
	var r historyReq
	if err := decodeStrict(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if r.Limit < 0 {
		return r, errors.New(`"limit" must not be negative`)
	}
	if r.Limit == 0 || r.Limit > pageSize {
		r.Limit = pageSize
	}
	return r, nil
}

func decodeRead(b []byte) (readReq, error) {
	var r readReq
	if err := decodeStrict(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if r.UpTo == nil {
		return r, errors.New(`"up_to" is required`)
	}
	return r, nil
}

func decodeRecall(b []byte) (recallReq, error) {
	var r recallReq
	if err := decodeStrict(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if r.Seq == 0 {
		return r, errors.New(`"seq" must be at least 1`)
	}
	return r, nil
}

func decodeList(b []byte, pageSize int) (listReq, error) {
	var r listReq
	if err := decodeStrict(b, &r); err != nil {
		return r, err
	}
	if r.After != "" {
		if err := checkConv(r.After); err != nil {
			return r, fmt.Errorf(`"after": %w`, err)
		}
	}
	if r.Limit < 0 {
		return r, errors.New(`"limit" must not be negative`)
	}
	if r.Limit == 0 || r.Limit > pageSize {
		r.Limit = pageSize
	}
	return r, nil
}

// Answers.

type convView struct {
	Conversation string    `json:"conversation"`
	Members      []string  `json:"members"`
	Created      time.Time `json:"created"`
	LastSeq      uint64    `json:"last_seq"`
	ReadUpTo     uint64    `json:"read_up_to"`
	Unread       uint64    `json:"unread"`
}

type openAns struct {
	convView
	New bool `json:"new"`
}

type sendAns struct {
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq"`
	TS           time.Time `json:"ts"`
}

// Message is one message as history returns it. A recalled message has
// Recalled set and neither Text nor Card.
type Message struct {
	Seq      uint64          `json:"seq"`
	ID       string          `json:"id"`
	From     string          `json:"from"`
	Kind     string          `json:"kind"`
	TS       time.Time       `json:"ts"`
	Text     string          `json:"text,omitempty"`
	Card     json.RawMessage `json:"card,omitempty"`
	Recalled *time.Time      `json:"recalled,omitempty"`
}

type historyAns struct {
	Conversation string    `json:"conversation"`
	Messages     []Message `json:"messages"`
	Next         uint64    `json:"next"`
	More         bool      `json:"more"`
	LastSeq      uint64    `json:"last_seq"`
	ReadUpTo     uint64    `json:"read_up_to"`
	Unread       uint64    `json:"unread"`
}

type readAns struct {
	Conversation string `json:"conversation"`
	UpTo         uint64 `json:"up_to"`
	Unread       uint64 `json:"unread"`
}

type recallAns struct {
	Conversation string    `json:"conversation"`
	Seq          uint64    `json:"seq"`
	Recalled     time.Time `json:"recalled"`
}

type listAns struct {
	Conversations []convView `json:"conversations"`
	Next          string     `json:"next"`
	More          bool       `json:"more"`
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
