// Package mochifix is a mochi hook for what mochi v2.7.9 leaves undone and a
// hook can do: announce the maximum packet size and cap the keep alive.
package mochifix

import (
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Hook announces the broker's maximum packet size in MQTT 5 CONNACKs
// (mochi v2.7.9 enforces the limit but does not announce it, so conforming
// clients would only learn it by being disconnected) and caps the keep alive
// clients ask for (limits.max_keepalive). The fixes that need mochi itself
// changed are in third_party/mochi (see its STOREEDGE.md); broker/mqtt/mochisafe
// shuts the server down.
type Hook struct {
	mqtt.HookBase
	MaxPacket    uint32 // limits.max_packet_size; 0: not announced
	MaxKeepalive uint16 // limits.max_keepalive; 0: no cap
	Log          *slog.Logger
}

func (h *Hook) ID() string { return "storeedge-mochi-fixes" }

func (h *Hook) Provides(b byte) bool {
	return b == mqtt.OnPacketEncode || b == mqtt.OnConnect
}

// OnConnect holds a client to limits.max_keepalive. An MQTT 5 client asking
// for more, or for none (0), is given the cap as Server Keep Alive in its
// CONNACK [MQTT-3.2.2-21] and must use it; mochi's read deadline then follows
// it. An MQTT 3.1.1 client cannot be told, so it is refused with CONNACK 0x02
// (identifier rejected), as mosquitto does.
func (h *Hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	limit := h.MaxKeepalive
	if limit == 0 {
		return nil
	}
	asked := pk.Connect.Keepalive
	if asked != 0 && asked <= limit {
		return nil
	}
	if cl.Properties.ProtocolVersion < 5 {
		h.Log.Warn("MQTT 3.1.1 client refused: its keep alive is above limits.max_keepalive (MQTT 5 clients are told to use the cap instead)",
			"client", cl.ID, "keepalive", asked, "max_keepalive", limit, "remote", cl.Net.Remote)
		return packets.ErrClientIdentifierNotValid
	}
	cl.State.Keepalive = limit
	cl.State.ServerKeepalive = true
	return nil
}

func (h *Hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && h.MaxPacket > 0 && cl.Properties.ProtocolVersion == 5 {
		pk.Properties.MaximumPacketSize = h.MaxPacket
	}
	return pk
}
