package svc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Version is the envelope version this broker speaks ("v").
const Version = 1

// maxIDLen is the longest request id.
const maxIDLen = 64

// envelope is what the router reads from a request: the fields every op
// shares. Op fields stay in the raw payload for the handler.
type envelope struct {
	id      string // "" unless a valid id was found
	replyTo string
	hasTo   bool   // "reply_to" present (maybe not a string: then badTo)
	badTo   bool   // "reply_to" present but not a string
	err     *Error // the first envelope error, nil when the envelope is valid
}

// decodeEnvelope reads a request's envelope. It never fails outright: the
// fields found before an error are kept, so that a malformed request can
// still be answered to its reply_to with its id.
func decodeEnvelope(b []byte) envelope {
	var env envelope
	var sawID, sawV, sawTo bool
	fail := func(format string, a ...any) envelope {
		if env.err == nil {
			env.err = &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, a...)}
		}
		return env
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return fail("request must be a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("malformed JSON: %s", jsonErr(err))
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail("malformed JSON: %s", jsonErr(err))
		}
		switch key {
		case "id":
			if sawID {
				return fail("duplicate field \"id\"")
			}
			sawID = true
			var id string
			if json.Unmarshal(raw, &id) != nil || !validID(id) {
				fail("id must be a string of 1-%d letters, digits, '_', '.', ':' or '-'", maxIDLen)
				continue
			}
			env.id = id
		case "v":
			if sawV {
				return fail("duplicate field \"v\"")
			}
			sawV = true
			if string(raw) != strconv.Itoa(Version) {
				fail("unsupported version v=%s; this broker speaks v=%d", clipRaw(raw), Version)
			}
		case "reply_to":
			if sawTo {
				return fail("duplicate field \"reply_to\"")
			}
			sawTo = true
			env.hasTo = true
			if json.Unmarshal(raw, &env.replyTo) != nil {
				env.badTo = true
				env.replyTo = ""
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fail("malformed JSON: %s", jsonErr(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fail("malformed JSON: data after the object")
	}
	switch {
	case !sawID:
		return fail("missing field \"id\"")
	case !sawV:
		return fail("missing field \"v\" (must be %d)", Version)
	}
	return env
}

func jsonErr(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	return "invalid value"
}

func clipRaw(raw json.RawMessage) string {
	if len(raw) > 16 {
		return string(raw[:16]) + "…"
	}
	return string(raw)
}

// validID: 1-64 characters of [A-Za-z0-9_.:-] (a UUIDv7 or a ULID fits).
func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// validReplyTopic: topic is reply/{clientID} or below it, and a valid topic
// name. Client ids holding '/', '+' or '#' (refused by the auth hook at
// connect) have no reply address: they could name someone else's.
func validReplyTopic(topic, clientID string) bool {
	if clientID == "" || strings.ContainsAny(clientID, "/+#") {
		return false
	}
	const prefix = "reply/"
	if len(topic) < len(prefix)+len(clientID) || topic[:len(prefix)] != prefix ||
		topic[len(prefix):len(prefix)+len(clientID)] != clientID {
		return false
	}
	rest := topic[len(prefix)+len(clientID):]
	if rest != "" && rest[0] != '/' {
		return false
	}
	return len(topic) <= 65535 && utf8.ValidString(topic) && !strings.ContainsAny(topic, "+#\x00")
}

// errAnswer encodes {"v":1,"id":…,"ok":false,"error":{…}}.
func errAnswer(id string, e *Error) []byte {
	b := answerHead(id, false)
	b = append(b, `,"error":`...)
	msg, err := json.Marshal(e)
	if err != nil { // details that do not marshal: the code and message still go out
		msg, _ = json.Marshal(&Error{Code: e.Code, Message: e.Message}) // two strings: cannot fail
	}
	b = append(b, msg...)
	return append(b, '}')
}

// errResultNotObject is a handler bug: its result is not a JSON object.
var errResultNotObject = errors.New("svc: handler result must marshal to a JSON object")

// okAnswer encodes {"v":1,"id":…,"ok":true, …result's fields…}. result must
// marshal to a JSON object (or be nil) without the fields v, id, ok, error.
func okAnswer(id string, result any) ([]byte, error) {
	b := answerHead(id, true)
	if result == nil {
		return append(b, '}'), nil
	}
	obj, err := json.Marshal(result)
	if err != nil {
		return nil, fmt.Errorf("svc: marshal result: %w", err)
	}
	obj = bytes.TrimSpace(obj)
	if len(obj) < 2 || obj[0] != '{' {
		return nil, fmt.Errorf("%w (got %s)", errResultNotObject, clipRaw(obj))
	}
	if err := checkResultKeys(obj); err != nil {
		return nil, err
	}
	inner := bytes.TrimSpace(obj[1 : len(obj)-1])
	if len(inner) > 0 {
		b = append(b, ',')
		b = append(b, inner...)
	}
	return append(b, '}'), nil
}

// checkResultKeys refuses a result that would shadow an envelope field.
// obj is json.Marshal's output, so valid JSON: only its top-level keys are
// looked at, without decoding the values (every answer passes here).
func checkResultKeys(obj []byte) error {
	depth, wantKey := 0, false
	for i := 0; i < len(obj); i++ {
		switch c := obj[i]; c {
		case '{', '[':
			depth++
			wantKey = c == '{' && depth == 1
		case '}', ']':
			depth--
		case ',':
			wantKey = depth == 1
		case '"':
			end := i + 1
			escaped := false
			for ; end < len(obj) && obj[end] != '"'; end++ {
				if obj[end] == '\\' {
					escaped = true
					end++
				}
			}
			if end >= len(obj) {
				return errors.New("svc: result: unterminated string")
			}
			if wantKey {
				key := string(obj[i+1 : end])
				if escaped {
					if err := json.Unmarshal(obj[i:end+1], &key); err != nil {
						return fmt.Errorf("svc: result: %w", err)
					}
				}
				switch key {
				case "v", "id", "ok", "error":
					return fmt.Errorf("svc: result must not have the envelope field %q", key)
				}
				wantKey = false
			}
			i = end
		}
	}
	return nil
}

func answerHead(id string, ok bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"id":`...)
	b = strconv.AppendQuote(b, id) // id is [A-Za-z0-9_.:-] or "": no escaping differences
	if ok {
		return append(b, `,"ok":true`...)
	}
	return append(b, `,"ok":false`...)
}
