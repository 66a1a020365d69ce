package cloudsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho/queue"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/cloudsync/outbox"
	"github.com/storeedge/storeedge/cloudsync/topicmap"
	"github.com/storeedge/storeedge/proto"
)

// User properties of every uplink message (PROTOCOL.md, "Cloud"); the
// wire's definition is in proto.
const (
	PropStore  = proto.PropStore
	PropOrigin = proto.PropOrigin
	PropSeq    = proto.PropSeq
	PropStored = proto.PropStored
	PropEpoch  = proto.PropEpoch
	PropStream = proto.PropStream
	PropSSeq   = proto.PropSSeq
	PropClock  = proto.PropClock
)

// uplink is autopaho's queue.Queue over the outbox, and the bookkeeping
// that turns HQ's PUBACKs into outbox acks. autopaho's queue goroutine
// calls Wait, Peek and the Entry methods; the session wrapper (below)
// reports which packet id carries which entry and when HQ acknowledged
// it. An entry leaves the outbox only in ack, after its PUBACK.
//
// Entries are read from bbolt in batches (buf) in sending order: priority
// class, then oldest first. A new Put marks buf stale, so live chat jumps
// ahead of a telemetry backlog within refillEvery.
type uplink struct {
	db    DB
	ob    *outbox.Outbox
	m     *topicmap.Map
	store string
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	buf      []outbox.Entry
	stale    bool      // the outbox may hold entries buf does not show
	refilled time.Time // last read of buf
	full     bool      // that read returned a whole batch
	out      map[uint64]bool
	byID     map[uint16]uint64 // packet id in paho's session → seq
	bySeq    map[uint64]uint16
	added    map[uint64]bool // QoS 1 entries paho took into its session, until Remove
	// numbered: the entries in paho's session that carry a stream number
	// (chat, booking: never evicted, never lost), while they are there.
	numbered map[uint64]bool
	// autopaho's queue goroutine may still publish through the client of
	// a connection that is gone while paho's session (shared by all
	// connections) already belongs to the next one: the packet is added
	// to the session, its write fails on the closed connection, and it
	// waits unsent for the next reconnect while newer entries of its topic
	// go out. So entries are taken only by the queue loop of the current
	// connection: gen counts CONNACKs, waited says the queue goroutine has
	// called Wait since the last one (the loop of a new connection always
	// does before its first Peek; the old loop's first Wait after it gets
	// a channel that is not ready yet, so it takes its closed connDown and
	// moves to the new connection), and sessionState refuses a packet
	// taken in an earlier gen, which goes back to the front.
	gen       uint64
	waited    bool
	takenIn   map[uint64]uint64
	flight    int // entries taken and not yet acknowledged
	maxFlight int // Config.Inflight
	window    int // min(maxFlight, HQ's Receive Maximum)
	waiter    chan struct{}
	wakeAt    time.Time // a timer is set to wake the waiter then
	pause     time.Time // HQ refused an entry: nothing is sent before then
	refusals  int       // consecutive refusals, for the pause's backoff
	acks      []uint64  // acknowledged, to be deleted from the outbox
	ackKick   chan struct{}

	rate   float64 // messages per second, 0 = no limit
	tokens float64
	filled time.Time

	sent, acked, refused atomic.Uint64
	lastErr              func(error)
	// onAcked, when set, runs after acknowledged entries were deleted.
	onAcked func()
}

// refillEvery bounds how often a busy outbox is re-read because of new
// entries: live messages wait at most this long behind a backlog.
const refillEvery = 20 * time.Millisecond

// batch is how many entries one read takes.
const batch = 512

// refusedPause is the first pause after HQ refused an entry; it doubles
// up to refusedPauseMax while HQ keeps refusing.
const (
	refusedPause    = time.Second
	refusedPauseMax = 5 * time.Minute
	// noSubscribers is PUBACK's reason code 0x10. HQ's consumers come
	// back within seconds of a broker restart, so the pause it causes
	// stops doubling at noSubscribersPauseMax.
	noSubscribers         = 0x10
	noSubscribersPauseMax = 30 * time.Second
)

func newUplink(db DB, ob *outbox.Outbox, m *topicmap.Map, store string, inflight int, rate float64, log *slog.Logger, now func() time.Time, lastErr func(error)) *uplink {
	return &uplink{db: db, ob: ob, m: m, store: store, log: log, now: now, lastErr: lastErr,
		stale: true, out: map[uint64]bool{}, byID: map[uint16]uint64{}, bySeq: map[uint64]uint16{}, added: map[uint64]bool{}, numbered: map[uint64]bool{}, takenIn: map[uint64]uint64{},
		maxFlight: inflight, window: inflight, ackKick: make(chan struct{}, 1),
		rate: rate, tokens: min(max(1, rate), float64(inflight)), filled: now()}
}

// kick tells the uplink the outbox has new entries (outbox.Options.Committed).
func (u *uplink) kick() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stale = true
	u.notifyLocked()
}

// Wait implements queue.Queue: the channel is closed when Peek may find an
// entry to send now.
func (u *uplink) Wait() chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.waited {
		u.waited = true
		if u.waiter == nil {
			u.waiter = make(chan struct{})
		}
		u.wakeLocked(u.now().Add(time.Millisecond))
		return u.waiter
	}
	if u.readyLocked() {
		c := make(chan struct{})
		close(c)
		return c
	}
	if u.waiter == nil {
		u.waiter = make(chan struct{})
	}
	return u.waiter
}

// Enqueue implements queue.Queue; entries come from the outbox only.
func (u *uplink) Enqueue(io.Reader) error {
	return errors.New("cloudsync: the uplink queue is the outbox; use outbox.Put")
}

// readyLocked: there may be an entry and the window, the rate and any
// pause allow sending one now. When only time stands in the way, a timer
// wakes the waiter.
func (u *uplink) readyLocked() bool {
	if len(u.buf) == 0 && !u.stale {
		return false
	}
	if u.flight >= u.window {
		return false
	}
	now := u.now()
	if now.Before(u.pause) {
		u.wakeLocked(u.pause)
		return false
	}
	if u.rate > 0 {
		u.tokens = min(u.tokens+now.Sub(u.filled).Seconds()*u.rate, max(1, min(u.rate, float64(u.window))))
		u.filled = now
		if u.tokens < 1 {
			u.wakeLocked(now.Add(time.Duration((1 - u.tokens) / u.rate * float64(time.Second))))
			return false
		}
	}
	return true
}

func (u *uplink) wakeLocked(at time.Time) {
	if !u.wakeAt.IsZero() && !at.Before(u.wakeAt) && u.wakeAt.After(u.now()) {
		return // an earlier timer is set
	}
	u.wakeAt = at
	time.AfterFunc(max(at.Sub(u.now()), time.Millisecond), func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		u.notifyLocked()
	})
}

func (u *uplink) notifyLocked() {
	if u.waiter != nil {
		close(u.waiter)
		u.waiter = nil
	}
}

// Peek implements queue.Queue: the next entry in sending order that is not
// already on its way.
func (u *uplink) Peek() (queue.Entry, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.waited || !u.readyLocked() {
		return nil, queue.ErrEmpty
	}
	if len(u.buf) == 0 || (u.stale && u.now().Sub(u.refilled) >= refillEvery) {
		if err := u.refillLocked(); err != nil {
			return nil, err
		}
	}
	if len(u.buf) == 0 {
		return nil, queue.ErrEmpty
	}
	e := u.buf[0]
	u.buf = u.buf[1:]
	if len(u.buf) == 0 && u.full {
		u.stale = true // the last read stopped at its batch size: there is more
	}
	u.out[e.Seq] = true
	u.takenIn[e.Seq] = u.gen
	u.flight++
	if u.rate > 0 {
		u.tokens--
	}
	return &entry{u: u, e: e}, nil
}

func (u *uplink) refillLocked() error {
	u.stale = false
	u.refilled = u.now()
	var next []outbox.Entry
	err := u.db.View(func(tx *bolt.Tx) error {
		var err error
		next, err = u.ob.Next(tx, batch, func(seq uint64) bool { return u.out[seq] })
		return err
	})
	if err != nil {
		u.stale = true
		u.lastErr(fmt.Errorf("read outbox: %w", err))
		return fmt.Errorf("cloudsync: read outbox: %w", err)
	}
	u.buf = next
	u.full = len(next) == batch
	return nil
}

// entry is one outbox entry handed to autopaho.
type entry struct {
	u *uplink
	e outbox.Entry
}

// packet is the entry as HQ receives it.
func (u *uplink) packet(e outbox.Entry) *packets.Publish {
	r, ok := u.m.Match(e.Topic)
	if !ok {
		// The map no longer names the topic (it changed since the entry
		// was stored): it still goes, under the default template.
		r = topicmap.Rule{Cloud: topicmap.DefaultCloud, Class: e.Class, QoS: topicmap.DefaultQoS}
	}
	props := []packets.User{
		{Key: PropStore, Value: u.store},
		{Key: PropOrigin, Value: e.Epoch + "/" + e.Origin},
		{Key: PropSeq, Value: strconv.FormatUint(e.Seq, 10)},
		{Key: PropStored, Value: e.Stored.UTC().Format(time.RFC3339Nano)},
		{Key: PropEpoch, Value: e.Epoch},
		{Key: PropStream, Value: e.Class},
	}
	if e.SSeq > 0 {
		props = append(props, packets.User{Key: PropSSeq, Value: strconv.FormatUint(e.SSeq, 10)})
	}
	if e.ClockUnsynced {
		props = append(props, packets.User{Key: PropClock, Value: proto.ClockUnsynced})
	}
	return &packets.Publish{
		Topic:      u.m.CloudTopic(r, u.store, e.Topic),
		QoS:        r.QoS,
		Payload:    e.Payload,
		Properties: &packets.Properties{User: props},
	}
}

func (en *entry) Reader() (io.Reader, error) {
	var b bytes.Buffer
	if _, err := en.u.packet(en.e).WriteTo(&b); err != nil {
		return nil, fmt.Errorf("cloudsync: encode seq %d: %w", en.e.Seq, err)
	}
	return &b, nil
}

// Leave: not sent; it goes back to the front.
func (en *entry) Leave() error {
	u := en.u
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.out, en.e.Seq)
	delete(u.takenIn, en.e.Seq)
	u.flight--
	u.buf = append([]outbox.Entry{en.e}, u.buf...)
	u.notifyLocked()
	return nil
}

// Remove: written to HQ. A QoS 0 entry is done; a QoS 1 entry is in paho's
// session until its PUBACK, unless paho refused it before it got there.
func (en *entry) Remove() error {
	u := en.u
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sent.Add(1)
	delete(u.takenIn, en.e.Seq)
	if u.added[en.e.Seq] {
		// In the session; its PUBACK (perhaps already in) acknowledges it.
		delete(u.added, en.e.Seq)
		return nil
	}
	if en.qos() == 0 {
		u.ackLocked(en.e.Seq)
		return nil
	}
	u.refuseLocked(en.e.Seq, en.e.Topic, "the MQTT client refused it (HQ's broker does not allow its QoS or retain flag)")
	return nil
}

// Quarantine: the packet did not decode, which our own encoding never
// causes; it stays in the outbox and is retried after a pause.
func (en *entry) Quarantine() error {
	u := en.u
	u.mu.Lock()
	defer u.mu.Unlock()
	u.refuseLocked(en.e.Seq, en.e.Topic, "the packet did not decode")
	return nil
}

func (en *entry) qos() byte {
	if r, ok := en.u.m.Match(en.e.Topic); ok {
		return r.QoS
	}
	return topicmap.DefaultQoS
}

// refuseLocked takes back an entry that did not get to HQ for a reason a
// retry at once would not fix, and pauses the uplink with backoff: nothing
// is dropped, and the status says why the backlog does not move.
func (u *uplink) refuseLocked(seq uint64, topic, why string) {
	u.pauseLocked(seq, topic, why, refusedPauseMax)
}

// pauseLocked is refuseLocked with its own longest pause.
func (u *uplink) pauseLocked(seq uint64, topic, why string, longest time.Duration) {
	delete(u.out, seq)
	delete(u.takenIn, seq)
	if pid, ok := u.bySeq[seq]; ok {
		delete(u.byID, pid)
		delete(u.bySeq, seq)
	}
	delete(u.numbered, seq)
	u.flight--
	u.refused.Add(1)
	u.buf, u.stale = nil, true // re-read: the entry goes before those after it
	d := min(refusedPause<<min(u.refusals, 10), longest)
	u.refusals++
	u.pause = u.now().Add(d)
	// The sender may be asleep on the waiter with nothing else to wake it
	// (no new entry, no ack): the pause's end must.
	u.wakeLocked(u.pause)
	err := fmt.Errorf("HQ did not take %s seq %d: %s; retrying in %s", topic, seq, why, d)
	u.lastErr(err)
	u.log.Warn("cloudsync: uplink paused", "err", err)
}

func (u *uplink) ackLocked(seq uint64) {
	u.flight--
	u.refusals = 0
	u.acks = append(u.acks, seq)
	select {
	case u.ackKick <- struct{}{}:
	default:
	}
	u.notifyLocked()
}

// connected notes a new connection (before paho resends its session).
func (u *uplink) connected() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	u.waited = false
}

// current reports whether the entry in pb was taken since the current
// connection came up.
func (u *uplink) current(pb *packets.Publish) bool {
	seq, ok := seqOf(pb)
	if !ok {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	g, ok := u.takenIn[seq]
	return !ok || g == u.gen
}

// inSession records the packet id paho gave an entry.
func (u *uplink) inSession(pb *packets.Publish) {
	seq, ok := seqOf(pb)
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.byID[pb.PacketID] = seq
	u.bySeq[seq] = pb.PacketID
	u.added[seq] = true
	if pb.Properties != nil {
		for _, p := range pb.Properties.User {
			if p.Key == PropSSeq {
				u.numbered[seq] = true
			}
		}
	}
}

// puback handles HQ's answer to packet id.
func (u *uplink) puback(id uint16, reason byte, reasonString string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	seq, ok := u.byID[id]
	if !ok {
		return
	}
	delete(u.byID, id)
	delete(u.bySeq, seq)
	numbered := u.numbered[seq]
	delete(u.numbered, seq)
	// 0x10 (no matching subscribers) is a success code in MQTT 5, but it
	// says HQ's broker threw the message away: no consumer of HQ is
	// subscribed (none started yet, or a broker restart lost the shared
	// subscriptions). A chat or booking entry (numbered: HQ would wait
	// for it) is kept and sent again after a pause, like a refused one,
	// until a consumer takes it; device status and media are let go, as
	// an HQ that takes no telemetry must not hold up the chat behind it.
	if reason == noSubscribers && numbered {
		u.pauseLocked(seq, "the entry", "HQ's broker has no subscriber for it (is storeedge-hq running?)", noSubscribersPauseMax)
		return
	}
	if reason >= 0x80 {
		why := fmt.Sprintf("PUBACK reason 0x%02x", reason)
		if reasonString != "" {
			why += " (" + reasonString + ")"
		}
		u.refuseLocked(seq, "the entry", why)
		return
	}
	u.ackLocked(seq)
}

// sessionLost: HQ's broker has no session for us (it expired or the
// broker lost it), so the entries paho was waiting on will never be
// acknowledged; they are sent again, oldest first.
func (u *uplink) sessionLost() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, seq := range u.byID {
		delete(u.numbered, seq)
		delete(u.out, seq)
		delete(u.byID, id)
		delete(u.bySeq, seq)
		u.flight--
	}
	// Re-read before sending anything else: these go first again, before
	// newer entries of their topics that buf may hold.
	u.buf, u.stale = nil, true
	u.notifyLocked()
}

// setWindow applies HQ's Receive Maximum for this connection.
func (u *uplink) setWindow(receiveMax uint16) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.window = u.maxFlight
	if receiveMax > 0 && int(receiveMax) < u.window {
		u.window = int(receiveMax)
	}
	u.notifyLocked()
}

// freeUpdater is a DB that also commits a transaction that makes room on a
// full disk or at its size cap (the store's UpdateFree). Acknowledged
// entries leave the outbox that way; the kept range they move to is
// trimmed to its limits in the same transaction.
type freeUpdater interface {
	UpdateFree(ctx context.Context, fn func(*bolt.Tx) error) error
}

// runAcks deletes acknowledged entries from the outbox, many per commit.
func (u *uplink) runAcks(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.ackKick:
		}
		u.mu.Lock()
		seqs := u.acks
		u.acks = nil
		u.mu.Unlock()
		if len(seqs) == 0 {
			continue
		}
		ack := func(tx *bolt.Tx) error { return u.ob.Ack(tx, seqs...) }
		var err error
		if f, ok := u.db.(freeUpdater); ok {
			// On a full disk too: otherwise HQ is sent the same entries
			// again and again and the outbox never drains.
			err = f.UpdateFree(ctx, ack)
		} else {
			err = u.db.Update(ctx, ack)
		}
		u.mu.Lock()
		if err != nil {
			// Still stored: kept out of the send order and retried.
			u.acks = append(seqs, u.acks...)
			u.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			u.lastErr(fmt.Errorf("delete acknowledged entries: %w", err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			select {
			case u.ackKick <- struct{}{}:
			default:
			}
			continue
		}
		for _, s := range seqs {
			delete(u.out, s)
		}
		u.mu.Unlock()
		u.acked.Add(uint64(len(seqs)))
		if u.onAcked != nil {
			u.onAcked()
		}
	}
}

func (u *uplink) inflight() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.flight
}

func seqOf(pb *packets.Publish) (uint64, bool) {
	if pb.Properties == nil {
		return 0, false
	}
	for _, p := range pb.Properties.User {
		if p.Key == PropSeq {
			s, err := strconv.ParseUint(p.Value, 10, 64)
			return s, err == nil
		}
	}
	return 0, false
}

// sessionState is paho's session state with the uplink told of packet ids,
// PUBACKs and lost sessions. Everything else is paho's.
type sessionState struct {
	*state.State
	u *uplink
	// conn orders a publish's check-and-add (read side) against a new
	// connection's CONNACK handling (write side), which resends what the
	// session holds: a packet is either in the session before the resend,
	// or refused as taken before this connection.
	conn sync.RWMutex
}

func (s *sessionState) ConAckReceived(conn io.Writer, cp *packets.Connect, ca *packets.Connack) error {
	s.conn.Lock()
	defer s.conn.Unlock()
	s.u.connected()
	if !ca.SessionPresent {
		s.u.sessionLost()
	}
	var recvMax uint16
	if ca.Properties != nil && ca.Properties.ReceiveMaximum != nil {
		recvMax = *ca.Properties.ReceiveMaximum
	}
	s.u.setWindow(recvMax)
	return s.State.ConAckReceived(conn, cp, ca)
}

func (s *sessionState) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	// Held while paho may wait for a send slot: that wait ends when the
	// connection is lost (ConnectionLost, which does not take this lock)
	// or at the publish's timeout.
	s.conn.RLock()
	defer s.conn.RUnlock()
	if pb, ok := p.(*packets.Publish); ok && !s.u.current(pb) {
		return session.ErrNoConnection // taken before this connection: autopaho leaves it
	}
	if err := s.State.AddToSession(ctx, p, resp); err != nil {
		return err
	}
	if pb, ok := p.(*packets.Publish); ok {
		s.u.inSession(pb)
	}
	return nil
}

func (s *sessionState) PacketReceived(recv *packets.ControlPacket, pubChan chan<- *packets.Publish) error {
	// Before paho frees the packet id, which a new publish may take at once.
	if pa, ok := recv.Content.(*packets.Puback); ok {
		var rs string
		if pa.Properties != nil {
			rs = pa.Properties.ReasonString
		}
		s.u.puback(pa.PacketID, pa.ReasonCode, rs)
	}
	return s.State.PacketReceived(recv, pubChan)
}
