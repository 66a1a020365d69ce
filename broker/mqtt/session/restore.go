package session

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	bolt "go.etcd.io/bbolt"
)

// Subscriptions and retained messages as they change, and what mochi
// restores from them (and from the client records) when the broker starts.

// OnSubscribed commits a persistent session's new subscriptions before mochi
// sends the SUBACK.
func (h *Hook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if !Persistent(cl) {
		return
	}
	type kv struct{ k, v []byte }
	var puts []kv
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= 0x80 {
			continue
		}
		v, err := json.Marshal(storage.Subscription{
			Client: cl.ID, Filter: f.Filter, Identifier: f.Identifier, RetainHandling: f.RetainHandling,
			Qos: min(f.Qos, codes[i]), RetainAsPublished: f.RetainAsPublished, NoLocal: f.NoLocal,
		})
		if err != nil {
			h.o.Log.Error("session: encode subscription", "client", cl.ID, "error", err)
			continue
		}
		puts = append(puts, kv{subKey(cl.ID, f.Filter), v})
	}
	if len(puts) == 0 {
		return
	}
	err := h.o.DB.Update(context.Background(), func(tx *bolt.Tx) error {
		for _, p := range puts {
			if err := tx.Bucket(bucketSubs).Put(p.k, p.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.o.Log.Error("session: store subscription", "client", cl.ID, "error", err)
	}
}

// OnUnsubscribed removes stored subscriptions.
func (h *Hook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || len(pk.Filters) == 0 {
		return
	}
	id := cl.ID
	filters := pk.Filters
	h.o.DB.UpdateAsync(func(tx *bolt.Tx) error {
		for _, f := range filters {
			if err := tx.Bucket(bucketSubs).Delete(subKey(id, f.Filter)); err != nil {
				return err
			}
		}
		return nil
	}, h.asyncErr("remove subscription"))
}

// OnRetainMessage stores retained messages that did not pass through
// OnPublish (a Last Will with the retain flag).
func (h *Hook) OnRetainMessage(_ *mqtt.Client, pk packets.Packet, _ int64) {
	if _, ok := tag(pk); ok {
		return
	}
	var rec []byte
	if len(pk.Payload) > 0 {
		var err error
		if rec, err = sealRecord(h.o.Seal, pk, bucketRetained, []byte(pk.TopicName)); err != nil {
			h.o.Log.Error("session: encode retained", "topic", pk.TopicName, "error", err)
			return
		}
	}
	topic := pk.TopicName
	h.o.DB.UpdateAsync(func(tx *bolt.Tx) error {
		return putRetained(tx, topic, rec)
	}, h.asyncErr("store retained"))
}

// OnRetainedExpired removes an expired retained message.
func (h *Hook) OnRetainedExpired(topic string) {
	h.o.DB.UpdateAsync(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRetained).Delete([]byte(topic))
	}, h.asyncErr("remove retained"))
}

// StoredClients returns the persistent sessions for mochi to restore.
func (h *Hook) StoredClients() ([]storage.Client, error) {
	var out []storage.Client
	err := h.o.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketClients).ForEach(func(_, v []byte) error {
			var c storage.Client
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("decode client: %w", err)
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return out, nil
}

// StoredSubscriptions returns the subscriptions of persistent sessions.
func (h *Hook) StoredSubscriptions() ([]storage.Subscription, error) {
	var out []storage.Subscription
	err := h.o.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSubs).ForEach(func(_, v []byte) error {
			var s storage.Subscription
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("decode subscription: %w", err)
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return out, nil
}

// StoredRetainedMessages returns the retained messages.
func (h *Hook) StoredRetainedMessages() ([]storage.Message, error) {
	var out []storage.Message
	now := time.Now().Unix()
	err := h.o.DB.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRetained).ForEach(func(k, v []byte) error {
			pk, err := openRecord(h.o.Seal, v, bucketRetained, k)
			if err != nil {
				h.o.Log.Error("session: skipping a damaged retained message", "topic", string(k), "error", err)
				return nil
			}
			if pk.Expiry > 0 && pk.Expiry < now {
				return nil
			}
			p := pk.Properties
			out = append(out, storage.Message{
				TopicName: pk.TopicName, Payload: pk.Payload, Origin: pk.Origin, Created: pk.Created,
				FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: pk.FixedHeader.Qos, Retain: true},
				Properties: storage.MessageProperties{
					CorrelationData: p.CorrelationData, User: p.User, ContentType: p.ContentType,
					ResponseTopic: p.ResponseTopic, MessageExpiryInterval: p.MessageExpiryInterval,
					PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag,
				},
			})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	return out, nil
}

func (h *Hook) clientRecord(cl *mqtt.Client) storage.Client {
	p := cl.Properties.Props
	exp := p.SessionExpiryInterval
	if h.o.MaxSessionExpiry > 0 && exp > h.o.MaxSessionExpiry {
		exp = h.o.MaxSessionExpiry
	}
	return storage.Client{
		ID:              cl.ID,
		Remote:          cl.Net.Remote,
		Listener:        cl.Net.Listener,
		Username:        cl.Properties.Username,
		Clean:           cl.Properties.Clean,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval:     exp,
			SessionExpiryIntervalFlag: p.SessionExpiryIntervalFlag,
			ReceiveMaximum:            p.ReceiveMaximum,
			TopicAliasMaximum:         p.TopicAliasMaximum,
			MaximumPacketSize:         p.MaximumPacketSize,
			RequestProblemInfo:        p.RequestProblemInfo,
			RequestProblemInfoFlag:    p.RequestProblemInfoFlag,
			RequestResponseInfo:       p.RequestResponseInfo,
			User:                      p.User,
		},
	}
}
