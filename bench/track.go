package main

import (
	"encoding/binary"
	"time"
)

// payloadSize is the size of every benchmark message.
const payloadSize = 256

// Payload layout (little endian); the rest is a fixed filler pattern.
const (
	offSendNs = 0  // int64: send time, nanoseconds on the bench clock
	offPub    = 8  // uint32: publisher index
	offSeq    = 12 // uint64: per-publisher sequence number, from 0
	offMagic  = 20 // uint32: payloadMagic
	hdrSize   = 24
)

const payloadMagic = 0x53454231 // "SEB1"

// clockBase anchors the bench clock; clock() is monotonic nanoseconds since
// the bench started. Publisher and subscriber share the process, so the
// difference of two clock() values is a true latency.
var clockBase = time.Now()

func clock() int64 { return int64(time.Since(clockBase)) }

// newPayload returns a payload buffer with the filler written once; stamp
// then only rewrites the header, so publishers reuse one buffer each.
func newPayload() []byte {
	b := make([]byte, payloadSize)
	for i := hdrSize; i < len(b); i++ {
		b[i] = byte('a' + i%26)
	}
	binary.LittleEndian.PutUint32(b[offMagic:], payloadMagic)
	return b
}

// stamp writes the header of a message into b.
func stamp(b []byte, pub uint32, seq uint64, sendNs int64) {
	binary.LittleEndian.PutUint64(b[offSendNs:], uint64(sendNs))
	binary.LittleEndian.PutUint32(b[offPub:], pub)
	binary.LittleEndian.PutUint64(b[offSeq:], seq)
}

// parsePayload reads the header back; ok is false for foreign messages.
func parsePayload(b []byte) (pub uint32, seq uint64, sendNs int64, ok bool) {
	if len(b) != payloadSize || binary.LittleEndian.Uint32(b[offMagic:]) != payloadMagic {
		return 0, 0, 0, false
	}
	return binary.LittleEndian.Uint32(b[offPub:]),
		binary.LittleEndian.Uint64(b[offSeq:]),
		int64(binary.LittleEndian.Uint64(b[offSendNs:])), true
}

// bitset is a growable set of sequence numbers.
type bitset struct{ w []uint64 }

// set adds i and reports whether it was already present.
func (b *bitset) set(i uint64) bool {
	wi := int(i / 64)
	if wi >= len(b.w) {
		n := max(2*len(b.w), wi+1, 64)
		w := make([]uint64, n)
		copy(w, b.w)
		b.w = w
	}
	m := uint64(1) << (i % 64)
	was := b.w[wi]&m != 0
	b.w[wi] |= m
	return was
}

func (b *bitset) has(i uint64) bool {
	wi := int(i / 64)
	return wi < len(b.w) && b.w[wi]&(1<<(i%64)) != 0
}

// seqTrack checks the messages one subscriber gets from one publisher.
type seqTrack struct {
	seen     bitset
	next     uint64 // one past the highest sequence number seen
	received int64  // distinct messages
	dup      int64  // messages seen before
	ooo      int64  // first arrivals below the highest seen so far
}

// add records seq and reports whether it is a duplicate.
func (t *seqTrack) add(seq uint64) (dup bool) {
	if t.seen.set(seq) {
		t.dup++
		return true
	}
	t.received++
	if seq+1 < t.next {
		t.ooo++
	} else {
		t.next = seq + 1
	}
	return false
}

// lost counts sequence numbers below sent that should have arrived but did
// not. With acked != nil only acknowledged messages count (QoS 1: a message
// the broker never acknowledged was never promised).
func (t *seqTrack) lost(sent uint64, acked *bitset) int64 {
	var n int64
	for s := uint64(0); s < sent; s++ {
		if acked != nil && !acked.has(s) {
			continue
		}
		if !t.seen.has(s) {
			n++
		}
	}
	return n
}

// split sorts the acknowledged sequence numbers below upTo (all of them
// with acked == nil) into those seen (got), those missing below the highest
// seen (skipped: a later one arrived) and those missing above it (after:
// nothing from this publisher arrived after them).
func (t *seqTrack) split(upTo uint64, acked *bitset) (got, skipped, after int64) {
	for s := uint64(0); s < upTo; s++ {
		switch {
		case acked != nil && !acked.has(s):
		case t.seen.has(s):
			got++
		case s < t.next:
			skipped++
		default:
			after++
		}
	}
	return got, skipped, after
}
