package session

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"
)

// A stored message is a compact binary record, not JSON: it is written for
// every QoS 1/2 message a persistent session waits for, on the publisher's
// path to its PUBACK. Layout (version 1):
//
//	version byte = 1
//	flags   byte: bits 0-1 QoS, bit 2 retain, bit 3 payload format present
//	created, expiry: uvarint (unix seconds; 0 = none)
//	topic, origin: uvarint length + bytes
//	message expiry interval: uvarint; payload format: byte (when flagged)
//	content type, response topic, correlation data: uvarint length + bytes
//	user properties: uvarint count, then key and value as length + bytes
//	payload: the rest
//
// What is written to bbolt is that record sealed (version 2):
//
//	version byte = 2
//	the version 1 record sealed with Options.Seal (AES-256-GCM, internal/seal),
//	the bucket and key as additional data
//
// so a message waiting for a session (an answer with a booking's notes, a
// chat event, a live QR token) is never in the clear in the file, nor in the
// free pages bbolt leaves behind when it is delivered. Version 1 records,
// written in the clear by older versions, are still read, and Init seals
// them.
const (
	recordVersion = 1
	sealedVersion = 2
)

var errCorrupt = errors.New("session: corrupt stored message")

// Sealer encrypts stored messages (internal/seal.Keyring implements it).
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// recordAD binds a sealed record to its place: bucket name 0x00 key.
func recordAD(bucket, key []byte) []byte {
	ad := make([]byte, 0, len(bucket)+1+len(key))
	return append(append(append(ad, bucket...), 0), key...)
}

// sealRecord encodes pk and seals it for bucket and key. Without a Sealer
// (tests of this package only) the plain record is stored.
func sealRecord(s Sealer, pk packets.Packet, bucket, key []byte) ([]byte, error) {
	rec, err := encode(pk)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return rec, nil
	}
	sealed, err := s.Seal(rec, recordAD(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("session: seal message: %w", err)
	}
	return append([]byte{sealedVersion}, sealed...), nil
}

// openRecord decodes a stored record: sealed, or plain as written before
// sealing.
func openRecord(s Sealer, b, bucket, key []byte) (packets.Packet, error) {
	if len(b) > 0 && b[0] == sealedVersion {
		if s == nil {
			return packets.Packet{}, errors.New("session: a stored message is sealed and no keys are set")
		}
		rec, err := s.Open(b[1:], recordAD(bucket, key))
		if err != nil {
			return packets.Packet{}, fmt.Errorf("session: open stored message: %w", err)
		}
		b = rec
	}
	return decode(b)
}

func encode(pk packets.Packet) ([]byte, error) {
	p := pk.Properties
	n := 32 + len(pk.TopicName) + len(pk.Origin) + len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData) + len(pk.Payload)
	for _, u := range p.User {
		n += 10 + len(u.Key) + len(u.Val)
	}
	b := make([]byte, 0, n)
	flags := pk.FixedHeader.Qos & 3
	if pk.FixedHeader.Retain {
		flags |= 1 << 2
	}
	if p.PayloadFormatFlag {
		flags |= 1 << 3
	}
	b = append(b, recordVersion, flags)
	b = binary.AppendUvarint(b, uint64(max(pk.Created, 0)))
	b = binary.AppendUvarint(b, uint64(max(pk.Expiry, 0)))
	b = appendBytes(b, []byte(pk.TopicName))
	b = appendBytes(b, []byte(pk.Origin))
	b = binary.AppendUvarint(b, uint64(p.MessageExpiryInterval))
	if p.PayloadFormatFlag {
		b = append(b, p.PayloadFormat)
	}
	b = appendBytes(b, []byte(p.ContentType))
	b = appendBytes(b, []byte(p.ResponseTopic))
	b = appendBytes(b, p.CorrelationData)
	b = binary.AppendUvarint(b, uint64(len(p.User)))
	for _, u := range p.User {
		b = appendBytes(b, []byte(u.Key))
		b = appendBytes(b, []byte(u.Val))
	}
	return append(b, pk.Payload...), nil
}

// decode turns a stored record back into a PUBLISH packet. Every length is
// checked against what is left, so a damaged record is an error, never a
// panic or a huge allocation.
func decode(b []byte) (packets.Packet, error) {
	d := decoder{b: b}
	if d.byte() != recordVersion {
		return packets.Packet{}, fmt.Errorf("%w: unknown version", errCorrupt)
	}
	flags := d.byte()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: flags & 3, Retain: flags&(1<<2) != 0}}
	pk.Created = int64(d.uvarint())
	pk.Expiry = int64(d.uvarint())
	pk.TopicName = string(d.bytes())
	pk.Origin = string(d.bytes())
	pk.Properties.MessageExpiryInterval = uint32(d.uvarint())
	if flags&(1<<3) != 0 {
		pk.Properties.PayloadFormatFlag = true
		pk.Properties.PayloadFormat = d.byte()
	}
	pk.Properties.ContentType = string(d.bytes())
	pk.Properties.ResponseTopic = string(d.bytes())
	if c := d.bytes(); len(c) > 0 {
		pk.Properties.CorrelationData = append([]byte(nil), c...)
	}
	n := d.uvarint()
	if n > uint64(len(d.b)) { // each property takes at least two bytes
		return packets.Packet{}, fmt.Errorf("%w: %d user properties", errCorrupt, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: string(d.bytes()), Val: string(d.bytes())})
	}
	if d.err != nil {
		return packets.Packet{}, d.err
	}
	pk.Payload = append([]byte(nil), d.b...)
	if pk.FixedHeader.Qos > 2 || pk.TopicName == "" {
		return packets.Packet{}, fmt.Errorf("%w: qos %d, topic %q", errCorrupt, pk.FixedHeader.Qos, pk.TopicName)
	}
	return pk, nil
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("field")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
