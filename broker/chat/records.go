package chat

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketConvs = []byte("chat_convs")
	bucketMsgs  = []byte("chat_msgs")
	bucketIDs   = []byte("chat_ids")
	bucketReads = []byte("chat_reads")
)

var allBuckets = [][]byte{bucketConvs, bucketMsgs, bucketIDs, bucketReads}

// conv is a conversation record in chat_convs.
type conv struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Members []string  `json:"members"` // sorted, unique
	Created time.Time `json:"created"`
	By      string    `json:"by"`
	LastSeq uint64    `json:"last_seq"`
}

func (c *conv) member(dev string) bool {
	_, ok := slices.BinarySearch(c.Members, dev)
	return ok
}

// msg is a message record in chat_msgs. Body is the sealed body JSON; a
// recalled message keeps no Body and has Recalled set.
type msg struct {
	ID       string     `json:"id"`
	From     string     `json:"from"`
	Kind     string     `json:"kind"`
	TS       time.Time  `json:"ts"`
	Body     []byte     `json:"body,omitempty"`
	Recalled *time.Time `json:"recalled,omitempty"`
}

// errCorrupt: a stored record does not decode; the op answers unavailable.
var errCorrupt = errors.New("chat: corrupt record")

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func msgKey(convID string, seq uint64) []byte {
	k := make([]byte, 0, len(convID)+9)
	k = append(append(k, convID...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func idKey(convID, from, msgID string) []byte {
	return []byte(convID + "\x00" + from + "\x00" + msgID)
}

func readKey(member, convID string) []byte { return []byte(member + "\x00" + convID) }

// sealAD binds a sealed body to its place: conversation id 0x00 seq.
func sealAD(convID string, seq uint64) []byte { return msgKey(convID, seq) }

// writeBuckets returns the chat buckets in a write transaction, creating them
// on first use.
func writeBuckets(tx *bolt.Tx) (convs, msgs, ids, reads *bolt.Bucket, err error) {
	bs := make([]*bolt.Bucket, len(allBuckets))
	for i, name := range allBuckets {
		if bs[i], err = tx.CreateBucketIfNotExists(name); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("chat: bucket %s: %w", name, err)
		}
	}
	return bs[0], bs[1], bs[2], bs[3], nil
}

// getConv reads a conversation; nil when it (or the bucket) does not exist.
func getConv(tx *bolt.Tx, id string) (*conv, error) {
	b := tx.Bucket(bucketConvs)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var c conv
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("%w: conversation %q: %w", errCorrupt, id, err)
	}
	return &c, nil
}

func putConv(b *bolt.Bucket, c *conv) error {
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("chat: encode conversation: %w", err)
	}
	if err := b.Put([]byte(c.ID), v); err != nil {
		return fmt.Errorf("chat: put conversation: %w", err)
	}
	return nil
}

func getMsg(tx *bolt.Tx, convID string, seq uint64) (*msg, error) {
	b := tx.Bucket(bucketMsgs)
	if b == nil {
		return nil, nil
	}
	v := b.Get(msgKey(convID, seq))
	if v == nil {
		return nil, nil
	}
	return decodeMsg(v)
}

func decodeMsg(v []byte) (*msg, error) {
	var m msg
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("%w: message: %w", errCorrupt, err)
	}
	return &m, nil
}

func putMsg(b *bolt.Bucket, convID string, seq uint64, m *msg) error {
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("chat: encode message: %w", err)
	}
	if err := b.Put(msgKey(convID, seq), v); err != nil {
		return fmt.Errorf("chat: put message: %w", err)
	}
	return nil
}

// lookupID returns the seq a sender's message id got in a conversation, or 0.
func lookupID(tx *bolt.Tx, convID, from, msgID string) uint64 {
	b := tx.Bucket(bucketIDs)
	if b == nil {
		return 0
	}
	v := b.Get(idKey(convID, from, msgID))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// readUpTo returns a member's read pointer and whether the member has one
// (every member has one from the moment it joins).
func readUpTo(tx *bolt.Tx, member, convID string) (uint64, bool) {
	b := tx.Bucket(bucketReads)
	if b == nil {
		return 0, false
	}
	v := b.Get(readKey(member, convID))
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

func putRead(b *bolt.Bucket, member, convID string, upTo uint64) error {
	if err := b.Put(readKey(member, convID), u64(upTo)); err != nil {
		return fmt.Errorf("chat: put read pointer: %w", err)
	}
	return nil
}

// view builds a conversation's answer for the caller.
func view(tx *bolt.Tx, c *conv, caller string) convView {
	v := convView{Conversation: c.ID, Members: c.Members, Created: c.Created, LastSeq: c.LastSeq}
	if up, ok := readUpTo(tx, caller, c.ID); ok {
		v.ReadUpTo = up
		v.Unread = c.LastSeq - min(up, c.LastSeq)
	}
	return v
}
