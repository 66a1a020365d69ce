package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// connackHook advertises the broker's maximum packet size in MQTT 5 CONNACKs
// (mochi enforces the limit but does not announce it), so conforming clients
// refuse to send what would only get them disconnected.
type connackHook struct {
	mqtt.HookBase
	maxPacket uint32
}

func (h *connackHook) ID() string { return "storeedge-connack" }

func (h *connackHook) Provides(b byte) bool { return b == mqtt.OnPacketEncode }

func (h *connackHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && h.maxPacket > 0 && cl.Properties.ProtocolVersion == 5 {
		pk.Properties.MaximumPacketSize = h.maxPacket
	}
	return pk
}
