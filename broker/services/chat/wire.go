package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Message kinds (proto.Kind*).
const (
	KindText   = proto.KindText
	KindCard   = proto.KindCard
	KindImage  = proto.KindImage
	KindVoice  = proto.KindVoice
	KindVideo  = proto.KindVideo
	KindFile   = proto.KindFile
	KindSystem = proto.KindSystem
)

// mediaKinds maps a media message kind to the MIME type prefix its blob
// must have ("" = any type the media store accepts).
var mediaKinds = map[string]string{KindImage: "image/", KindVoice: "audio/", KindVideo: "video/", KindFile: ""}

// CardTypes are the structured cards a message may carry.
var CardTypes = proto.CardTypes

// idPattern is the alphabet of conversation ids and members (device ids, as
// in the device registry); a conversation id is one topic level.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// The request bodies: proto's, with the envelope svc already checked, so
// strict decoding accepts them.
type (
	openReq struct {
		proto.Envelope
		proto.ChatOpenRequest
	}
	sendReq struct {
		proto.Envelope
		proto.ChatSendRequest
		// hqAuto is what HQ answered a customer at home while the store
		// was offline (HandleHQ only): filed after her message instead of
		// the store's own assistant's answer.
		hqAuto *proto.HomeAutoReply
		// fromHQ: a customer's message from home, which HQ let through
		// under its own limit (home.messages_per_minute); the store's
		// customer budgets are for its own devices (HandleHQ only).
		fromHQ bool
	}
	historyReq struct {
		proto.Envelope
		proto.ChatHistoryRequest
	}
	readReq struct {
		proto.Envelope
		proto.ChatReadRequest
	}
	groupCreateReq struct {
		proto.Envelope
		proto.GroupCreateRequest
	}
	groupMembersReq struct {
		proto.Envelope
		proto.GroupMembersRequest
	}
	convReq struct {
		proto.Envelope
		proto.ConversationRequest
	}
	assignReq struct {
		proto.Envelope
		proto.AssignRequest
	}
	sessionReq struct {
		proto.Envelope
		proto.ChatSessionRequest
	}
	recallReq struct {
		proto.Envelope
		proto.ChatRecallRequest
	}
	listReq struct {
		proto.Envelope
		proto.ChatListRequest
	}
)

func checkConv(id string) error {
	if !idPattern.MatchString(id) {
		return errors.New(`"conversation" must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit`)
	}
	return nil
}

func decodeOpen(b []byte, maxMembers int) (openReq, error) {
	var r openReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if r.Conversation != "" {
		if err := checkConv(r.Conversation); err != nil {
			return r, err
		}
	}
	if len(r.Members) > maxMembers {
		return r, fmt.Errorf("%w: %d members, at most %d", svc.ErrTooLarge, len(r.Members), maxMembers)
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

// body is what is sealed: a text, a card, or a media reference with its
// meta and an optional caption (Text).
type body struct {
	Text  string          `json:"text,omitempty"`
	Card  json.RawMessage `json:"card,omitempty"`
	Media *MediaInfo      `json:"media,omitempty"`
}

// MediaInfo describes the blob of a media message (from broker/blob).
type MediaInfo = proto.MediaInfo

func decodeSend(b []byte, maxBody int) (sendReq, body, error) {
	var r sendReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, body{}, err
	}
	bd, err := r.check(maxBody)
	return r, bd, err
}

// check checks a decoded send (from a request, or from a message HQ sent
// for a remote customer) and returns the body to seal.
func (r *sendReq) check(maxBody int) (body, error) {
	if err := checkConv(r.Conversation); err != nil {
		return body{}, err
	}
	if len(r.Lang) > 16 {
		return body{}, errors.New(`"lang" must be a language tag such as "zh" or "en"`)
	}
	text := func(optional bool) (string, error) {
		if r.Text == nil {
			if optional {
				return "", nil
			}
			return "", fmt.Errorf(`a %s message has "text"`, r.Kind)
		}
		if *r.Text == "" || !utf8.ValidString(*r.Text) {
			return "", errors.New(`"text" must be non-empty UTF-8`)
		}
		if err := safetext.Check("text", *r.Text, true); err != nil {
			return "", err
		}
		if len(*r.Text) > maxBody {
			return "", fmt.Errorf("%w: text of %d bytes, at most %d", svc.ErrTooLarge, len(*r.Text), maxBody)
		}
		return *r.Text, nil
	}
	switch r.Kind {
	case KindText:
		if r.Card != nil || r.Media != nil {
			return body{}, errors.New(`a text message has "text" and no "card" or "media"`)
		}
		t, err := text(false)
		return body{Text: t}, err
	case KindCard:
		if r.Card == nil || r.Text != nil || r.Media != nil {
			return body{}, errors.New(`a card message has "card" and no "text" or "media"`)
		}
		card, err := checkCard(r.Card, maxBody)
		return body{Card: card}, err
	case KindImage, KindVoice, KindVideo, KindFile:
		if r.Media == nil || r.Card != nil {
			return body{}, fmt.Errorf(`a %s message has "media" {"hash"} and no "card"`, r.Kind)
		}
		if !hashPattern.MatchString(r.Media.Hash) {
			return body{}, errors.New(`"media.hash" must be the blob's SHA-256 in lower-case hex`)
		}
		t, err := text(true)
		return body{Text: t, Media: &MediaInfo{Hash: r.Media.Hash}}, err
	default:
		return body{}, fmt.Errorf(`"kind" must be one of text, card, image, voice, video, file`)
	}
}

// checkCard compacts a card and checks it: a JSON object of at most maxBody
// bytes with a "type" in CardTypes. A card send and a Post share it, so a
// store service's card passes exactly when staff could have sent it.
func checkCard(raw json.RawMessage, maxBody int) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf(`"card": %w`, err)
	}
	if buf.Len() > maxBody {
		return nil, fmt.Errorf("%w: card of %d bytes, at most %d", svc.ErrTooLarge, buf.Len(), maxBody)
	}
	var head struct {
		Type string `json:"type"`
	}
	if buf.Len() < 2 || buf.Bytes()[0] != '{' || json.Unmarshal(buf.Bytes(), &head) != nil {
		return nil, errors.New(`"card" must be a JSON object`)
	}
	if !slices.Contains(CardTypes, head.Type) {
		return nil, fmt.Errorf(`"card" needs a "type", one of %v`, CardTypes)
	}
	var all any
	if err := json.Unmarshal(buf.Bytes(), &all); err != nil {
		return nil, fmt.Errorf(`"card": %w`, err)
	}
	if err := checkStrings("card", all); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// CustomerCardTypes are the cards a sender without a staff role may send:
// sharing a product. Booking, progress, reminder and survey cards come from
// the store's services, promotions from staff; a customer's copy of one
// would look like the store's own on the console and the customer page.
var CustomerCardTypes = []string{"product"}

// cardType returns the "type" of a card checkCard accepted.
func cardType(card []byte) string {
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(card, &head) // checked by checkCard
	return head.Type
}

// checkStrings refuses control and bidi override characters in every
// string (keys too) of a decoded JSON value.
func checkStrings(path string, v any) error {
	switch v := v.(type) {
	case string:
		return safetext.Check(path, v, true)
	case []any:
		for i, e := range v {
			if err := checkStrings(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range v {
			if err := safetext.Check(path+" key", k, false); err != nil {
				return err
			}
			if err := checkStrings(path+"."+k, e); err != nil {
				return err
			}
		}
	}
	return nil
}

var hashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func decodeMembers(ms []string, maxMembers int) ([]string, error) {
	if len(ms) > maxMembers {
		return nil, fmt.Errorf("%w: %d members, at most %d", svc.ErrTooLarge, len(ms), maxMembers)
	}
	for _, m := range ms {
		if !idPattern.MatchString(m) {
			return nil, fmt.Errorf("member %q is not a device or customer id", clip(m))
		}
	}
	out := slices.Clone(ms)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func decodeGroupCreate(b []byte, maxMembers int) (groupCreateReq, error) {
	var r groupCreateReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if r.Title == "" || len(r.Title) > 200 || !utf8.ValidString(r.Title) {
		return r, errors.New(`"title" must be 1-200 bytes of UTF-8`)
	}
	if err := safetext.Check("title", r.Title, false); err != nil {
		return r, err
	}
	var err error
	r.Members, err = decodeMembers(r.Members, maxMembers)
	return r, err
}

func decodeGroupMembers(b []byte, maxMembers int) (groupMembersReq, error) {
	var r groupMembersReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if len(r.Members) == 0 {
		return r, errors.New(`"members" must name at least one member`)
	}
	var err error
	r.Members, err = decodeMembers(r.Members, maxMembers)
	return r, err
}

func decodeConv(b []byte) (convReq, error) {
	var r convReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	return r, checkConv(r.Conversation)
}

func decodeAssign(b []byte) (assignReq, error) {
	var r assignReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if err := checkConv(r.Conversation); err != nil {
		return r, err
	}
	if !idPattern.MatchString(r.Staff) {
		return r, errors.New(`"staff" must be a device id`)
	}
	return r, nil
}

func decodeSession(b []byte) (sessionReq, error) {
	var r sessionReq
	if err := strictjson.Decode(b, &r); err != nil {
		return r, err
	}
	if r.Customer != "" && !idPattern.MatchString(r.Customer) {
		return r, errors.New(`"customer" must be a customer id`)
	}
	return r, nil
}

func decodeEmpty(b []byte) error {
	var r proto.Envelope
	return strictjson.Decode(b, &r)
}

func decodeHistory(b []byte, pageSize int) (historyReq, error) {
	var r historyReq
	if err := strictjson.Decode(b, &r); err != nil {
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
	if err := strictjson.Decode(b, &r); err != nil {
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
	if err := strictjson.Decode(b, &r); err != nil {
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
	if err := strictjson.Decode(b, &r); err != nil {
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

// Answers: proto's wire types under the service's names.
type (
	convView     = proto.ConversationView
	openAns      = proto.ChatOpenAnswer
	sendAns      = proto.ChatSendAnswer
	historyAns   = proto.HistoryPage
	readAns      = proto.ReadAnswer
	deliveredAns = proto.DeliveredAnswer
	recallAns    = proto.RecallAnswer
	listAns      = proto.ConversationPage
)

// Receipt is how far one member's devices got (delivered) and how far the
// member read; read implies delivered.
type Receipt = proto.Receipt

// Message is one message as history returns it. A recalled message has
// Recalled set and neither Text nor Card.
type Message = proto.ChatMessage

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
