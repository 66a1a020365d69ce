package cloudsync

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	bolt "go.etcd.io/bbolt"
)

// PropID is the user property HQ puts on every downlink message: its id,
// by which the store drops a message it has handled before.
const PropID = "id"

// LocalPrefix starts every local topic a downlink message is delivered on.
const LocalPrefix = "hq/"

// BroadcastPrefix starts HQ's topics for every store; they keep their
// name locally (hq/broadcast/…).
const BroadcastPrefix = "hq/broadcast/"

// bucketSeen is the downlink dedup set: id → expiry (Unix nanoseconds, 8
// bytes big endian). It is cloudsync's own bucket.
var bucketSeen = []byte("cloud_down_seen")

// Inbound is one message from HQ, as handed to Options.Deliver.
type Inbound struct {
	// Topic is the local topic: stores/{store}/down/X arrives as hq/X,
	// hq/broadcast/X as itself.
	Topic string
	// CloudTopic is the topic on HQ's broker.
	CloudTopic string
	// ID is HQ's message id (PropID); "" when HQ sent none.
	ID      string
	Payload []byte
	Retain  bool
}

// ErrInvalid marks a message that will never be delivered however often
// it comes (Deliver returns it wrapped); it is acknowledged, counted and
// logged. Any other error is temporary: the delivery is retried.
var ErrInvalid = errors.New("cloudsync: invalid message from HQ")

type downlink struct {
	db      DB
	deliver func(context.Context, Inbound) error
	down    string // stores/{store}/down/
	ttl     time.Duration
	log     *slog.Logger
	now     func() time.Time
	ctx     context.Context
	lastErr func(error)

	received, duplicates, failed, retries atomic.Uint64
}

// localTopic maps a cloud topic to its local one.
func (d *downlink) localTopic(cloud string) (string, bool) {
	if rest, ok := strings.CutPrefix(cloud, d.down); ok && rest != "" {
		return LocalPrefix + rest, true
	}
	if strings.HasPrefix(cloud, BroadcastPrefix) && len(cloud) > len(BroadcastPrefix) {
		return cloud, true
	}
	return "", false
}

// handle runs on paho's delivery goroutine, one message at a time, in the
// order HQ's broker sent them. The message is acknowledged only after it
// was delivered and its id recorded; a crash in between delivers it again
// after the restart, and the services' own ids make that harmless.
func (d *downlink) handle(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	ack := func() {
		if err := pr.Client.Ack(p); err != nil && !errors.Is(err, paho.ErrManualAcknowledgmentDisabled) {
			d.log.Debug("cloudsync: ack", "err", err)
		}
	}
	d.received.Add(1)
	local, ok := d.localTopic(p.Topic)
	if !ok {
		d.failed.Add(1)
		d.log.Warn("cloudsync: message from HQ on a topic the store does not take; dropped", "topic", p.Topic)
		ack()
		return true, nil
	}
	var id string
	if p.Properties != nil {
		id = p.Properties.User.Get(PropID)
	}
	if id != "" {
		seen, err := d.seen(id)
		if err != nil {
			d.lastErr(err)
		} else if seen {
			d.duplicates.Add(1)
			ack()
			return true, nil
		}
	}
	in := Inbound{Topic: local, CloudTopic: p.Topic, ID: id, Payload: p.Payload, Retain: p.Retain}
	if err := d.deliverRetrying(in); err != nil {
		// Shutting down: not acknowledged, so HQ's broker sends it again.
		return false, err
	}
	if id != "" {
		if err := d.remember(id); err != nil {
			if d.ctx.Err() != nil {
				return false, err
			}
			d.lastErr(err)
		}
	}
	ack()
	return true, nil
}

// retryMax bounds the wait between delivery attempts.
const retryMax = 30 * time.Second

// deliverRetrying hands in to Deliver until it is delivered or is invalid
// (ErrInvalid: logged and dropped, a replay would fail the same way). A
// temporary failure (a full database, a busy service) is retried with
// backoff, holding back the messages behind it so their order holds; only
// shutdown ends the wait, without an acknowledgement.
func (d *downlink) deliverRetrying(in Inbound) error {
	wait := 100 * time.Millisecond
	for {
		err := d.deliver(d.ctx, in)
		switch {
		case err == nil:
			return nil
		case d.ctx.Err() != nil:
			return d.ctx.Err()
		case errors.Is(err, ErrInvalid):
			d.failed.Add(1)
			d.log.Warn("cloudsync: invalid message from HQ dropped", "topic", in.CloudTopic, "id", in.ID, "err", err)
			return nil
		}
		d.retries.Add(1)
		d.lastErr(fmt.Errorf("deliver %s from HQ (retrying in %s): %w", in.CloudTopic, wait, err))
		d.log.Warn("cloudsync: message from HQ not delivered yet; retrying", "topic", in.CloudTopic, "id", in.ID, "in", wait, "err", err)
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

func (d *downlink) seen(id string) (bool, error) {
	var seen bool
	err := d.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSeen)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(id)); len(v) == 8 {
			seen = int64(binary.BigEndian.Uint64(v)) > d.now().UnixNano()
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read downlink ids: %w", err)
	}
	return seen, nil
}

func (d *downlink) remember(id string) error {
	v := binary.BigEndian.AppendUint64(nil, uint64(d.now().Add(d.ttl).UnixNano()))
	err := d.db.Update(d.ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSeen)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), v)
	})
	if err != nil {
		return fmt.Errorf("record downlink id: %w", err)
	}
	return nil
}

// sweep deletes expired ids; it returns how many.
func (d *downlink) sweep(ctx context.Context) (int, error) {
	now := uint64(d.now().UnixNano())
	var n int
	err := d.db.Update(ctx, func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketSeen)
		if b == nil {
			return nil
		}
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(v) != 8 || binary.BigEndian.Uint64(v) <= now {
				old = append(old, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep downlink ids: %w", err)
	}
	return n, nil
}
