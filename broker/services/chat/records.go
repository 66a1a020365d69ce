package chat

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth/customer"
)

var (
	bucketConvs     = []byte("chat_convs")
	bucketMsgs      = []byte("chat_msgs")
	bucketIDs       = []byte("chat_ids")
	bucketReads     = []byte("chat_reads")
	bucketDelivered = []byte("chat_delivered")
	bucketMedia     = []byte("chat_media")
	bucketWaiting   = []byte("chat_waiting")
)

var allBuckets = [][]byte{bucketConvs, bucketMsgs, bucketIDs, bucketReads, bucketDelivered, bucketMedia, bucketWaiting}

// Conversation kinds.
const (
	ConvDirect = "direct" // a customer (or a device) and staff
	ConvGroup  = "group"  // a group a staff member runs
)

// conv is a conversation record in chat_convs.
type conv struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Members []string  `json:"members"` // sorted, unique
	Created time.Time `json:"created"`
	By      string    `json:"by"`
	LastSeq uint64    `json:"last_seq"`
	// Kind is ConvDirect ("" in records written before groups) or ConvGroup.
	Kind string `json:"kind,omitempty"`
	// Title is a group's name. It is stored sealed (SealedTitle); a record
	// written before titles were sealed has it here in the clear, and is
	// sealed when the service starts (SealOldTitles) or next written.
	Title       string `json:"title,omitempty"`
	SealedTitle []byte `json:"sealed_title,omitempty"`
	// sealedFor is the title SealedTitle holds (set when read), so an
	// unchanged title is not sealed again at every write.
	sealedFor string
	// Assistant: the FAQ assistant answers the customer's messages. On for
	// conversations a customer opened, off after a handoff.
	Assistant bool `json:"assistant,omitempty"`
	// Waiting is when the conversation was flagged for a person (the
	// assistant could not answer, the customer asked, or it came in after
	// hours); nil once staff answered.
	Waiting *time.Time `json:"waiting,omitempty"`
	// ClosedNote is when the last after-hours reply was posted, so that one
	// closed period gets one such reply.
	ClosedNote *time.Time `json:"closed_note,omitempty"`
	// Assigned are the staff members the conversation is assigned to (sorted).
	Assigned []string `json:"assigned,omitempty"`
	// The closing period (close.go): Opened is the customer's first
	// message since the conversation was (re)opened, FirstResponse the
	// first staff message after it, Answering the staff member who wrote
	// last; Closed is set while it is closed, Closings counts the closings.
	Opened        *time.Time `json:"opened,omitempty"`
	FirstResponse *time.Time `json:"first_response,omitempty"`
	Answering     string     `json:"answering,omitempty"`
	Closed        *time.Time `json:"closed,omitempty"`
	Closings      uint64     `json:"closings,omitempty"`
	// Agent is the staff member answering the customer now: the last one
	// assigned, or the colleague who accepted a transfer.
	Agent string `json:"agent,omitempty"`
}

func (c *conv) kind() string {
	if c.Kind == "" {
		return ConvDirect
	}
	return c.Kind
}

func (c *conv) assigned(dev string) bool { return slices.Contains(c.Assigned, dev) }

// customer is the customer whose conversation c is: a customer's
// conversation is named after them (a scan-to-chat customer's cust-… or a
// remote customer's hq-… id) and they are a member; "" for staff-only
// conversations, groups and devices' conversations.
func (c *conv) customer() string {
	if c.kind() != ConvDirect || !c.member(c.ID) {
		return ""
	}
	if isRemote(c.ID) || strings.HasPrefix(c.ID, customer.CustomerPrefix) {
		return c.ID
	}
	return ""
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
	// Media is the blob a media message refers to (its SHA-256); kept after
	// a recall only until the reference is dropped, see recall.go.
	Media string `json:"media,omitempty"`
	// Thumb is the blob's thumbnail, which members may fetch too (a phone
	// shows it instead of downloading the whole photo).
	Thumb string `json:"thumb,omitempty"`
	// Auto marks the FAQ assistant's messages; Intent is what it answered.
	Auto   bool   `json:"auto,omitempty"`
	Intent string `json:"intent,omitempty"`
	// Announcement marks a staff announcement in a group.
	Announcement bool `json:"announcement,omitempty"`
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

// wbuckets are all chat buckets of a write transaction; allWrite creates
// them on first use.
type wbuckets struct {
	tx                                               *bolt.Tx
	convs, msgs, ids, reads, delivered, media, waits *bolt.Bucket
}

func allWrite(tx *bolt.Tx) (*wbuckets, error) {
	bs := make([]*bolt.Bucket, len(allBuckets))
	for i, name := range allBuckets {
		var err error
		if bs[i], err = tx.CreateBucketIfNotExists(name); err != nil {
			return nil, fmt.Errorf("chat: bucket %s: %w", name, err)
		}
	}
	return &wbuckets{tx, bs[0], bs[1], bs[2], bs[3], bs[4], bs[5], bs[6]}, nil
}

// pointer reads a member's 8-byte pointer (read or delivered) in bucket name.
func pointer(tx *bolt.Tx, name []byte, member, convID string) uint64 {
	b := tx.Bucket(name)
	if b == nil {
		return 0
	}
	v := b.Get(readKey(member, convID))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func mediaKey(hash, convID string, seq uint64) []byte {
	return msgKey(hash+"\x00"+convID, seq)
}

// titleAD binds a sealed group title to its conversation.
func titleAD(convID string) []byte { return []byte("chat_convs\x00" + convID + "\x00title") }

// getConv reads a conversation; nil when it (or the bucket) does not exist.
func (s *Service) getConv(tx *bolt.Tx, id string) (*conv, error) {
	b := tx.Bucket(bucketConvs)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return s.decodeConv(id, v)
}

func (s *Service) decodeConv(id string, v []byte) (*conv, error) {
	var c conv
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, fmt.Errorf("%w: conversation %q: %w", errCorrupt, id, err)
	}
	if len(c.SealedTitle) > 0 {
		t, err := s.o.Seal.Open(c.SealedTitle, titleAD(c.ID))
		if err != nil {
			return nil, fmt.Errorf("chat: open the title of %q: %w", id, err)
		}
		c.Title, c.sealedFor = string(t), string(t)
	}
	return &c, nil
}

// putConv stores a conversation, its title sealed.
func (s *Service) putConv(b *bolt.Bucket, c *conv) error {
	rec := *c
	switch {
	case c.Title == "":
		rec.SealedTitle = nil
	case c.SealedTitle == nil || c.sealedFor != c.Title:
		sealed, err := s.o.Seal.Seal([]byte(c.Title), titleAD(c.ID))
		if err != nil {
			return fmt.Errorf("chat: seal title: %w", err)
		}
		c.SealedTitle, c.sealedFor = sealed, c.Title
		rec.SealedTitle = sealed
	}
	rec.Title = ""
	v, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("chat: encode conversation: %w", err)
	}
	if err := b.Put([]byte(c.ID), v); err != nil {
		return fmt.Errorf("chat: put conversation: %w", err)
	}
	return nil
}

// SealOldTitles seals the group titles of records written before titles
// were sealed, and returns how many it sealed; the broker calls it at
// start. (bbolt keeps the pages it frees as they were: the old bytes stay
// in the file until they are written over. Compacting the database into a
// new file, e.g. bbolt compact, leaves them behind.)
func (s *Service) SealOldTitles(ctx context.Context) (int, error) {
	var n int
	err := s.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketConvs)
		if b == nil {
			return nil
		}
		var old []*conv
		err := b.ForEach(func(k, v []byte) error {
			if !bytes.Contains(v, []byte(`"title":`)) {
				return nil
			}
			c, err := s.decodeConv(string(k), v)
			if err != nil {
				return err
			}
			if c.Title != "" && len(c.SealedTitle) == 0 {
				old = append(old, c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range old {
			if err := s.putConv(b, c); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("chat: seal old titles: %w", err)
	}
	return n, nil
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

// view builds a conversation's answer for the caller: its state, the
// caller's unread count and every member's receipts, so that all devices of
// a member converge on the same picture.
func view(tx *bolt.Tx, c *conv, caller string) convView {
	v := convView{Conversation: c.ID, Kind: c.kind(), Title: c.Title, Members: c.Members, Created: c.Created,
		LastSeq: c.LastSeq, Assistant: c.Assistant, Waiting: c.Waiting, Assigned: c.Assigned, Agent: c.Agent,
		Closed: c.Closed, Closings: c.Closings,
		Receipts: make([]Receipt, 0, len(c.Members))}
	if up, ok := readUpTo(tx, caller, c.ID); ok {
		v.ReadUpTo = up
		v.Unread = c.LastSeq - min(up, c.LastSeq)
	}
	for _, m := range c.Members {
		r, _ := readUpTo(tx, m, c.ID)
		d := max(r, pointer(tx, bucketDelivered, m, c.ID))
		v.Receipts = append(v.Receipts, Receipt{Member: m, Delivered: d, Read: r})
	}
	return v
}
