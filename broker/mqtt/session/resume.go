package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	bolt "go.etcd.io/bbolt"
)

// A client coming back (its queue rebuilt in publish order), and a session
// ending with its connection or expiring.

// OnSessionEstablish runs before mochi answers CONNECT. A clean start drops the
// stored session. Otherwise the session's in-memory queue is rebuilt from disk
// in publish order (mochi's own resend order is unstable), so messages queued
// before a crash and since are resent oldest first. The client record is
// committed before the CONNACK.
func (h *Hook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	existing, had := h.o.Server.Clients.Get(cl.ID)
	resume := had && !pk.Connect.Clean && existing != cl
	if resume {
		h.awaitFanouts(cl.ID, h.seq.Load())
		if err := h.rebuild(existing); err != nil {
			h.o.Log.Error("session: rebuild queue", "client", cl.ID, "error", err)
		}
	}
	var rec []byte
	if Persistent(cl) {
		var err error
		if rec, err = json.Marshal(h.clientRecord(cl)); err != nil {
			h.o.Log.Error("session: encode client", "client", cl.ID, "error", err)
		}
	}
	var dropped []uint64
	if !resume {
		dropped = h.forget(cl.ID)
	}
	err := h.o.DB.Update(context.Background(), func(tx *bolt.Tx) error {
		if !resume {
			if err := deleteSession(tx, cl.ID, dropped); err != nil {
				return err
			}
		}
		if rec != nil {
			return tx.Bucket(bucketClients).Put([]byte(cl.ID), rec)
		}
		return tx.Bucket(bucketClients).Delete([]byte(cl.ID))
	})
	if err != nil {
		h.o.Log.Error("session: store client", "client", cl.ID, "error", err)
	}
}

// OnSessionEstablished ends the resume window opened by rebuild.
func (h *Hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.mu.Lock()
	if s := h.sessions[cl.ID]; s != nil {
		s.resuming = false
	}
	h.mu.Unlock()
}

// rebuild replaces the stored messages among a waiting session's inflight
// PUBLISH packets with the stored queue, oldest first. Every message fanned out
// to the session has been committed first, so the disk holds all of them. A
// message that was already on its way to the client keeps its packet id, so it
// is resent with it [MQTT-4.4.0-1]; the others get fresh ids. Publishes the
// store does not hold (a retained message sent at subscribe) stay as they are.
func (h *Hook) rebuild(cl *mqtt.Client) error {
	// Copies stored for the session in the background (OnQosPublish) must be
	// on disk before it is read: a flush after them waits for them. It
	// writes nothing, so a session comes back on a full disk too.
	if err := h.o.DB.Flush(context.Background()); err != nil {
		return fmt.Errorf("wait for queued writes: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessionLocked(cl.ID)
	s.resuming = true
	sent := s.bySeq // seq → the packet id it was sent with
	sentIDs := make(map[uint16]bool, len(sent))
	for _, id := range sent {
		sentIDs[id] = true
	}
	s.byPID = map[uint16]uint64{}
	s.bySeq = map[uint64]uint16{}
	for _, p := range cl.State.Inflight.GetAll(false) {
		if _, stored := tag(p); !stored || p.FixedHeader.Type != packets.Publish {
			continue
		}
		if cl.State.Inflight.Delete(p.PacketID) {
			atomic.AddInt64(&h.o.Server.Info.Inflight, -1)
		}
	}
	now := time.Now().Unix()
	var expired []uint64
	var n int
	pid := uint16(0) // the last fresh id given
	err := h.o.DB.View(func(tx *bolt.Tx) error {
		msgs := tx.Bucket(bucketMsgs)
		c := tx.Bucket(bucketQueue).Cursor()
		prefix := queuePrefix(cl.ID)
		cache := map[uint64]packets.Packet{}
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			_, seq, ok := splitQueueKey(k)
			if !ok || len(v) != 1 {
				continue
			}
			n++
			pk, ok := cache[seq]
			if !ok {
				raw := msgs.Get(seqKey(seq))
				if raw == nil {
					expired = append(expired, seq)
					continue
				}
				var err error
				if pk, err = openRecord(h.o.Seal, raw, bucketMsgs, seqKey(seq)); err != nil {
					h.o.Log.Error("session: skipping a damaged stored message", "seq", seq, "error", err)
					expired = append(expired, seq)
					continue
				}
				if pk.Expiry > 0 && pk.Expiry < now {
					expired = append(expired, seq)
					continue
				}
				pk.Connect.ClientIdentifier = tagPrefix + strconv.FormatUint(seq, 10)
				cache[seq] = pk
			}
			id, ok := sent[seq]
			if _, used := cl.State.Inflight.Get(id); !ok || id == 0 || used {
				for {
					if pid == 0xffff {
						return errors.New("more queued messages than packet ids")
					}
					pid++
					if sentIDs[pid] {
						continue // kept for the message it was sent with
					}
					if _, used := cl.State.Inflight.Get(pid); !used {
						break
					}
				}
				id = pid
			}
			out := pk
			out.FixedHeader.Qos = v[0]
			out.FixedHeader.Dup = false
			out.PacketID = id
			// The inflight store resends in the order entries are set.
			cl.State.Inflight.Set(out)
			atomic.AddInt64(&h.o.Server.Info.Inflight, 1)
			s.mapPID(id, seq)
		}
		return nil
	})
	s.queued = n
	h.o.Log.Debug("session: rebuilt queue", "client", cl.ID, "entries", n, "inflight", cl.State.Inflight.Len())
	if len(expired) > 0 {
		id := cl.ID
		for _, seq := range expired {
			s.queued--
			h.refs[seq]--
		}
		h.o.DB.UpdateAsync(func(tx *bolt.Tx) error {
			for _, seq := range expired {
				if err := tx.Bucket(bucketQueue).Delete(queueKey(id, seq)); err != nil {
					return err
				}
			}
			return nil
		}, h.asyncErr("remove expired"))
	}
	return err
}

// forget drops a session's in-memory index and returns the stored messages
// that only this session still held.
func (h *Hook) forget(client string) []uint64 {
	var seqs []uint64
	prefix := queuePrefix(client)
	err := h.o.DB.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketQueue).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if _, seq, ok := splitQueueKey(k); ok {
				seqs = append(seqs, seq)
			}
		}
		return nil
	})
	if err != nil {
		h.o.Log.Error("session: list queue", "client", client, "error", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions, client)
	var last []uint64
	for _, seq := range seqs {
		if h.refs[seq]--; h.refs[seq] <= 0 {
			delete(h.refs, seq)
			last = append(last, seq)
		}
	}
	return last
}

// deleteSession removes a session's record, subscriptions and queue, and each
// message no other session holds.
func deleteSession(tx *bolt.Tx, client string, last []uint64) error {
	if err := tx.Bucket(bucketClients).Delete([]byte(client)); err != nil {
		return err
	}
	prefix := queuePrefix(client)
	for _, b := range [][]byte{bucketSubs, bucketQueue} {
		c := tx.Bucket(b).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	for _, seq := range last {
		if err := tx.Bucket(bucketMsgs).Delete(seqKey(seq)); err != nil {
			return err
		}
	}
	return nil
}

// dropSession forgets a session for good (clean disconnect, expiry).
func (h *Hook) dropSession(client string) {
	last := h.forget(client)
	h.o.DB.UpdateFreeAsync(func(tx *bolt.Tx) error {
		return deleteSession(tx, client, last)
	}, h.asyncErr("drop session"))
}

// OnDisconnect drops the stored session of a client whose session ends with
// its connection.
func (h *Hook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if expire && !cl.IsTakenOver() {
		h.dropSession(cl.ID)
	}
}

// OnClientExpired drops a session whose expiry interval has passed.
func (h *Hook) OnClientExpired(cl *mqtt.Client) {
	h.dropSession(cl.ID)
}
