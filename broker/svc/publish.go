package svc

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"
)

const contentTypeJSON = "application/json"

// inject publishes through the router's inline client: QoS 1 to subscribers
// (queued for offline persistent sessions, committed by the session hook
// before this returns), with MQTT 5 Content Type, Payload Format (UTF-8) and
// the request's Correlation Data.
func (r *Router) inject(topic string, corr, payload []byte) error {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   topic,
		Payload:     payload,
		PacketID:    1, // an inline publish is never acknowledged; mochi only checks it is set
		Properties: packets.Properties{
			ContentType:       contentTypeJSON,
			PayloadFormat:     1,
			PayloadFormatFlag: true,
			CorrelationData:   corr,
		},
	}
	if err := r.o.Server.InjectPacket(r.cl, pk); err != nil {
		return fmt.Errorf("svc: publish %s: %w", topic, err)
	}
	return nil
}

// Emit publishes v as a JSON event on topic, QoS 1, from the router's inline
// client (services use it for chat/{conversation}/events, booking/events, …).
// The ACL does not apply to it; subscribers still need a grant to receive.
// When a persistent session subscribes, Emit returns once the event is
// committed to its queue. Topics under svc/ and reply/, topics starting with
// '$' and topics with wildcards are refused.
func (r *Router) Emit(topic string, v any) error {
	if topic == "" || strings.HasPrefix(topic, "svc/") || strings.HasPrefix(topic, "reply/") ||
		topic[0] == '$' || strings.ContainsAny(topic, "+#\x00") || !utf8.ValidString(topic) {
		return fmt.Errorf("svc: emit: %q is not an event topic", clip(topic))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("svc: emit %s: %w", topic, err)
	}
	return r.publish(topic, nil, b)
}
