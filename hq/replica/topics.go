package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/proto"
)

// decode reads a JSON payload; a payload that does not decode is bad.
func decode(m hq.Message, v any) error {
	if err := json.Unmarshal(m.Payload, v); err != nil {
		return bad(m.Origin, "%s: payload: %v", m.LocalTopic, err)
	}
	return nil
}

// chatBody is what messages.body holds, sealed.
type chatBody struct {
	Text  string           `json:"text,omitempty"`
	Card  json.RawMessage  `json:"card,omitempty"`
	Media *proto.MediaInfo `json:"media,omitempty"`
}

// applyChat applies a conversation entry: a message (its body sealed), a
// recall (the body is dropped) or a read receipt.
func (r *Replica) applyChat(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var e proto.HQChatEntry
	if err := decode(m, &e); err != nil {
		return err
	}
	conv := strings.TrimSuffix(strings.TrimPrefix(m.LocalTopic, "chat/"), "/hq")
	if e.Conversation != "" && e.Conversation != conv {
		return bad(m.Origin, "chat entry of conversation %q on the topic of %q", e.Conversation, conv)
	}
	ts := e.TS
	if ts.IsZero() {
		ts = m.Stored
	}
	switch e.Type {
	case "message":
		if e.Seq == 0 {
			return bad(m.Origin, "chat message without seq")
		}
		body, err := json.Marshal(chatBody{Text: e.Text, Card: e.Card, Media: e.Media})
		if err != nil {
			return bad(m.Origin, "chat body: %v", err)
		}
		sealed, err := r.sealBody(body)
		if err != nil {
			return err
		}
		// The conversation first: its customer decides whether the
		// message is the customer's or a reply.
		_, err = tx.Exec(ctx, `INSERT INTO conversations (store, conversation, customer, opened_at, last_at, last_seq)
			VALUES ($1, $2, $3, $4, $4, $5)
			ON CONFLICT (store, conversation) DO UPDATE SET
			  customer = CASE WHEN excluded.customer <> '' THEN excluded.customer ELSE conversations.customer END,
			  opened_at = LEAST(conversations.opened_at, excluded.opened_at),
			  last_at = GREATEST(conversations.last_at, excluded.last_at),
			  last_seq = GREATEST(conversations.last_seq, excluded.last_seq)`,
			m.Store, conv, e.Customer, nullTime(ts), int64(e.Seq))
		if err != nil {
			return fmt.Errorf("conversation: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE conversations SET
			  first_customer_at = CASE WHEN first_customer_at IS NULL AND customer <> '' AND $3 = customer AND NOT $5
			    THEN $4::timestamptz ELSE first_customer_at END,
			  first_reply_at = CASE WHEN first_reply_at IS NULL AND first_customer_at IS NOT NULL
			    AND $3 <> customer AND NOT $5 AND $4::timestamptz >= first_customer_at
			    THEN $4::timestamptz ELSE first_reply_at END
			WHERE store = $1 AND conversation = $2`,
			m.Store, conv, e.From, nullTime(ts), e.Auto)
		if err != nil {
			return fmt.Errorf("conversation: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO messages (store, conversation, seq, id, sender, kind, ts, auto, body, stored)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
			m.Store, conv, int64(e.Seq), e.ID, e.From, e.Kind, nullTime(ts), e.Auto, sealed, nullTime(m.Stored))
		if err != nil {
			return fmt.Errorf("message: %w", err)
		}
		return nil
	case "recall":
		if e.Seq == 0 {
			return bad(m.Origin, "recall without seq")
		}
		// A recalled message keeps its row (the conversation's numbering)
		// but not its body.
		_, err := tx.Exec(ctx, `UPDATE messages SET recalled = true, body = NULL
			WHERE store = $1 AND conversation = $2 AND seq = $3`, m.Store, conv, int64(e.Seq))
		if err != nil {
			return fmt.Errorf("recall: %w", err)
		}
		return nil
	case "read":
		if e.Member == "" {
			return bad(m.Origin, "read receipt without member")
		}
		_, err := tx.Exec(ctx, `INSERT INTO conversation_reads (store, conversation, member, up_to, at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (store, conversation, member) DO UPDATE SET
			  up_to = GREATEST(conversation_reads.up_to, excluded.up_to), at = excluded.at
			WHERE excluded.up_to > conversation_reads.up_to`,
			m.Store, conv, e.Member, int64(e.UpTo), nullTime(ts))
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		return nil
	}
	return bad(m.Origin, "chat entry type %q", e.Type)
}

// upsertBooking writes a booking's state unless the stored one has a
// higher rev; fields the source leaves empty keep their stored value.
func upsertBooking(ctx context.Context, tx pgx.Tx, store string, b proto.Change) error {
	res := b.Resources
	if res == nil {
		res = []string{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO bookings (store, booking, customer, service, start_at, end_at, status, stage,
			resources, source, rev, hq_request, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (store, booking) DO UPDATE SET
		  customer = COALESCE(NULLIF(excluded.customer, ''), bookings.customer),
		  service = COALESCE(NULLIF(excluded.service, ''), bookings.service),
		  start_at = COALESCE(excluded.start_at, bookings.start_at),
		  end_at = COALESCE(excluded.end_at, bookings.end_at),
		  status = COALESCE(NULLIF(excluded.status, ''), bookings.status),
		  stage = COALESCE(NULLIF(excluded.stage, ''), bookings.stage),
		  resources = CASE WHEN cardinality(excluded.resources) > 0 THEN excluded.resources ELSE bookings.resources END,
		  source = COALESCE(NULLIF(excluded.source, ''), bookings.source),
		  rev = GREATEST(excluded.rev, bookings.rev),
		  hq_request = COALESCE(NULLIF(excluded.hq_request, ''), bookings.hq_request),
		  updated_at = COALESCE(excluded.updated_at, bookings.updated_at)
		WHERE excluded.rev >= bookings.rev`,
		store, b.Booking, b.Customer, b.Service, nullTime(b.Start), nullTime(b.End), b.Status, b.Stage,
		res, b.Source, b.Rev, b.HQRequest, nullTime(b.TS))
	if err != nil {
		return fmt.Errorf("booking: %w", err)
	}
	return nil
}

// applyChange applies a booking change: the booking's state (by rev) and,
// except for a snapshot, the change history.
func applyChange(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var c proto.Change
	if err := decode(m, &c); err != nil {
		return err
	}
	if c.Type == "" {
		return bad(m.Origin, "booking change without type")
	}
	if c.Booking != "" {
		if err := upsertBooking(ctx, tx, m.Store, c); err != nil {
			return err
		}
	}
	if c.Type == proto.ChangeSnapshot {
		return nil
	}
	if c.Seq == 0 {
		return bad(m.Origin, "booking change without seq")
	}
	_, err := tx.Exec(ctx, `INSERT INTO booking_changes (store, epoch, seq, booking, type, ts, change)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		m.Store, m.Epoch, int64(c.Seq), c.Booking, c.Type, nullTime(c.TS), json.RawMessage(m.Payload))
	if err != nil {
		return fmt.Errorf("booking change: %w", err)
	}
	return nil
}

// applyOutcome records the store's answer to a booking request from HQ,
// and the booking it made.
func applyOutcome(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var o proto.HQBookingOutcome
	if err := decode(m, &o); err != nil {
		return err
	}
	if o.Request == "" {
		return bad(m.Origin, "booking outcome without request")
	}
	booking := ""
	if o.Booking != nil {
		b := o.Booking
		booking = b.ID
		err := upsertBooking(ctx, tx, m.Store, proto.Change{Booking: b.ID, Customer: b.Customer, Service: b.Service,
			Start: b.Start, End: b.End, Status: b.Status, Stage: b.Stage, Resources: b.Resources, Source: b.Source,
			Rev: b.Rev, HQRequest: b.HQRequest, TS: b.Updated})
		if err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO hq_outcomes (store, request, customer, ok, booking, code, ts, outcome)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		m.Store, o.Request, o.Customer, o.OK, booking, o.Code, nullTime(o.TS), json.RawMessage(m.Payload))
	if err != nil {
		return fmt.Errorf("booking outcome: %w", err)
	}
	return nil
}

func applyAudit(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var a proto.AuditEntry
	if err := decode(m, &a); err != nil {
		return err
	}
	if a.Seq == 0 {
		return bad(m.Origin, "audit entry without seq")
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_entries (store, seq, entry) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		m.Store, int64(a.Seq), json.RawMessage(m.Payload))
	if err != nil {
		return fmt.Errorf("audit entry: %w", err)
	}
	return nil
}

// applyShopInfo keeps the newest shop info (by its TS) and the store's time
// zone.
func applyShopInfo(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var s proto.ShopInfo
	if err := decode(m, &s); err != nil {
		return err
	}
	if s.TS.IsZero() {
		return bad(m.Origin, "shop info without ts")
	}
	tag, err := tx.Exec(ctx, `INSERT INTO shop_info (store, version, info, ts) VALUES ($1, $2, $3, $4)
		ON CONFLICT (store) DO UPDATE SET version = excluded.version, info = excluded.info, ts = excluded.ts
		WHERE excluded.ts > shop_info.ts`, m.Store, s.Version, json.RawMessage(m.Payload), s.TS)
	if err != nil {
		return fmt.Errorf("shop info: %w", err)
	}
	if tag.RowsAffected() == 1 {
		tz := s.TimeZone
		if tz == "" {
			tz = s.Catalog.TimeZone
		}
		_, err = tx.Exec(ctx, `INSERT INTO stores (store, time_zone) VALUES ($1, $2)
			ON CONFLICT (store) DO UPDATE SET time_zone = excluded.time_zone`, m.Store, tz)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// applyHello records an epoch; the store's current epoch is the one
// started last.
func applyHello(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var h proto.StoreHello
	if err := decode(m, &h); err != nil {
		return err
	}
	if h.Epoch == "" {
		return bad(m.Origin, "hello without epoch")
	}
	_, err := tx.Exec(ctx, `INSERT INTO store_epochs (store, epoch, reason, started) VALUES ($1, $2, $3, $4)
		ON CONFLICT (store, epoch) DO UPDATE SET reason = excluded.reason, started = COALESCE(excluded.started, store_epochs.started)`,
		m.Store, h.Epoch, h.Reason, nullTime(h.Started))
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO stores (store, epoch, version) VALUES ($1, $2, $3)
		ON CONFLICT (store) DO UPDATE SET epoch = excluded.epoch,
		  version = COALESCE(NULLIF(excluded.version, ''), stores.version)
		WHERE stores.epoch = '' OR stores.epoch = excluded.epoch OR NOT EXISTS (
		  SELECT 1 FROM store_epochs e WHERE e.store = stores.store AND e.epoch = stores.epoch
		  AND e.started IS NOT NULL AND e.started > $4)`,
		m.Store, h.Epoch, h.Version, nullTime(h.Started))
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	return nil
}

// applyMedia stores a blob a conversation refers to; its data must match
// its hash.
func applyMedia(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var b proto.MediaBlob
	if err := decode(m, &b); err != nil {
		return err
	}
	hash := strings.TrimPrefix(m.LocalTopic, proto.TopicMediaPrefix)
	if b.Hash != hash {
		return bad(m.Origin, "media %q on the topic of %q", b.Hash, hash)
	}
	sum := sha256.Sum256(b.Data)
	if want, err := hex.DecodeString(hash); err != nil || !bytes.Equal(want, sum[:]) {
		return bad(m.Origin, "media %s: data does not match its SHA-256", hash)
	}
	if b.Size != int64(len(b.Data)) {
		return bad(m.Origin, "media %s: size %d, data %d bytes", hash, b.Size, len(b.Data))
	}
	_, err := tx.Exec(ctx, `INSERT INTO media (store, hash, mime, size, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		m.Store, hash, b.Mime, b.Size, b.Data)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	return nil
}

func deviceOf(local, suffix string) string {
	return strings.TrimSuffix(strings.TrimPrefix(local, "devices/"), suffix)
}

// applyDeviceStatus keeps a device's newest status (by its time: the
// device's ts, or when the store filed it).
func applyDeviceStatus(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var s proto.DeviceStatus
	if err := decode(m, &s); err != nil {
		return err
	}
	dev := deviceOf(m.LocalTopic, "/status")
	if dev == "" || strings.Contains(dev, "/") {
		return bad(m.Origin, "device status topic %q", m.LocalTopic)
	}
	at := m.Stored
	if t, err := time.Parse(time.RFC3339Nano, s.TS); err == nil {
		at = t
	}
	if err := ensureStore(ctx, tx, m.Store, ""); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO devices (store, device, online, last_seen, status) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (store, device) DO UPDATE SET online = excluded.online, last_seen = excluded.last_seen, status = excluded.status
		WHERE devices.last_seen IS NULL OR excluded.last_seen IS NULL OR excluded.last_seen >= devices.last_seen`,
		m.Store, dev, s.State == proto.StateOnline, nullTime(at), json.RawMessage(m.Payload))
	if err != nil {
		return fmt.Errorf("device: %w", err)
	}
	return nil
}

// aggField is one numeric field's hourly aggregate.
type aggField struct {
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Last float64 `json:"last"`
	At   int64   `json:"at"` // Unix milliseconds of Last
}

// applyTelemetry folds a reading into its device's hour: the count, and
// min, max and last of each numeric field. Raw readings are not kept.
func applyTelemetry(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	var raw map[string]any
	if err := decode(m, &raw); err != nil {
		return err
	}
	dev := deviceOf(m.LocalTopic, "/telemetry")
	if dev == "" || strings.Contains(dev, "/") {
		return bad(m.Origin, "device telemetry topic %q", m.LocalTopic)
	}
	at := m.Stored
	if s, ok := raw["ts"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			at = t
		}
	}
	if at.IsZero() {
		return bad(m.Origin, "telemetry without time")
	}
	agg := map[string]aggField{}
	for k, v := range raw {
		f, ok := v.(float64)
		if !ok || k == "v" || math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		agg[k] = aggField{Min: f, Max: f, Last: f, At: at.UnixMilli()}
	}
	aggJSON, err := json.Marshal(agg)
	if err != nil {
		return bad(m.Origin, "telemetry: %v", err)
	}
	if err := ensureStore(ctx, tx, m.Store, ""); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO telemetry_hourly (store, device, hour, n, agg) VALUES ($1, $2, date_trunc('hour', $3::timestamptz, 'UTC'), 1, $4)
		ON CONFLICT (store, device, hour) DO UPDATE SET n = telemetry_hourly.n + 1,
		  agg = hq_telemetry_merge(telemetry_hourly.agg, excluded.agg)`,
		m.Store, dev, at, json.RawMessage(aggJSON))
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	return nil
}
