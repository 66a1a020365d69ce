package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochiFixes announces the broker's maximum packet size in MQTT 5 CONNACKs:
// mochi v2.7.9 enforces the limit but does not announce it, so conforming
// clients would only learn it by being disconnected. (The other mochi
// workarounds live where their cause is: broker/session switches off mochi's
// client-side flow control, internal/mochisafe shuts the server down.)
type mochiFixes struct {
	mqtt.HookBase
	maxPacket uint32
}

func (h *mochiFixes) ID() string { return "storeedge-mochi-fixes" }

func (h *mochiFixes) Provides(b byte) bool {
	return b == mqtt.OnPacketEncode
}

func (h *mochiFixes) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && h.maxPacket > 0 && cl.Properties.ProtocolVersion == 5 {
		pk.Properties.MaximumPacketSize = h.maxPacket
	}
	return pk
}
