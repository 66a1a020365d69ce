// Package hq is the HQ side of cloudsync: what a consumer of the stores'
// uplink needs to read a message's user properties and to drop the
// repeats that at-least-once delivery brings (a resend after a cut link, a
// restart of the store). A consumer subscribes with a shared subscription
// (SharedFilter) so that several consumers split the load of many stores,
// and keeps one Dedup per process, or a unique key (store, origin) in its
// database.
package hq

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/proto"
)

// SharedFilter subscribes a consumer group "hq" to every store's uplink
// under the default cloud template (stores/{store}/up/{topic}).
const SharedFilter = "$share/hq/stores/+/up/#"

// Message is one uplink message.
type Message struct {
	Store  string
	Origin string    // unique per store: the deduplication key with Store
	Seq    uint64    // the store's outbox sequence: order within a local topic
	Stored time.Time // when the store filed it
	// Epoch is the box's incarnation ("" from a store before epochs).
	Epoch string
	// Stream is the entry's class; SSeq its gap-free number in the
	// (Epoch, Stream), 0 when the stream has none (media, telemetry).
	Stream string
	SSeq   uint64
	// Topic is the topic on HQ's broker, LocalTopic the store's topic
	// (empty when Topic is not under stores/{store}/up/).
	Topic, LocalTopic string
	Payload           []byte
	// ClockUnsynced: the store filed it before its clock was set from a
	// time source (user property clock=unsynced), so Stored may be far
	// off; place it by Seq and SSeq.
	ClockUnsynced bool
}

// ErrNotUplink is returned by Parse for a message without cloudsync's
// user properties.
var ErrNotUplink = errors.New("hq: not a cloudsync uplink message")

// Parse reads an uplink message.
func Parse(p *paho.Publish) (Message, error) {
	if p.Properties == nil {
		return Message{}, ErrNotUplink
	}
	u := p.Properties.User
	m := Message{Store: u.Get(cloudsync.PropStore), Origin: u.Get(cloudsync.PropOrigin),
		Topic: p.Topic, Payload: p.Payload}
	if m.Store == "" || m.Origin == "" {
		return Message{}, fmt.Errorf("%w: topic %s", ErrNotUplink, p.Topic)
	}
	seq, err := strconv.ParseUint(u.Get(cloudsync.PropSeq), 10, 64)
	if err != nil {
		return Message{}, fmt.Errorf("%w: seq: %w", ErrNotUplink, err)
	}
	m.Seq = seq
	m.Epoch, m.Stream = u.Get(proto.PropEpoch), u.Get(proto.PropStream)
	m.ClockUnsynced = u.Get(proto.PropClock) == proto.ClockUnsynced
	if v := u.Get(proto.PropSSeq); v != "" {
		if m.SSeq, err = strconv.ParseUint(v, 10, 64); err != nil || m.SSeq == 0 {
			return Message{}, fmt.Errorf("%w: sseq %q", ErrNotUplink, v)
		}
	}
	if ts := u.Get(cloudsync.PropStored); ts != "" {
		if m.Stored, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return Message{}, fmt.Errorf("%w: ts: %w", ErrNotUplink, err)
		}
	}
	m.LocalTopic, _ = strings.CutPrefix(p.Topic, "stores/"+m.Store+"/up/")
	if m.LocalTopic == p.Topic {
		m.LocalTopic = ""
	}
	return m, nil
}

// Dedup remembers which (store, origin) pairs were seen. It is safe for
// concurrent use. Memory grows with what it saw; a long-running consumer
// keeps the pairs in its database instead, or calls Forget for a store
// whose entries it has stored.
type Dedup struct {
	mu   sync.Mutex
	seen map[string]map[string]struct{}
}

// NewDedup returns an empty set.
func NewDedup() *Dedup { return &Dedup{seen: map[string]map[string]struct{}{}} }

// First reports whether (store, origin) is new, and records it.
func (d *Dedup) First(store, origin string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.seen[store]
	if s == nil {
		s = map[string]struct{}{}
		d.seen[store] = s
	}
	if _, ok := s[origin]; ok {
		return false
	}
	s[origin] = struct{}{}
	return true
}

// Len is how many pairs were seen.
func (d *Dedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, s := range d.seen {
		n += len(s)
	}
	return n
}

// Forget drops what was seen of a store.
func (d *Dedup) Forget(store string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, store)
}
