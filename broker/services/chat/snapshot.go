package chat

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// snapshotBatch is how many messages Snapshot reads in one read
// transaction before it hands them on: memory stays bounded by one batch
// (each at most the body limit) however many conversations the store holds.
var snapshotBatch = 256

// Snapshot hands put every stored message of every conversation as HQ
// receives them live (HQTopic, an HQChatEntry of type message with the
// same origin, conversation/seq), then a recall entry for a recalled one,
// in conversation and seq order. It reads in read transactions of
// 256 messages and calls put outside them, so put may write;
// call it outside any transaction of the store's database. A store with a
// million messages is a million entries: cloudsync files them as it
// files live ones, in the outbox's budget.
func (s *Service) Snapshot(ctx context.Context, put func(topic string, payload []byte) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var batch []HQEntry
		err := s.view(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketMsgs)
			if b == nil {
				return nil
			}
			cur := b.Cursor()
			k, v := cur.First()
			if after != nil {
				k, v = cur.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = cur.Next()
				}
			}
			convs := map[string]*conv{}
			for ; k != nil && len(batch) < snapshotBatch; k, v = cur.Next() {
				after = bytes.Clone(k)
				i := bytes.IndexByte(k, 0)
				if i < 0 || len(k) != i+9 {
					return fmt.Errorf("%w: message key %q", errCorrupt, k)
				}
				id, seq := string(k[:i]), binary.BigEndian.Uint64(k[i+1:])
				c, ok := convs[id]
				if !ok {
					var err error
					if c, err = s.getConv(tx, id); err != nil {
						return err
					}
					convs[id] = c
				}
				if c == nil {
					continue
				}
				m, err := decodeMsg(v)
				if err != nil {
					return err
				}
				e, err := s.snapshotEntry(c, seq, m)
				if err != nil {
					return err
				}
				batch = append(batch, e)
				if m.Recalled != nil {
					batch = append(batch, HQEntry{Type: "recall", Origin: fmt.Sprintf("%s/%d/recall", id, seq),
						Conversation: id, Customer: c.customer(), Seq: seq, TS: *m.Recalled})
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for _, e := range batch {
			e.V = 1
			p, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("chat: encode snapshot entry: %w", err)
			}
			if err := put(HQTopic(e.Conversation), p); err != nil {
				return err
			}
		}
	}
}

// snapshotEntry is message seq of c as toHQ filed it.
func (s *Service) snapshotEntry(c *conv, seq uint64, m *msg) (HQEntry, error) {
	e := HQEntry{Type: "message", Origin: fmt.Sprintf("%s/%d", c.ID, seq), Conversation: c.ID, Customer: c.customer(), Seq: seq,
		ID: m.ID, From: m.From, Kind: m.Kind, TS: m.TS, Auto: m.Auto}
	if len(m.Body) == 0 {
		return e, nil // recalled, or erased for a customer who asked to be forgotten
	}
	plain, err := s.o.Seal.Open(m.Body, sealAD(c.ID, seq))
	if err != nil {
		return e, fmt.Errorf("chat: open message %s/%d: %w", c.ID, seq, err)
	}
	var b body
	if err := json.Unmarshal(plain, &b); err != nil {
		return e, fmt.Errorf("chat: snapshot body %s/%d: %w", c.ID, seq, err)
	}
	e.Text, e.Card, e.Media = b.Text, b.Card, b.Media
	return e, nil
}
