package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// HQ keeps a replica of every conversation: the service files each message,
// recall and staff read receipt in the Outbox, in the transaction that
// stores it, whoever the members are. Customers at home reach the store
// through HQ: a customer only HQ knows has a member id starting with
// RemotePrefix (HQ's customer id behind it); the store's own customer who
// continues at home keeps her cust-… id and her conversation. HQ's bridge
// (cloudsync) hands their messages, read receipts and recalls to HandleHQ
// from the local topics below. PROTOCOL.md, "Chat with HQ" and "At home",
// is the contract.
const (
	// RemotePrefix starts the member id of a customer who chats through HQ.
	RemotePrefix = "hq-"
	// HQMessageTopic carries a remote customer's message (HQ → store).
	HQMessageTopic = "hq/chat/message"
	// HQReadTopic carries a remote customer's read receipt (HQ → store).
	HQReadTopic = "hq/chat/read"
	// HQRecallTopic takes back a message a customer sent from home
	// (HQ → store), by HQ's message id.
	HQRecallTopic = proto.HQChatRecallTopic
)

func isRemote(member string) bool { return strings.HasPrefix(member, RemotePrefix) }

// HQTopic is the local topic a conversation's outbox entries are filed
// under (cloudsync maps it to stores/{store}/up/chat/{conv}/hq).
func HQTopic(convID string) string { return "chat/" + convID + "/hq" }

// HQEntry is one outbox entry for HQ (proto.HQChatEntry).
type HQEntry = proto.HQChatEntry

// toHQ files a stored message for HQ. plain is the message's body JSON.
func (s *Service) toHQ(tx *bolt.Tx, c *conv, seq uint64, m *msg, plain []byte) error {
	if s.o.Outbox == nil {
		return nil
	}
	var b body
	if err := json.Unmarshal(plain, &b); err != nil {
		return fmt.Errorf("chat: outbox body: %w", err)
	}
	return s.putHQ(tx, HQEntry{Type: "message", Origin: fmt.Sprintf("%s/%d", c.ID, seq), Conversation: c.ID, Customer: c.customer(), Seq: seq,
		ID: m.ID, From: m.From, Kind: m.Kind, TS: m.TS, Text: b.Text, Card: b.Card, Media: b.Media, Auto: m.Auto})
}

func (s *Service) putHQ(tx *bolt.Tx, e HQEntry) error {
	e.V = 1
	p, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("chat: encode outbox entry: %w", err)
	}
	if err := s.o.Outbox.Put(tx, HQTopic(e.Conversation), p); err != nil {
		return fmt.Errorf("chat: outbox: %w", err)
	}
	return nil
}

type (
	hqMessage = proto.HQChatMessage
	hqRead    = proto.HQChatRead
)

// ErrHQInput marks an HQ message that is not valid; HandleHQ drops it (a
// replay would fail the same way) and the bridge logs it.
var ErrHQInput = errors.New("chat: invalid message from HQ")

// HandleHQ stores what HQ sent on topic (HQMessageTopic, HQReadTopic or
// HQRecallTopic). A remote customer's conversation is the customer's id;
// it is opened on their first message, with the FAQ assistant on, and runs
// like any customer's (staff answers go to the Outbox). A customer of the
// store at home (a cust-… id HQ learnt from the store's vouch) writes into
// her own conversation, which must exist. Photos and voice notes refer to
// a blob HQ put first (hq/media/put). An auto_reply (HQ's answer while the
// store was offline) is filed right after her message as the assistant's,
// and the store's own assistant does not answer that message. Safe to call
// again with the same payload: ids make it idempotent. The payload is
// decoded once and handed to the ops' own code as the customer's request,
// checked as strictly as a device's. HQ's own limit
// (home.messages_per_minute) is the gate for messages from home: the
// store's customer budgets (chat.customer_messages_per_minute,
// chat.customer_bytes_per_day) do not count them, so a message HQ accepted
// is stored when it arrives.
func (s *Service) HandleHQ(ctx context.Context, topic string, payload []byte) error {
	switch topic {
	case HQMessageTopic:
		var m hqMessage
		if err := strictjson.Decode(payload, &m); err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		if m.V != 1 || !hqCustomer(m.Customer) || !idPattern.MatchString(m.ID) {
			return fmt.Errorf("%w: want v 1, an id and a customer id starting with %q or %q", ErrHQInput, RemotePrefix, customer.CustomerPrefix)
		}
		switch m.Kind {
		case KindText, KindCard, KindImage, KindVoice:
		default:
			return fmt.Errorf("%w: a message from HQ is text, card, image or voice, not %q", ErrHQInput, m.Kind)
		}
		var ref *proto.MediaRef
		if m.Media != nil {
			ref = &proto.MediaRef{Hash: m.Media.Hash}
		}
		r := sendReq{Envelope: proto.Envelope{ID: m.ID, V: 1}, ChatSendRequest: proto.ChatSendRequest{Conversation: m.Customer, Kind: m.Kind, Text: m.Text, Card: m.Card, Media: ref, Lang: m.Lang}, fromHQ: true}
		// Check the message before the open: an invalid message from a new
		// customer must store nothing, not even their conversation (the
		// open commits on its own, before the send is refused).
		b, err := r.check(s.o.MaxBodyBytes)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		if m.AutoReply != nil {
			if err := checkAutoReply(m.AutoReply, s.o.MaxBodyBytes); err != nil {
				return fmt.Errorf("%w: auto_reply: %w", ErrHQInput, err)
			}
			r.hqAuto = m.AutoReply
		}
		if isRemote(m.Customer) {
			if _, err := s.openChecked(ctx, s.hqRequest(m.Customer, m.ID+".open"), openReq{Envelope: proto.Envelope{ID: m.ID + ".open", V: 1}}); err != nil {
				return hqError(err)
			}
		} else if err := s.knownAtHome(m.Customer); err != nil {
			return err
		}
		_, err = s.sendChecked(ctx, s.hqRequest(m.Customer, m.ID), r, b)
		return hqError(err)
	case HQReadTopic:
		var r hqRead
		if err := strictjson.Decode(payload, &r); err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		if r.V != 1 || !hqCustomer(r.Customer) || !idPattern.MatchString(r.ID) {
			return fmt.Errorf("%w: want v 1, an id and a customer id starting with %q or %q", ErrHQInput, RemotePrefix, customer.CustomerPrefix)
		}
		_, err := s.readChecked(ctx, s.hqRequest(r.Customer, r.ID), readReq{Envelope: proto.Envelope{ID: r.ID, V: 1}, ChatReadRequest: proto.ChatReadRequest{Conversation: r.Customer, UpTo: &r.UpTo}})
		return hqError(err)
	case HQRecallTopic:
		var r proto.HQChatRecall
		if err := strictjson.Decode(payload, &r); err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		if r.V != 1 || !hqCustomer(r.Customer) || !idPattern.MatchString(r.ID) || !idPattern.MatchString(r.Message) {
			return fmt.Errorf("%w: want v 1, an id, a customer id starting with %q or %q and her message's id", ErrHQInput, RemotePrefix, customer.CustomerPrefix)
		}
		var seq uint64
		if err := s.view(func(tx *bolt.Tx) error {
			if _, err := s.memberConv(tx, r.Customer, r.Customer); err != nil {
				return err
			}
			seq = lookupID(tx, r.Customer, r.Customer, r.Message)
			return nil
		}); err != nil {
			return hqError(err)
		}
		if seq == 0 {
			return fmt.Errorf("%w: recall: no message %q of %s", ErrHQInput, r.Message, r.Customer)
		}
		_, err := s.recallChecked(ctx, s.hqRequest(r.Customer, r.ID), r.Customer, r.Customer, seq, false)
		return hqError(err)
	}
	return fmt.Errorf("%w: unknown topic %q", ErrHQInput, topic)
}

// hqCustomer: a remote customer's id (hq-…) or the store's own customer's
// (cust-…).
func hqCustomer(id string) bool {
	if isRemote(id) {
		return idPattern.MatchString(id)
	}
	return customer.ValidCustomerID(id)
}

// knownAtHome checks that the store's customer cust has her conversation
// (HQ only writes into it; it never opens one for a cust-… id).
func (s *Service) knownAtHome(cust string) error {
	var known bool
	if err := s.view(func(tx *bolt.Tx) error {
		var err error
		known, err = s.KnowsCustomer(tx, cust)
		return err
	}); err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("%w: the store has no conversation of customer %s", ErrHQInput, cust)
	}
	return nil
}

// Reasons of an auto_reply.
var autoReasons = map[string]string{"offline": "hq_offline", "closed": "hq_closed"}

func checkAutoReply(a *proto.HomeAutoReply, maxBody int) error {
	if _, ok := autoReasons[a.Reason]; !ok {
		return fmt.Errorf(`"reason" must be "offline" or "closed", not %q`, a.Reason)
	}
	if a.Intent != "" && !idPattern.MatchString(a.Intent) {
		return fmt.Errorf(`"intent" %q: the FAQ entry's id`, a.Intent)
	}
	if a.Text == "" || !utf8.ValidString(a.Text) || len(a.Text) > maxBody {
		return fmt.Errorf(`"text" must be non-empty UTF-8 of at most %d bytes`, maxBody)
	}
	return safetext.Check("text", a.Text, true)
}

// fileHQAuto files HQ's answer to a message from home right after it, as
// the assistant's (Auto; Intent the FAQ entry's id, or hq_offline /
// hq_closed for the notice alone), and flags the conversation for staff:
// the store was not there when she wrote.
func (s *Service) fileHQAuto(w *wbuckets, c *conv, reqID string, a *proto.HomeAutoReply, now time.Time) ([]stored, bool, error) {
	intent := a.Intent
	if intent == "" {
		intent = autoReasons[a.Reason]
	}
	m := &msg{ID: "auto-hq-" + reqID, From: AssistantID, Kind: KindText, TS: now, Auto: true, Intent: intent}
	plain, err := json.Marshal(body{Text: a.Text})
	if err != nil {
		return nil, false, fmt.Errorf("chat: encode body: %w", err)
	}
	seq, err := s.putMessage(w, c, m, plain)
	if err != nil {
		return nil, false, err
	}
	flagged := false
	if c.Waiting == nil {
		c.Waiting, flagged = &now, true
		if err := w.waits.Put([]byte(c.ID), u64(uint64(now.UnixMilli()))); err != nil {
			return nil, false, fmt.Errorf("chat: flag waiting: %w", err)
		}
	}
	return []stored{{seq, m}}, flagged, nil
}

// hqRequest is request id made by remote customer cust, for an op's code
// called from HandleHQ rather than through svc.
func (s *Service) hqRequest(cust, id string) *svc.Request {
	return &svc.Request{Service: ServiceName, ID: id, V: 1, Received: s.now(),
		From: auth.Identity{Device: cust, Role: "customer", ClientID: cust, Customer: true}}
}

// hqError sorts an op's error for HandleHQ: an answer other than
// unavailable or quota_exceeded (bad_request, forbidden, not_found...) is
// HQ's input being wrong, and a replay would fail the same way; the rest
// are worth a retry.
func hqError(err error) error {
	var se *svc.Error
	if errors.As(err, &se) && se.Code != svc.CodeUnavailable && se.Code != svc.CodeQuotaExceeded {
		return fmt.Errorf("%w: %w", ErrHQInput, se)
	}
	return err
}

// KnowsCustomer reports, in tx, whether customer id (cust-…) has her
// conversation with the store: the store knows her, and HQ may carry her
// messages from home into it (HandleHQ).
func (s *Service) KnowsCustomer(tx *bolt.Tx, id string) (bool, error) {
	c, err := s.getConv(tx, id)
	if err != nil || c == nil {
		return false, err
	}
	return c.customer() == id, nil
}
