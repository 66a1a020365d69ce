// Package session keeps MQTT sessions durable across restarts and crashes: a
// mochi hook that commits every QoS 1/2 message to bbolt before the broker
// acknowledges it, together with one queue entry for each persistent session it
// is bound for, and rebuilds each session's queue in publish order when the
// client comes back.
//
// Buckets (owned by this package, nobody else touches them):
//
//	mqtt_clients   client id            → client record (JSON)
//	mqtt_subs      client id 0x00 filter → subscription (JSON)
//	mqtt_retained  topic                → message (sealed binary record, codec.go)
//	mqtt_msgs      seq (8 bytes, BE)    → message (sealed binary record)
//	mqtt_queue     client id 0x00 seq   → granted QoS (1 byte)
//
// A message is stored once however many sessions it is queued for; a session's
// queue is the ordered range of its keys in mqtt_queue. An entry is deleted when
// the client acknowledges the message (PUBACK, PUBREC), and the message when its
// last entry goes.
//
// At rest. Message records are sealed (Options.Seal, AES-256-GCM) with their
// bucket and key as additional data: what waits for a session is often
// personal (an answer with a booking's notes and phone number, a chat
// tablet's live QR token, a history page), and bbolt does not wipe the pages
// it frees when a message is delivered, so only a record that was never
// written in the clear leaves nothing behind. Answers on reply/… are queued
// like any message rather than left out: the device SDK and the pages wait
// for them on their persistent sessions, and svc remembers only the answers
// of ops that change something (for services.answer_ttl), so an answer to a
// read (history, board, session) that was not queued would be lost until
// the device asked again, and one to a change asked again after the TTL
// would run it a second time. Records written in the clear by an older
// version (version 1) are sealed by Init, and still read until then.
package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/store"
)

var (
	bucketClients  = []byte("mqtt_clients")
	bucketSubs     = []byte("mqtt_subs")
	bucketRetained = []byte("mqtt_retained")
	bucketMsgs     = []byte("mqtt_msgs")
	bucketQueue    = []byte("mqtt_queue")
)

// tagPrefix marks the sequence number the hook hides in a PUBLISH packet's
// Connect.ClientIdentifier: mochi copies that field with every per-subscriber
// copy of a packet and never encodes it for PUBLISH, so it is how the hook
// recognises, when mochi queues a copy for a subscriber, which stored message
// it is.
const tagPrefix = "\x00seq:"

// DB is the transactional store the hook writes to (broker/store.DB).
type DB interface {
	Update(ctx context.Context, fn func(*bolt.Tx) error) error
	Enqueue(fn func(*bolt.Tx) error) <-chan error
	UpdateAsync(fn func(*bolt.Tx) error, onErr func(error))
	// UpdateFreeAsync is UpdateAsync for deletes: they still commit when the
	// database is at its size cap, so that delivering a queue frees it.
	UpdateFreeAsync(fn func(*bolt.Tx) error, onErr func(error))
	// Flush returns once the writes submitted before it are done; it
	// writes nothing, so it works on a full disk.
	Flush(ctx context.Context) error
	View(fn func(*bolt.Tx) error) error
}

// Options configure the hook.
type Options struct {
	DB     DB
	Server *mqtt.Server
	// CanRead reports whether a client may receive a message on topic (the
	// ACL). Messages are queued only for sessions that may read them. Nil
	// allows everything.
	CanRead func(cl *mqtt.Client, topic string) bool
	// MaxQueued is the most messages held for one persistent session; past it
	// new messages are not queued for that session.
	MaxQueued int
	// MaxSessionExpiry caps the session expiry stored for a client (seconds).
	MaxSessionExpiry uint32
	// OnQueueDropped is called once for each message not queued because a
	// session's queue was full.
	OnQueueDropped func()
	// OnPublishRejected is called when a publish is refused because it could
	// not be stored; reason is "store_full" or "store_error".
	OnPublishRejected func(reason string)
	// Seal encrypts every stored message (queued and retained) at rest; the
	// broker always sets it. Nil stores them in the clear (this package's
	// tests).
	Seal Sealer
	Log  *slog.Logger
}

// Hook is the mochi storage hook.
type Hook struct {
	mqtt.HookBase
	o   Options
	seq atomic.Uint64

	mu       sync.Mutex
	sessions map[string]*queue // by client id
	refs     map[uint64]int32  // message seq → queue entries still holding it

	planned   sync.Map // seq → map[string]struct{}: sessions OnPublish queued it for
	fanMu     sync.Mutex
	fanCond   *sync.Cond // broadcast when a plan ends (unplan)
	committed sync.Map   // seq → nil or error: commit result for the pipeline's second pass
	pipesMu   sync.Mutex
	pipes     map[string]*pipeline // by client id, while it has publishes waiting

	dropMu     sync.Mutex
	dropLogged time.Time
	dropCount  int
}

// queue is the in-memory index of one persistent session's stored queue.
type queue struct {
	queued int               // entries on disk (or being written)
	byPID  map[uint16]uint64 // packet id in flight to the client → message seq
	// bySeq is byPID the other way round. A message is mapped to one packet
	// id at most: a second copy of it (a live fan-out racing a resume) is a
	// duplicate and is not mapped, so its acknowledgement cannot remove the
	// message twice.
	bySeq map[uint64]uint16
	// resuming is set from the rebuild of the queue for a returning client
	// until its session is established: meanwhile a message fanned out to
	// the away session stays in memory (its commit came after the rebuild
	// read the disk, or it would be in bySeq already).
	resuming bool
}

// New returns the hook; register it with mochi's AddHook before Serve.
func New(o Options) (*Hook, error) {
	if o.DB == nil || o.Server == nil {
		return nil, errors.New("session: DB and Server are required")
	}
	if o.MaxQueued <= 0 {
		return nil, errors.New("session: MaxQueued must be positive")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	h := &Hook{o: o, sessions: map[string]*queue{}, refs: map[uint64]int32{}, pipes: map[string]*pipeline{}}
	h.fanCond = sync.NewCond(&h.fanMu)
	return h, nil
}

// ID names the hook.
func (h *Hook) ID() string { return "storeedge-session" }

// Provides lists the mochi events the hook handles.
func (h *Hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribed, mqtt.OnUnsubscribed,
		mqtt.OnPublish, mqtt.OnPublished, mqtt.OnRetainMessage, mqtt.OnRetainedExpired,
		mqtt.OnQosPublish, mqtt.OnQosDropped, mqtt.OnPacketRead, mqtt.OnClientExpired,
		mqtt.StoredClients, mqtt.StoredSubscriptions, mqtt.StoredRetainedMessages:
		return true
	}
	return false
}

// Init creates the buckets and indexes the stored queues: per-session counts,
// per-message reference counts and the last sequence number. Queue entries of
// unknown sessions and messages nobody holds are removed.
func (h *Hook) Init(any) error {
	if err := h.o.DB.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketClients, bucketSubs, bucketRetained, bucketMsgs, bucketQueue} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	var orphanEntries, orphanMsgs, plainMsgs, plainRetained [][]byte
	err := h.o.DB.View(func(tx *bolt.Tx) error {
		clients := tx.Bucket(bucketClients)
		if k, _ := tx.Bucket(bucketMsgs).Cursor().Last(); k != nil {
			h.seq.Store(binary.BigEndian.Uint64(k))
		}
		c := tx.Bucket(bucketQueue).Cursor()
		var lastClient string
		var known bool
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			id, seq, ok := splitQueueKey(k)
			if !ok {
				orphanEntries = append(orphanEntries, append([]byte(nil), k...))
				continue
			}
			if id != lastClient {
				lastClient = id
				known = clients.Get([]byte(id)) != nil
			}
			if !known {
				orphanEntries = append(orphanEntries, append([]byte(nil), k...))
				continue
			}
			h.sessionLocked(id).queued++
			h.refs[seq]++
		}
		m := tx.Bucket(bucketMsgs).Cursor()
		for k, v := m.First(); k != nil; k, v = m.Next() {
			if h.refs[binary.BigEndian.Uint64(k)] == 0 {
				orphanMsgs = append(orphanMsgs, append([]byte(nil), k...))
			} else if h.o.Seal != nil && len(v) > 0 && v[0] == recordVersion {
				plainMsgs = append(plainMsgs, append([]byte(nil), k...))
			}
		}
		r := tx.Bucket(bucketRetained).Cursor()
		for k, v := r.First(); k != nil; k, v = r.Next() {
			if h.o.Seal != nil && len(v) > 0 && v[0] == recordVersion {
				plainRetained = append(plainRetained, append([]byte(nil), k...))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: index queues: %w", err)
	}
	if len(plainMsgs)+len(plainRetained) > 0 {
		if err := h.sealOld(plainMsgs, plainRetained); err != nil {
			return err
		}
	}
	if len(orphanEntries)+len(orphanMsgs) > 0 {
		h.o.Log.Info("session: removing unreferenced stored entries", "queue_entries", len(orphanEntries), "messages", len(orphanMsgs))
		h.o.DB.UpdateFreeAsync(func(tx *bolt.Tx) error {
			for _, k := range orphanEntries {
				if err := tx.Bucket(bucketQueue).Delete(k); err != nil {
					return err
				}
			}
			for _, k := range orphanMsgs {
				if err := tx.Bucket(bucketMsgs).Delete(k); err != nil {
					return err
				}
			}
			return nil
		}, h.asyncErr("remove orphans"))
	}
	return nil
}

// sealOld seals the messages an older version stored in the clear (the
// queued ones, keys of mqtt_msgs, and the retained ones, topics), in one
// transaction, so that after an upgrade no stored message is in the clear.
// A record that does not decode is left for the queue's rebuild to skip.
func (h *Hook) sealOld(msgs, retained [][]byte) error {
	err := h.o.DB.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, set := range []struct {
			bucket []byte
			keys   [][]byte
		}{{bucketMsgs, msgs}, {bucketRetained, retained}} {
			b := tx.Bucket(set.bucket)
			for _, k := range set.keys {
				v := b.Get(k)
				if len(v) == 0 || v[0] != recordVersion {
					continue
				}
				pk, err := decode(v)
				if err != nil {
					continue
				}
				sealed, err := sealRecord(h.o.Seal, pk, set.bucket, k)
				if err != nil {
					return err
				}
				if err := b.Put(k, sealed); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("session: seal messages stored in the clear: %w", err)
	}
	h.o.Log.Info("session: messages stored in the clear by an older version are sealed now", "queued", len(msgs), "retained", len(retained))
	return nil
}

// Persistent reports whether a client's session outlives its connection.
func Persistent(cl *mqtt.Client) bool {
	if cl.Net.Inline {
		return false
	}
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

func (h *Hook) sessionLocked(id string) *queue {
	q := h.sessions[id]
	if q == nil {
		q = &queue{byPID: map[uint16]uint64{}, bySeq: map[uint64]uint16{}}
		h.sessions[id] = q
	}
	return q
}

// mapPID records that packet id pid carries message seq to the client.
func (q *queue) mapPID(pid uint16, seq uint64) {
	if old, ok := q.byPID[pid]; ok {
		delete(q.bySeq, old)
	}
	q.byPID[pid] = seq
	q.bySeq[seq] = pid
}

// target is one persistent session a message is queued for.
type target struct {
	client string
	qos    byte
}

// OnPublish stores a QoS 1/2 message, and its queue entries for every
// persistent session that will receive it, before mochi acknowledges it.
// Retained messages are stored here too. A message that cannot be stored is
// refused: MQTT 5 clients get PUBACK 0x97 (store full) or 0x80; MQTT 3.1.1
// clients get no PUBACK and resend it after they reconnect.
func (h *Hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if seq, ok := tag(pk); ok {
		// The pipeline handing back a packet whose commit has finished.
		if res, ok := h.committed.LoadAndDelete(seq); ok {
			if err, _ := res.(error); err != nil {
				return pk, h.reject(cl, storeReason(err), err)
			}
			return pk, nil
		}
	}
	qos := pk.FixedHeader.Qos
	retain := pk.FixedHeader.Retain
	if qos == 0 && !retain {
		return h.passThrough(cl, pk, 0)
	}
	seq := h.seq.Add(1)
	var targets []target
	var skipped bool
	if qos > 0 {
		targets, skipped = h.targets(cl, pk, seq)
	}
	if len(targets) == 0 && !retain {
		if skipped {
			// Tell OnQosPublish the sessions mochi will still queue it for
			// were left out on purpose.
			h.planned.Store(seq, map[string]struct{}{})
			pk.Connect.ClientIdentifier = tagPrefix + strconv.FormatUint(seq, 10)
		}
		// No session would find it after a crash: nothing to make durable.
		return h.passThrough(cl, pk, seq)
	}
	var rec, retainedRec []byte
	var err error
	if len(targets) > 0 {
		rec, err = sealRecord(h.o.Seal, pk, bucketMsgs, seqKey(seq))
	}
	if err == nil && retain && len(pk.Payload) > 0 {
		retainedRec, err = sealRecord(h.o.Seal, pk, bucketRetained, []byte(pk.TopicName))
	}
	if err != nil {
		h.release(targets, seq)
		return pk, h.reject(cl, "store_error", err)
	}
	write := func(tx *bolt.Tx) error {
		if len(targets) > 0 {
			if err := tx.Bucket(bucketMsgs).Put(seqKey(seq), rec); err != nil {
				return err
			}
			qb := tx.Bucket(bucketQueue)
			for _, t := range targets {
				if err := qb.Put(queueKey(t.client, seq), []byte{t.qos}); err != nil {
					return err
				}
			}
		}
		if retain {
			return putRetained(tx, pk.TopicName, retainedRec)
		}
		return nil
	}
	if qos == 0 {
		// A retained QoS 0 message has no acknowledgement to hold back.
		h.o.DB.UpdateAsync(write, h.asyncErr("store retained"))
		pk.Connect.ClientIdentifier = tagPrefix + strconv.FormatUint(seq, 10)
		return h.passThrough(cl, pk, seq)
	}
	h.plan(seq, targets)
	pk.Connect.ClientIdentifier = tagPrefix + strconv.FormatUint(seq, 10)
	if cl.Net.Inline {
		// The broker's own services publish synchronously.
		if err := h.o.DB.Update(context.Background(), write); err != nil {
			h.unplan(seq)
			h.release(targets, seq)
			return pk, h.reject(cl, storeReason(err), err)
		}
		return pk, nil
	}
	// A device's publish is not acknowledged here. The write joins the next
	// group commit and mochi is told to drop the packet for now; once the
	// commit is on disk the pipeline hands the packet back to mochi, which
	// then acknowledges and delivers it. Meanwhile this client's next packets
	// are read and committed in the same group, so one connection is not
	// limited to one fsync per message.
	if !h.enqueue(cl, &pending{pk: pk, seq: seq, targets: targets, done: h.o.DB.Enqueue(write)}) {
		h.unplan(seq)
		h.release(targets, seq)
	}
	return pk, packets.ErrRejectPacket
}

// passThrough lets a publish that needs no commit go on at once, unless the
// client still has earlier publishes waiting for theirs: then it queues
// behind them, so the client's messages (and PUBACKs) keep their order.
func (h *Hook) passThrough(cl *mqtt.Client, pk packets.Packet, seq uint64) (packets.Packet, error) {
	if cl.Net.Inline || !h.busy(cl) {
		return pk, nil
	}
	if seq == 0 {
		seq = h.seq.Add(1)
	}
	// Tagged, so that the pipeline's hand-back is recognised as this
	// packet; an untagged one would be taken for a new publish, queued
	// behind itself again and never acknowledged.
	pk.Connect.ClientIdentifier = tagPrefix + strconv.FormatUint(seq, 10)
	done := make(chan error, 1)
	done <- nil
	h.enqueue(cl, &pending{pk: pk, seq: seq, done: done})
	return pk, packets.ErrRejectPacket
}

// unplan forgets seq's plan once its fan-out is over, and wakes a returning
// client that waits for the fan-outs bound for it (awaitFanouts).
func (h *Hook) unplan(seq uint64) {
	if _, ok := h.planned.LoadAndDelete(seq); !ok {
		return
	}
	h.fanMu.Lock()
	h.fanCond.Broadcast()
	h.fanMu.Unlock()
}

// awaitFanouts waits (at most fanoutWait) until every message numbered up to
// upTo that is being fanned out to client has been. A returning client's
// queue is rebuilt after that, so a message whose PUBACK its publisher
// already has cannot reach the client a second time, out of order, through
// the live path while the rebuilt queue is being resent.
func (h *Hook) awaitFanouts(client string, upTo uint64) {
	deadline := time.Now().Add(fanoutWait)
	h.fanMu.Lock()
	defer h.fanMu.Unlock()
	for h.fanoutPending(client, upTo) {
		left := time.Until(deadline)
		if left <= 0 {
			h.o.Log.Warn("session: resuming while messages for the client are still being delivered", "client", client)
			return
		}
		wake := time.AfterFunc(left, func() {
			h.fanMu.Lock()
			h.fanCond.Broadcast()
			h.fanMu.Unlock()
		})
		h.fanCond.Wait()
		wake.Stop()
	}
}

func (h *Hook) fanoutPending(client string, upTo uint64) bool {
	pending := false
	h.planned.Range(func(k, v any) bool {
		if k.(uint64) <= upTo {
			if _, ok := v.(map[string]struct{})[client]; ok {
				pending = true
				return false
			}
		}
		return true
	})
	return pending
}

// fanoutWait bounds how long a returning client waits for fan-outs in flight.
const fanoutWait = 5 * time.Second

// plan records which sessions seq is being queued for, until its fan-out ends.
func (h *Hook) plan(seq uint64, targets []target) {
	set := make(map[string]struct{}, len(targets))
	for _, t := range targets {
		set[t.client] = struct{}{}
	}
	h.planned.Store(seq, set)
}

func storeReason(err error) string {
	if errors.Is(err, store.ErrFull) {
		return "store_full"
	}
	return "store_error"
}

// targets picks the persistent sessions that mochi is about to queue pk for,
// mirroring its delivery rules (QoS 0 subscriptions, No Local, the ACL), and
// reserves a queue slot in each. skipped reports a persistent session left
// out because its queue was full or the ACL denies it.
func (h *Hook) targets(cl *mqtt.Client, pk packets.Packet, seq uint64) (out []target, skipped bool) {
	subs := h.o.Server.Topics.Subscribers(pk.TopicName)
	if len(subs.Subscriptions) == 0 {
		return nil, false
	}
	for id, sub := range subs.Subscriptions {
		if sub.Qos == 0 || (sub.NoLocal && id == cl.ID) {
			continue
		}
		sc, ok := h.o.Server.Clients.Get(id)
		if !ok || !Persistent(sc) {
			continue
		}
		if h.o.CanRead != nil && !h.o.CanRead(sc, pk.TopicName) {
			skipped = true
			continue
		}
		q := min(sub.Qos, pk.FixedHeader.Qos)
		h.mu.Lock()
		s := h.sessionLocked(id)
		full := s.queued >= h.o.MaxQueued
		if !full {
			s.queued++
			h.refs[seq]++
		}
		h.mu.Unlock()
		if full {
			skipped = true
			h.queueFull(id)
			continue
		}
		out = append(out, target{client: id, qos: q})
	}
	return out, skipped
}

// release undoes targets' reservations for a message that was not stored.
func (h *Hook) release(targets []target, seq uint64) {
	if len(targets) == 0 {
		return
	}
	h.mu.Lock()
	for _, t := range targets {
		h.sessionLocked(t.client).queued--
	}
	delete(h.refs, seq)
	h.mu.Unlock()
}

func (h *Hook) reject(cl *mqtt.Client, reason string, err error) error {
	h.o.Log.Error("session: publish refused: cannot store it", "client", cl.ID, "reason", reason, "error", err)
	if h.o.OnPublishRejected != nil {
		h.o.OnPublishRejected(reason)
	}
	if cl.Properties.ProtocolVersion < 5 {
		return packets.ErrRejectPacket // no PUBACK: the client resends after reconnecting
	}
	if reason == "store_full" {
		return packets.ErrQuotaExceeded
	}
	return packets.ErrUnspecifiedError
}

// queueFull counts a message not queued for a full session and logs once per
// burst (at most every 10 s), so a dead tablet does not flood the log.
func (h *Hook) queueFull(client string) {
	if h.o.OnQueueDropped != nil {
		h.o.OnQueueDropped()
	}
	h.dropMu.Lock()
	defer h.dropMu.Unlock()
	h.dropCount++
	if time.Since(h.dropLogged) < 10*time.Second {
		return
	}
	h.o.Log.Warn("session: queue full, messages not queued", "client", client, "limit", h.o.MaxQueued, "dropped_since_last_log", h.dropCount)
	h.dropLogged = time.Now()
	h.dropCount = 0
}

// OnPublished forgets the plan of a message once mochi has fanned it out.
func (h *Hook) OnPublished(_ *mqtt.Client, pk packets.Packet) {
	if seq, ok := tag(pk); ok {
		h.unplan(seq)
	}
}

// OnQosPublish learns which packet id carries which stored message to a
// client. A copy mochi queues that OnPublish did not plan for (a retained
// message on subscribe, a Last Will, a shared subscription) is stored now,
// after the fact.
func (h *Hook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if pk.FixedHeader.Type != packets.Publish || !Persistent(cl) {
		return
	}
	seq, tagged := tag(pk)
	h.mu.Lock()
	s := h.sessionLocked(cl.ID)
	if tagged && s.byPID[pk.PacketID] == seq {
		h.mu.Unlock()
		return // a resend
	}
	if tagged {
		if set, ok := h.planned.Load(seq); ok {
			if _, ok := set.(map[string]struct{})[cl.ID]; ok {
				if _, dup := s.bySeq[seq]; dup {
					// The rebuilt queue has it already (it was committed
					// before the client came back): this copy is a second.
					h.mu.Unlock()
					h.unqueue(cl, pk.PacketID)
					return
				}
				if cl.Closed() && !s.resuming {
					// The session is away and the message is on disk: it
					// waits there, not in mochi's memory (which mochi scans
					// every second), and is loaded when the client returns.
					h.mu.Unlock()
					h.unqueue(cl, pk.PacketID)
					return
				}
				s.mapPID(pk.PacketID, seq)
				h.mu.Unlock()
				return
			}
			// OnPublish left this session out (its queue was full, or the
			// ACL): do not keep the copy mochi queued for it while it is away.
			h.mu.Unlock()
			h.unqueue(cl, pk.PacketID)
			return
		}
	}
	if s.queued >= h.o.MaxQueued {
		h.mu.Unlock()
		h.queueFull(cl.ID)
		h.unqueue(cl, pk.PacketID)
		return
	}
	nseq := h.seq.Add(1)
	s.queued++
	h.refs[nseq]++
	s.mapPID(pk.PacketID, nseq)
	h.mu.Unlock()

	rec, err := sealRecord(h.o.Seal, pk, bucketMsgs, seqKey(nseq))
	if err != nil {
		h.o.Log.Error("session: encode message", "client", cl.ID, "error", err)
		return
	}
	id, qos := cl.ID, pk.FixedHeader.Qos
	h.o.DB.UpdateAsync(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketMsgs).Put(seqKey(nseq), rec); err != nil {
			return err
		}
		return tx.Bucket(bucketQueue).Put(queueKey(id, nseq), []byte{qos})
	}, h.asyncErr("store queued copy"))
}

// unqueue takes a copy mochi queued for an offline session back out of its
// in-memory queue, so what waits in memory is what waits on disk. A connected
// client gets the copy anyway: it is already on its way.
func (h *Hook) unqueue(cl *mqtt.Client, pid uint16) {
	if cl.Closed() && cl.State.Inflight.Delete(pid) {
		atomic.AddInt64(&h.o.Server.Info.Inflight, -1)
	}
}

// OnPacketRead removes a message from a session's queue when the client
// acknowledges it: PUBACK for QoS 1, PUBREC for QoS 2 (from then on the client
// holds it).
func (h *Hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if t := pk.FixedHeader.Type; t == packets.Puback || t == packets.Pubrec {
		h.done(cl.ID, pk.PacketID)
	}
	return pk, nil
}

// OnQosDropped removes a message mochi gave up on (expired). Drops caused by a
// session take-over are ignored: the messages moved to the new connection.
func (h *Hook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if cl.IsTakenOver() {
		return
	}
	h.done(cl.ID, pk.PacketID)
}

func (h *Hook) done(client string, pid uint16) {
	h.mu.Lock()
	s := h.sessions[client]
	if s == nil {
		h.mu.Unlock()
		return
	}
	seq, ok := s.byPID[pid]
	if !ok {
		h.mu.Unlock()
		return
	}
	delete(s.byPID, pid)
	delete(s.bySeq, seq)
	s.queued--
	h.refs[seq]--
	last := h.refs[seq] <= 0
	if last {
		delete(h.refs, seq)
	}
	h.mu.Unlock()
	h.o.DB.UpdateFreeAsync(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketQueue).Delete(queueKey(client, seq)); err != nil {
			return err
		}
		if last {
			return tx.Bucket(bucketMsgs).Delete(seqKey(seq))
		}
		return nil
	}, h.asyncErr("remove acknowledged"))
}

func (h *Hook) asyncErr(what string) func(error) {
	return func(err error) {
		if !errors.Is(err, store.ErrClosed) {
			h.o.Log.Error("session: "+what, "error", err)
		}
	}
}

// putRetained stores a retained message's record; an empty one (the
// message had no payload) clears the topic.
func putRetained(tx *bolt.Tx, topic string, rec []byte) error {
	b := tx.Bucket(bucketRetained)
	if len(rec) == 0 {
		return b.Delete([]byte(topic))
	}
	return b.Put([]byte(topic), rec)
}

func tag(pk packets.Packet) (uint64, bool) {
	s, ok := strings.CutPrefix(pk.Connect.ClientIdentifier, tagPrefix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(s, 10, 64)
	return seq, err == nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func queuePrefix(client string) []byte {
	return append([]byte(client), 0)
}

func queueKey(client string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(queuePrefix(client), seq)
}

func subKey(client, filter string) []byte {
	return append(queuePrefix(client), filter...)
}

func splitQueueKey(k []byte) (string, uint64, bool) {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return "", 0, false
	}
	return string(k[:len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:]), true
}
