// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Inflight is a map of InflightMessage keyed on packet id.
//
// storeedge: entries remember the order they were added in, so a resend and
// the queue of deferred publishes keep publish order (upstream sorted on
// uint16(Created), seconds that wrap, with an unstable sort). Publishes not yet
// written to the client (waiting for send quota or for room in the client's
// send buffer) are kept in a FIFO of deferred packet ids.
type Inflight struct {
	sync.RWMutex
	internal            map[uint16]packets.Packet // internal contains the inflight packets
	order               map[uint16]uint64         // when each packet id was added
	next                uint64                    // the next order number
	inherited           uint64                    // entries up to this order came from an earlier connection
	deferred            []deferredID              // publishes waiting to be written, oldest first
	deferredN           atomic.Int32              // len(deferred), read without the lock
	receiveQuota        int32                     // remaining inbound qos quota for flow control
	sendQuota           int32                     // remaining outbound qos quota for flow control
	maximumReceiveQuota int32                     // maximum allowed receive quota
	maximumSendQuota    int32                     // maximum allowed send quota
}

// deferredID names a deferred publish; order tells a stale entry (its packet
// id since deleted and reused) from the live one.
type deferredID struct {
	id    uint16
	order uint64
}

// NewInflights returns a new instance of an Inflight packets map.
func NewInflights() *Inflight {
	return &Inflight{
		internal: map[uint16]packets.Packet{},
		order:    map[uint16]uint64{},
	}
}

// Set adds or updates an inflight packet by packet id. An update keeps the
// packet's place in the order.
func (i *Inflight) Set(m packets.Packet) bool {
	i.Lock()
	defer i.Unlock()

	_, ok := i.internal[m.PacketID]
	i.internal[m.PacketID] = m
	if !ok {
		i.next++
		i.order[m.PacketID] = i.next
	}
	return !ok
}

// Get returns an inflight packet by packet id.
func (i *Inflight) Get(id uint16) (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()

	if m, ok := i.internal[id]; ok {
		return m, true
	}

	return packets.Packet{}, false
}

// Len returns the size of the inflight messages map.
func (i *Inflight) Len() int {
	i.RLock()
	defer i.RUnlock()
	return len(i.internal)
}

// Clone returns a new instance of Inflight with the same message data.
// This is used when transferring inflights from a taken-over session.
func (i *Inflight) Clone() *Inflight {
	c := NewInflights()
	i.RLock()
	defer i.RUnlock()
	for k, v := range i.internal {
		c.internal[k] = v
		c.order[k] = i.order[k]
	}
	c.next, c.inherited = i.next, i.inherited
	c.deferred = append([]deferredID(nil), i.deferred...)
	c.deferredN.Store(int32(len(c.deferred)))
	return c
}

// GetAll returns all the inflight messages in the order they were added; with
// immediate, only the deferred publishes, in the order they wait.
func (i *Inflight) GetAll(immediate bool) []packets.Packet {
	i.RLock()
	defer i.RUnlock()

	if immediate {
		m := []packets.Packet{}
		for _, d := range i.deferred {
			if i.live(d) {
				m = append(m, i.internal[d.id])
			}
		}
		return m
	}

	m := make([]packets.Packet, 0, len(i.internal))
	for _, v := range i.internal {
		m = append(m, v)
	}
	sort.Slice(m, func(a, b int) bool {
		return i.order[m[a].PacketID] < i.order[m[b].PacketID]
	})

	return m
}

func (i *Inflight) live(d deferredID) bool {
	o, ok := i.order[d.id]
	return ok && o == d.order
}

// Defer queues an inflight publish to be written when quota and buffer allow.
func (i *Inflight) Defer(id uint16) {
	i.Lock()
	defer i.Unlock()
	if o, ok := i.order[id]; ok {
		i.deferred = append(i.deferred, deferredID{id: id, order: o})
		i.deferredN.Store(int32(len(i.deferred)))
	}
}

// ResetDeferred forgets every deferred entry (a resend decides them anew).
func (i *Inflight) ResetDeferred() {
	i.Lock()
	defer i.Unlock()
	i.deferred = nil
	i.deferredN.Store(0)
}

// Inherited marks every entry now in the map as sent on an earlier
// connection: a resend sets DUP on those.
func (i *Inflight) Inherited() {
	i.Lock()
	defer i.Unlock()
	i.inherited = i.next
}

// WasInherited reports whether packet id's entry came from an earlier connection.
func (i *Inflight) WasInherited(id uint16) bool {
	i.RLock()
	defer i.RUnlock()
	o, ok := i.order[id]
	return ok && o <= i.inherited
}

// HasDeferred reports cheaply whether publishes may be waiting.
func (i *Inflight) HasDeferred() bool { return i.deferredN.Load() > 0 }

// NextImmediate removes and returns the oldest deferred publish. (Upstream
// read-locked the map twice here; a writer waiting in between deadlocked it.)
func (i *Inflight) NextImmediate() (packets.Packet, bool) {
	i.Lock()
	defer i.Unlock()

	if len(i.deferred) == 0 {
		return packets.Packet{}, false
	}
	for len(i.deferred) > 0 {
		d := i.deferred[0]
		i.deferred[0] = deferredID{}
		i.deferred = i.deferred[1:]
		if len(i.deferred) == 0 {
			i.deferred = nil // let the backing array go
		}
		i.deferredN.Store(int32(len(i.deferred)))
		if i.live(d) {
			return i.internal[d.id], true
		}
	}

	return packets.Packet{}, false
}

// Delete removes an in-flight message from the map. Returns true if the message existed.
func (i *Inflight) Delete(id uint16) bool {
	i.Lock()
	defer i.Unlock()

	_, ok := i.internal[id]
	delete(i.internal, id)
	delete(i.order, id)

	return ok
}

// SendQuota returns the remaining outbound quota and its maximum.
func (i *Inflight) SendQuota() (remaining, maximum int32) {
	return atomic.LoadInt32(&i.sendQuota), atomic.LoadInt32(&i.maximumSendQuota)
}

// TakeRecieveQuota reduces the receive quota by 1.
func (i *Inflight) DecreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) > 0 {
		atomic.AddInt32(&i.receiveQuota, -1)
	}
}

// TakeRecieveQuota increases the receive quota by 1.
func (i *Inflight) IncreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) < atomic.LoadInt32(&i.maximumReceiveQuota) {
		atomic.AddInt32(&i.receiveQuota, 1)
	}
}

// ResetReceiveQuota resets the receive quota to the maximum allowed value.
func (i *Inflight) ResetReceiveQuota(n int32) {
	atomic.StoreInt32(&i.receiveQuota, n)
	atomic.StoreInt32(&i.maximumReceiveQuota, n)
}

// DecreaseSendQuota reduces the send quota by 1.
func (i *Inflight) DecreaseSendQuota() {
	if atomic.LoadInt32(&i.sendQuota) > 0 {
		atomic.AddInt32(&i.sendQuota, -1)
	}
}

// IncreaseSendQuota increases the send quota by 1.
func (i *Inflight) IncreaseSendQuota() {
	if atomic.LoadInt32(&i.sendQuota) < atomic.LoadInt32(&i.maximumSendQuota) {
		atomic.AddInt32(&i.sendQuota, 1)
	}
}

// ResetSendQuota resets the send quota to the maximum allowed value.
func (i *Inflight) ResetSendQuota(n int32) {
	atomic.StoreInt32(&i.sendQuota, n)
	atomic.StoreInt32(&i.maximumSendQuota, n)
}
