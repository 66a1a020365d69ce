package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochiFixes works around two things in mochi v2.7.9 that the store broker
// cannot live with, without patching mochi:
//
//   - It enforces max_packet_size but does not announce it, so MQTT 5
//     CONNACKs get the Maximum Packet Size property here and conforming
//     clients refuse to send what would only get them disconnected.
//
//   - Its client-side flow control can deadlock the broker: after every packet
//     a client sends, mochi looks for a deferred message with
//     Inflight.NextImmediate, which read-locks the client's inflight map twice;
//     when another goroutine is waiting to write-lock that map in between (a
//     publish fanned out to this client, or this client's own publish handed
//     back by the session pipeline), both wait forever. The check only runs
//     while the client's send quota is above zero, so the quota is switched
//     off for every client, as mochi already does for MQTT 3.1.1 clients and
//     v5 clients that send no Receive Maximum. The cost: the broker does not
//     hold messages back to honour a client's Receive Maximum. What bounds a
//     client instead is limits.max_queued_messages (messages in flight or
//     queued) and limits.max_pending_writes (its socket buffer).
type mochiFixes struct {
	mqtt.HookBase
	maxPacket uint32
}

func (h *mochiFixes) ID() string { return "storeedge-mochi-fixes" }

func (h *mochiFixes) Provides(b byte) bool {
	return b == mqtt.OnPacketEncode || b == mqtt.OnSessionEstablished
}

func (h *mochiFixes) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && h.maxPacket > 0 && cl.Properties.ProtocolVersion == 5 {
		pk.Properties.MaximumPacketSize = h.maxPacket
	}
	return pk
}

func (h *mochiFixes) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	cl.State.Inflight.ResetSendQuota(0)
}
