package mqtt

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Upstream's NextImmediate read-locked the map and then called GetAll, which
// read-locks it again; a writer waiting in between blocks the second RLock and
// both wait forever. This drives a reader and a writer against each other and
// fails if either stops making progress.
func TestInflightNextImmediateWithWriterDoesNotDeadlock(t *testing.T) {
	i := NewInflights()
	for id := uint16(1); id <= 64; id++ {
		i.Set(packets.Packet{PacketID: id})
		i.Defer(id)
	}
	var reads, writes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if pk, ok := i.NextImmediate(); ok {
				i.Defer(pk.PacketID)
			}
			reads.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		for n := uint16(0); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			id := 100 + n%64
			i.Set(packets.Packet{PacketID: id})
			i.Delete(id)
			writes.Add(1)
		}
	}()
	deadline := time.Now().Add(2 * time.Second)
	lastR, lastW := int64(-1), int64(-1)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond) // a progress sample, not synchronisation
		r, w := reads.Load(), writes.Load()
		if r == lastR || w == lastW {
			t.Fatalf("no progress in 200 ms (reads %d, writes %d): the inflight store is deadlocked", r, w)
		}
		lastR, lastW = r, w
	}
	close(stop)
	wg.Wait()
}

// Deferred publishes come back oldest first, and a deleted one (acknowledged
// or expired) whose packet id was reused is not mistaken for the new one.
func TestInflightDeferredOrder(t *testing.T) {
	i := NewInflights()
	for id := uint16(1); id <= 5; id++ {
		i.Set(packets.Packet{PacketID: id, Payload: []byte{byte(id)}})
		i.Defer(id)
	}
	i.Delete(2)
	i.Set(packets.Packet{PacketID: 2, Payload: []byte{9}}) // id 2 reused, not deferred
	var got []byte
	for {
		pk, ok := i.NextImmediate()
		if !ok {
			break
		}
		got = append(got, pk.Payload[0])
	}
	if string(got) != string([]byte{1, 3, 4, 5}) {
		t.Fatalf("deferred order %v, want [1 3 4 5]", got)
	}
	all := i.GetAll(false)
	var order []byte
	for _, pk := range all {
		order = append(order, pk.Payload[0])
	}
	if string(order) != string([]byte{1, 3, 4, 5, 9}) {
		t.Fatalf("GetAll order %v, want insertion order [1 3 4 5 9]", order)
	}
}
