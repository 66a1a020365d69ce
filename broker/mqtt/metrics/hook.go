package metrics

import (
	"fmt"
	"strconv"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// HookID is the ID of the hook returned by Metrics.Hook.
const HookID = "storeedge-metrics"

// codeLabels holds "0x00".."0xff" so that labelling a CONNACK code never formats.
var codeLabels = func() (l [256]string) {
	for i := range l {
		l[i] = fmt.Sprintf("0x%02x", i)
	}
	return l
}()

// hook counts packets on mochi's client goroutines. Its hot path (PUBLISH in
// OnPacketRead and OnPacketSent) is an atomic add on a counter resolved at
// construction: no locks, no allocations, no label lookups.
type hook struct {
	mqtt.HookBase

	received [3]prometheus.Counter // by QoS
	sent     [3]prometheus.Counter // by QoS
	connects prometheus.Counter
	refused  *prometheus.CounterVec

	receivedVec, sentVec *prometheus.CounterVec
}

func newHook() *hook {
	h := &hook{
		receivedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "messages_received_total",
			Help:      "PUBLISH packets received from MQTT clients, by QoS.",
		}, []string{"qos"}),
		sentVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "messages_sent_total",
			Help:      "PUBLISH packets written to MQTT clients, by QoS.",
		}, []string{"qos"}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "connects_total",
			Help:      "MQTT connections accepted (CONNACK with success sent).",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "connect_refused_total",
			Help:      "MQTT connections refused, by CONNACK code as sent: v5 reason codes are 0x80 and up, v3.1.1 return codes 0x01-0x05.",
		}, []string{"reason"}),
	}
	for q := range h.received {
		h.received[q] = h.receivedVec.WithLabelValues(strconv.Itoa(q))
		h.sent[q] = h.sentVec.WithLabelValues(strconv.Itoa(q))
	}
	return h
}

func (h *hook) register(reg *prometheus.Registry) {
	reg.MustRegister(h.receivedVec, h.sentVec, h.connects, h.refused)
}

// ID implements mqtt.Hook.
func (h *hook) ID() string { return HookID }

// Provides implements mqtt.Hook.
func (h *hook) Provides(b byte) bool {
	return b == mqtt.OnPacketRead || b == mqtt.OnPacketSent
}

// OnPacketRead counts inbound PUBLISH packets. It runs before mochi validates
// the packet, so publishes that are later rejected are counted too.
func (h *hook) OnPacketRead(_ *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish {
		if q := pk.FixedHeader.Qos; q < byte(len(h.received)) {
			h.received[q].Inc()
		}
	}
	return pk, nil
}

// OnPacketSent counts outbound PUBLISH packets and CONNACKs once they have
// been handed to the connection.
func (h *hook) OnPacketSent(_ *mqtt.Client, pk packets.Packet, _ []byte) {
	switch pk.FixedHeader.Type {
	case packets.Publish:
		if q := pk.FixedHeader.Qos; q < byte(len(h.sent)) {
			h.sent[q].Inc()
		}
	case packets.Connack:
		if connackRefused(pk.ProtocolVersion, pk.ReasonCode) {
			h.refused.WithLabelValues(codeLabels[pk.ReasonCode]).Inc()
		} else {
			h.connects.Inc()
		}
	}
}

// connackRefused reports whether a CONNACK code refuses the connection. mochi
// rewrites v5 codes to v3.1.1 return codes (1-5) for older clients.
func connackRefused(version, code byte) bool {
	if version < 5 {
		return code != 0
	}
	return code >= packets.ErrUnspecifiedError.Code
}
