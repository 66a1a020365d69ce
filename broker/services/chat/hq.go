package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/storeedge/storeedge/internal/strictjson"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// HQ keeps a replica of every conversation: the service files each message,
// recall and staff read receipt in the Outbox, in the transaction that
// stores it, whoever the members are. Customers at home reach the store
// through HQ: their member ids start with RemotePrefix (HQ's customer id
// behind it), and HQ's bridge (cloudsync) hands their messages to HandleHQ
// from the local topics below. PROTOCOL.md, "Chat with HQ", is the contract.
const (
	// RemotePrefix starts the member id of a customer who chats through HQ.
	RemotePrefix = "hq-"
	// HQMessageTopic carries a remote customer's message (HQ → store).
	HQMessageTopic = "hq/chat/message"
	// HQReadTopic carries a remote customer's read receipt (HQ → store).
	HQReadTopic = "hq/chat/read"
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

// HandleHQ stores what HQ sent on topic (HQMessageTopic or HQReadTopic).
// A remote customer's conversation is the customer's id; it is opened on
// their first message, with the FAQ assistant on, and runs like any
// customer's (staff answers go to the Outbox). Safe to call again with the
// same payload: ids make it idempotent. The payload is decoded once and
// handed to the ops' own code as the customer's request, checked as
// strictly as a device's.
func (s *Service) HandleHQ(ctx context.Context, topic string, payload []byte) error {
	switch topic {
	case HQMessageTopic:
		var m hqMessage
		if err := strictjson.Decode(payload, &m); err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		if m.V != 1 || !isRemote(m.Customer) || !idPattern.MatchString(m.Customer) || !idPattern.MatchString(m.ID) {
			return fmt.Errorf("%w: want v 1, an id and a customer id starting with %q", ErrHQInput, RemotePrefix)
		}
		r := sendReq{Envelope: proto.Envelope{ID: m.ID, V: 1}, ChatSendRequest: proto.ChatSendRequest{Conversation: m.Customer, Kind: m.Kind, Text: m.Text, Card: m.Card, Lang: m.Lang}}
		// Check the message before the open: an invalid message from a new
		// customer must store nothing, not even their conversation (the
		// open commits on its own, before the send is refused).
		b, err := r.check(s.o.MaxBodyBytes)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		if _, err := s.openChecked(ctx, s.hqRequest(m.Customer, m.ID+".open"), openReq{Envelope: proto.Envelope{ID: m.ID + ".open", V: 1}}); err != nil {
			return hqError(err)
		}
		_, err = s.sendChecked(ctx, s.hqRequest(m.Customer, m.ID), r, b)
		return hqError(err)
	case HQReadTopic:
		var r hqRead
		if err := strictjson.Decode(payload, &r); err != nil {
			return fmt.Errorf("%w: %w", ErrHQInput, err)
		}
		if r.V != 1 || !isRemote(r.Customer) || !idPattern.MatchString(r.Customer) || !idPattern.MatchString(r.ID) {
			return fmt.Errorf("%w: want v 1, an id and a customer id starting with %q", ErrHQInput, RemotePrefix)
		}
		_, err := s.readChecked(ctx, s.hqRequest(r.Customer, r.ID), readReq{Envelope: proto.Envelope{ID: r.ID, V: 1}, ChatReadRequest: proto.ChatReadRequest{Conversation: r.Customer, UpTo: &r.UpTo}})
		return hqError(err)
	}
	return fmt.Errorf("%w: unknown topic %q", ErrHQInput, topic)
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
