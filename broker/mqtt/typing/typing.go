// Package typing relays "… is typing" between the members of a
// conversation on chat/{conversation}/typing (PROTOCOL.md, "Chat", Typing).
// It is a mochi hook that runs before the session hook: it drops a publish
// from anyone who is not a member of the conversation (or whose payload is
// not {"v":1,"typing":true|false}), stamps "from" with the publisher's
// member id so nobody types in someone else's name, and delivers the
// message at QoS 0, never retained. A QoS 0 message is never stored
// (broker/mqtt/session stores QoS 1/2 only), so typing never waits in an
// offline session's queue; a QoS 1/2 typing publish is acknowledged and
// re-published at QoS 0 by the broker itself. The topic is in no cloud map:
// it never goes to HQ.
package typing

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/proto"
)

// MaxPayload bounds a typing message; larger ones are dropped.
const MaxPayload = 256

// Identities tells who a client is (auth.Hook).
type Identities interface {
	Identity(cl *mqtt.Client) (auth.Identity, bool)
}

// Hook is the typing relay; add it to the server after the auth hook and
// before the session hook.
type Hook struct {
	mqtt.HookBase
	srv     *mqtt.Server
	ids     Identities
	members atomic.Pointer[membersBox]
	dropped atomic.Int64
}

type membersBox struct{ m auth.Membership }

// New returns the hook. Until SetMembership every typing publish is
// dropped.
func New(srv *mqtt.Server, ids Identities) *Hook { return &Hook{srv: srv, ids: ids} }

// SetMembership sets who is a member of which conversation (the chat
// service).
func (h *Hook) SetMembership(m auth.Membership) { h.members.Store(&membersBox{m}) }

// Dropped is how many typing publishes were dropped (not a member, bad
// payload).
func (h *Hook) Dropped() int64 { return h.dropped.Load() }

func (h *Hook) ID() string { return "storeedge-typing" }

func (h *Hook) Provides(b byte) bool { return b == mqtt.OnPublish }

// conversation returns the conversation of a chat/{conversation}/typing
// topic.
func conversation(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, "chat/")
	if !ok {
		return "", false
	}
	conv, ok := strings.CutSuffix(rest, "/typing")
	if !ok || conv == "" || strings.Contains(conv, "/") {
		return "", false
	}
	return conv, true
}

// OnPublish checks, stamps and downgrades typing publishes; other topics
// pass untouched.
func (h *Hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	conv, ok := conversation(pk.TopicName)
	if !ok || cl.Net.Inline {
		return pk, nil
	}
	out, ok := h.check(cl, conv, pk.Payload)
	if !ok {
		h.dropped.Add(1)
		if pk.FixedHeader.Qos == 0 {
			return pk, packets.ErrRejectPacket
		}
		return pk, packets.CodeSuccessIgnore // acknowledged, delivered to nobody
	}
	if pk.FixedHeader.Qos == 0 {
		pk.Payload = out
		pk.FixedHeader.Retain = false
		return pk, nil
	}
	// Acknowledged to the publisher, delivered at QoS 0 only: nothing is
	// stored for anyone.
	if err := h.srv.Publish(pk.TopicName, out, false, 0); err != nil {
		return pk, packets.CodeSuccessIgnore
	}
	return pk, packets.CodeSuccessIgnore
}

// check answers the stamped payload when the publisher is a member of conv
// and the payload is a typing message.
func (h *Hook) check(cl *mqtt.Client, conv string, payload []byte) ([]byte, bool) {
	if len(payload) > MaxPayload {
		return nil, false
	}
	id, ok := h.ids.Identity(cl)
	mb := h.members.Load()
	if !ok || id.Device == "" || mb == nil || mb.m == nil || !mb.m.Member(id, conv) {
		return nil, false
	}
	var in struct {
		V      int    `json:"v"`
		From   string `json:"from"`
		Typing *bool  `json:"typing"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.V != proto.Version || in.Typing == nil {
		return nil, false
	}
	out, err := json.Marshal(proto.ChatTyping{V: proto.Version, From: id.Device, Typing: *in.Typing})
	if err != nil {
		return nil, false
	}
	return out, true
}
