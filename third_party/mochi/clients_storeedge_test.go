package mqtt

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// A packet claiming a large remaining length costs memory only as its bytes
// arrive (upstream allocated the claimed length before reading): here 200 MiB
// claimed, 10 bytes sent.
func TestReadPacketAllocatesAsBytesArrive(t *testing.T) {
	srv := New(&Options{})
	server, peer := net.Pipe()
	defer server.Close()
	cl := srv.NewClient(server, "t", "c", false)
	go func() {
		// CONNECT, remaining length 200 MiB (varint 0x80 0x80 0x80 0x64), then 10 bytes.
		_, _ = peer.Write([]byte{0x10, 0x80, 0x80, 0x80, 0x64})
		_, _ = peer.Write(make([]byte, 10))
		peer.Close()
	}()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fh := new(packets.FixedHeader)
	if err := cl.ReadFixedHeader(fh); err != nil {
		t.Fatal(err)
	}
	if fh.Remaining != 200<<20 {
		t.Fatalf("remaining %d", fh.Remaining)
	}
	if _, err := cl.ReadPacket(fh); err == nil {
		t.Fatal("a truncated packet was read")
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("reading 10 bytes of a claimed 200 MiB packet allocated %d bytes", grew)
	}
}

// Deferred publishes wait for send quota (the client's Receive Maximum) and
// go out in order as acknowledgements free it.
func TestPumpHonoursSendQuota(t *testing.T) {
	srv := New(&Options{})
	cl := srv.NewClient(nil, "t", "c", false)
	cl.Properties.ProtocolVersion = 5
	cl.Properties.Props.ReceiveMaximum = 2
	cl.State.Inflight.ResetSendQuota(int32(cl.sendQuota()))
	cl.State.ready.Store(true) // past CONNACK
	for id := uint16(1); id <= 5; id++ {
		cl.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: id})
		cl.State.Inflight.Defer(id)
	}
	cl.Pump()
	popIDs := func() []uint16 {
		var ids []uint16
		for {
			pk, size := cl.State.out.pop()
			if pk == nil {
				return ids
			}
			cl.State.out.wrote(size)
			ids = append(ids, pk.PacketID)
		}
	}
	if got := popIDs(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("with Receive Maximum 2, queued %v, want [1 2]", got)
	}
	cl.State.Inflight.Delete(1)
	cl.State.Inflight.IncreaseSendQuota()
	cl.Pump()
	if got := popIDs(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("after one PUBACK, queued %v, want [3]", got)
	}
}

// A client disconnected for falling behind gets the DISCONNECT next; the QoS 0
// publishes still waiting for it are dropped and counted, not lost silently.
func TestCloseAfterWritesCountsDiscardedQoS0(t *testing.T) {
	srv := New(&Options{SlowClientGrace: time.Hour})
	cl := srv.NewClient(nil, "t", "c", false)
	cl.Properties.ProtocolVersion = 5
	for i := 0; i < 3; i++ {
		cl.State.out.push(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}}, 10)
	}
	cl.State.out.push(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7}, 10)
	if !cl.CloseAfterWrites(packets.ErrQuotaExceeded) {
		t.Fatal("CloseAfterWrites refused a client not closing")
	}
	if cl.CloseAfterWrites(packets.ErrQuotaExceeded) {
		t.Fatal("a second CloseAfterWrites was taken")
	}
	if got := srv.Info.MessagesDropped; got != 3 {
		t.Fatalf("MessagesDropped %d, want the 3 QoS 0 publishes", got)
	}
	pk, _ := cl.State.out.pop()
	if pk == nil || pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != packets.ErrQuotaExceeded.Code {
		t.Fatalf("next packet %+v, want DISCONNECT 0x97", pk)
	}
	if pk, _ := cl.State.out.pop(); pk != nil {
		t.Fatalf("after the DISCONNECT: %+v", pk)
	}
}

// An MQTT 5 session with Session Expiry Interval 0 ends with its connection:
// a client that reconnects with Clean Start 0 before the old connection's
// clean-up has run gets a new session, not the old subscriptions.
func TestClosedSessionWithExpiryZeroIsNotInherited(t *testing.T) {
	srv := New(&Options{})
	old := srv.NewClient(nil, "t", "dev", false)
	old.ID = "dev"
	old.Properties.ProtocolVersion = 5
	old.State.Subscriptions.Add("a/b", packets.Subscription{Filter: "a/b", Qos: 1})
	srv.Topics.Subscribe(old.ID, packets.Subscription{Filter: "a/b", Qos: 1})
	srv.Clients.Add(old)
	old.Stop(nil) // DISCONNECT read, attachClient not yet back from Read

	cl := srv.NewClient(nil, "t", "dev", false)
	cl.ID = "dev"
	cl.Properties.ProtocolVersion = 5
	if srv.inheritClientSession(packets.Packet{Connect: packets.ConnectParams{Clean: false}}, cl) {
		t.Fatal("a session that ended with its connection was resumed")
	}
	if n := cl.State.Subscriptions.Len(); n != 0 {
		t.Fatalf("the new session has %d subscriptions of the old one", n)
	}

	// With an expiry the closed session is kept and resumed.
	old = srv.NewClient(nil, "t", "keep", false)
	old.ID = "keep"
	old.Properties.ProtocolVersion = 5
	old.Properties.Props.SessionExpiryInterval = 60
	old.State.Subscriptions.Add("a/b", packets.Subscription{Filter: "a/b", Qos: 1})
	srv.Clients.Add(old)
	old.Stop(nil)
	cl = srv.NewClient(nil, "t", "keep", false)
	cl.ID = "keep"
	cl.Properties.ProtocolVersion = 5
	if !srv.inheritClientSession(packets.Packet{Connect: packets.ConnectParams{Clean: false}}, cl) {
		t.Fatal("a session with expiry 60 s was not resumed")
	}
	if n := cl.State.Subscriptions.Len(); n != 1 {
		t.Fatalf("the resumed session has %d subscriptions, want 1", n)
	}
}
