package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/proto"
)

// stmt is one statement of a plan.
type stmt struct {
	sql  string
	args []any
}

// plan is the statements that apply a message, in order: run one by one
// (exec) or queued with other messages' in one round trip.
type plan struct{ stmts []stmt }

func (p *plan) add(sql string, args ...any) { p.stmts = append(p.stmts, stmt{sql, args}) }

// exec runs the plan's statements in tx.
func (p *plan) exec(ctx context.Context, tx pgx.Tx) error {
	for _, st := range p.stmts {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			return err
		}
	}
	return nil
}

// planTopic makes the plan of a message of a topic the replica applies
// itself; known is false for the others (handlers, resync answers,
// topics nobody handles).
func (r *Replica) planTopic(m hq.Message) (p *plan, known bool, err error) {
	p = &plan{}
	local := m.LocalTopic
	if _, ok := r.handlers[local]; ok {
		return nil, false, nil
	}
	switch {
	case strings.HasPrefix(local, "chat/") && strings.HasSuffix(local, "/hq"):
		err = r.applyChat(p, m)
	case local == proto.TopicChatClosing:
		err = applyClosing(p, m)
	case local == proto.TopicChatRating:
		err = applyRating(p, m)
	case local == "booking/changes":
		err = applyChange(p, m)
	case local == "booking/hq/outcome":
		err = applyOutcome(p, m)
	case local == "audit/entries":
		err = applyAudit(p, m)
	case local == proto.TopicShopInfo:
		err = applyShopInfo(p, m)
	case local == proto.TopicHello:
		err = applyHello(p, m)
	case strings.HasPrefix(local, proto.TopicMediaPrefix):
		err = applyMedia(p, m)
	case strings.HasPrefix(local, "devices/") && strings.HasSuffix(local, "/status"):
		err = applyDeviceStatus(p, m)
	case strings.HasPrefix(local, "devices/") && strings.HasSuffix(local, "/telemetry"):
		err = applyTelemetry(p, m)
	default:
		return nil, false, nil
	}
	return p, true, err
}

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
func (r *Replica) applyChat(p *plan, m hq.Message) error {
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
		// The conversation and the message in one statement. The
		// conversation's customer decides whether the message is the
		// customer's or a reply: the first customer message starts the
		// clock of the first response, the first later message neither
		// the customer's nor automatic stops it.
		p.add(`WITH c AS (
			INSERT INTO conversations AS cv (store, conversation, customer, opened_at, last_at, last_seq, first_customer_at)
			VALUES ($1, $2, $3, $4, $4, $5, CASE WHEN $3 <> '' AND $6 = $3 AND NOT $7 THEN $4::timestamptz END)
			ON CONFLICT (store, conversation) DO UPDATE SET
			  customer = COALESCE(NULLIF(excluded.customer, ''), cv.customer),
			  opened_at = LEAST(cv.opened_at, excluded.opened_at),
			  last_at = GREATEST(cv.last_at, excluded.last_at),
			  last_seq = GREATEST(cv.last_seq, excluded.last_seq),
			  first_customer_at = CASE WHEN cv.first_customer_at IS NULL AND COALESCE(NULLIF(excluded.customer, ''), cv.customer) <> ''
			    AND $6 = COALESCE(NULLIF(excluded.customer, ''), cv.customer) AND NOT $7
			    THEN $4::timestamptz ELSE cv.first_customer_at END,
			  first_reply_at = CASE WHEN cv.first_reply_at IS NULL AND cv.first_customer_at IS NOT NULL
			    AND $6 <> COALESCE(NULLIF(excluded.customer, ''), cv.customer) AND NOT $7 AND $4::timestamptz >= cv.first_customer_at
			    THEN $4::timestamptz ELSE cv.first_reply_at END)
			INSERT INTO messages (store, conversation, seq, id, sender, kind, ts, auto, body, stored, clock_unsynced)
			VALUES ($1, $2, $5, $8, $6, $9, $4, $7, $10, $11, $12) ON CONFLICT DO NOTHING`,
			m.Store, conv, e.Customer, nullTime(ts), int64(e.Seq), e.From, e.Auto, e.ID, e.Kind, sealed, nullTime(m.Stored), m.ClockUnsynced)
		return nil
	case "recall":
		if e.Seq == 0 {
			return bad(m.Origin, "recall without seq")
		}
		// A recalled message keeps its row (the conversation's numbering)
		// but not its body.
		p.add(`UPDATE messages SET recalled = true, body = NULL
			WHERE store = $1 AND conversation = $2 AND seq = $3`, m.Store, conv, int64(e.Seq))
		return nil
	case "read":
		if e.Member == "" {
			return bad(m.Origin, "read receipt without member")
		}
		p.add(`INSERT INTO conversation_reads (store, conversation, member, up_to, at)
			VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (store, conversation, member) DO UPDATE SET
			  up_to = GREATEST(conversation_reads.up_to, excluded.up_to), at = excluded.at
			WHERE excluded.up_to > conversation_reads.up_to`,
			m.Store, conv, e.Member, int64(e.UpTo), nullTime(ts))
		return nil
	}
	return bad(m.Origin, "chat entry type %q", e.Type)
}

// applyClosing keeps a closing of a conversation (the first copy wins: a
// closing never changes).
func applyClosing(p *plan, m hq.Message) error {
	var c proto.ChatClosing
	if err := decode(m, &c); err != nil {
		return err
	}
	if c.Conversation == "" || c.Closing == 0 || c.Closed.IsZero() || c.Staff == "" {
		return bad(m.Origin, "closing without conversation, closing number, closed time or staff")
	}
	p.add(`INSERT INTO chat_closings (store, conversation, closing, customer, staff, closed_by, opened_at, first_response_at, closed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		m.Store, c.Conversation, int64(c.Closing), c.Customer, c.Staff, c.By, c.Opened, c.FirstResponse, c.Closed)
	return nil
}

// applyRating keeps a closing's rating (once per closing).
func applyRating(p *plan, m hq.Message) error {
	var r proto.ChatRating
	if err := decode(m, &r); err != nil {
		return err
	}
	if r.Conversation == "" || r.Closing == 0 || r.Stars < 1 || r.Stars > 5 || r.TS.IsZero() {
		return bad(m.Origin, "rating without conversation, closing number, 1-5 stars or time")
	}
	p.add(`INSERT INTO chat_ratings (store, conversation, closing, staff, stars, rated_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		m.Store, r.Conversation, int64(r.Closing), r.Staff, r.Stars, r.TS)
	return nil
}

// upsertBooking writes a booking's state unless the stored one has a
// higher rev; fields the source leaves empty keep their stored value.
func upsertBooking(p *plan, store string, b proto.Change) {
	res := b.Resources
	if res == nil {
		res = []string{}
	}
	p.add(`INSERT INTO bookings (store, booking, customer, service, start_at, end_at, status, stage,
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
}

// applyChange applies a booking change: the booking's state (by rev) and,
// except for a snapshot, the change history.
func applyChange(p *plan, m hq.Message) error {
	var c proto.Change
	if err := decode(m, &c); err != nil {
		return err
	}
	if c.Type == "" {
		return bad(m.Origin, "booking change without type")
	}
	if c.Booking != "" {
		upsertBooking(p, m.Store, c)
	}
	if c.Type == proto.ChangeSnapshot {
		return nil
	}
	if c.Seq == 0 {
		return bad(m.Origin, "booking change without seq")
	}
	p.add(`INSERT INTO booking_changes (store, epoch, seq, booking, type, ts, change, clock_unsynced)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		m.Store, m.Epoch, int64(c.Seq), c.Booking, c.Type, nullTime(c.TS), json.RawMessage(m.Payload), m.ClockUnsynced)
	return nil
}

// applyOutcome records the store's answer to a booking request from HQ,
// and the booking it made.
func applyOutcome(p *plan, m hq.Message) error {
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
		upsertBooking(p, m.Store, proto.Change{Booking: b.ID, Customer: b.Customer, Service: b.Service,
			Start: b.Start, End: b.End, Status: b.Status, Stage: b.Stage, Resources: b.Resources, Source: b.Source,
			Rev: b.Rev, HQRequest: b.HQRequest, TS: b.Updated})
	}
	// HQ keeps no contact, notes or profile of a customer, whatever a
	// store sends.
	if o.Booking != nil {
		o.Booking.Contact, o.Booking.Notes, o.Booking.Profile = nil, "", ""
	}
	kept, err := json.Marshal(o)
	if err != nil {
		return bad(m.Origin, "booking outcome: %v", err)
	}
	p.add(`INSERT INTO hq_outcomes (store, request, customer, ok, booking, code, ts, outcome, clock_unsynced)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		m.Store, o.Request, o.Customer, o.OK, booking, o.Code, nullTime(o.TS), json.RawMessage(kept), m.ClockUnsynced)
	return nil
}

func applyAudit(p *plan, m hq.Message) error {
	var a proto.AuditEntry
	if err := decode(m, &a); err != nil {
		return err
	}
	if a.Seq == 0 {
		return bad(m.Origin, "audit entry without seq")
	}
	// The thing before and after (a booking, a customer card) keeps its
	// shape but not the customer's contact, notes or profile.
	a.Before, a.After = withoutPersonal(a.Before), withoutPersonal(a.After)
	kept, err := json.Marshal(a)
	if err != nil {
		return bad(m.Origin, "audit entry: %v", err)
	}
	p.add(`INSERT INTO audit_entries (store, seq, entry, clock_unsynced) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		m.Store, int64(a.Seq), json.RawMessage(kept), m.ClockUnsynced)
	return nil
}

// personalKeys are the fields HQ does not keep of what the stores send.
var personalKeys = []string{"contact", "notes", "profile"}

// withoutPersonal drops personalKeys from a JSON object (other JSON stays
// as it is).
func withoutPersonal(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return raw
	}
	dropped := false
	for _, k := range personalKeys {
		if _, ok := obj[k]; ok {
			delete(obj, k)
			dropped = true
		}
	}
	if !dropped {
		return raw
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return b
}

// applyShopInfo keeps the newest shop info (by its TS) and the store's time
// zone.
func applyShopInfo(p *plan, m hq.Message) error {
	var s proto.ShopInfo
	if err := decode(m, &s); err != nil {
		return err
	}
	if s.TS.IsZero() {
		return bad(m.Origin, "shop info without ts")
	}
	tz := s.TimeZone
	if tz == "" {
		tz = s.Catalog.TimeZone
	}
	// The store's time zone goes with the shop info that wins.
	p.add(`WITH si AS (INSERT INTO shop_info (store, version, info, ts) VALUES ($1, $2, $3, $4)
		  ON CONFLICT (store) DO UPDATE SET version = excluded.version, info = excluded.info, ts = excluded.ts
		  WHERE excluded.ts > shop_info.ts RETURNING store)
		INSERT INTO stores (store, time_zone, name) SELECT store, $5, $6 FROM si
		ON CONFLICT (store) DO UPDATE SET time_zone = excluded.time_zone,
		  name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE stores.name END`,
		m.Store, s.Version, json.RawMessage(m.Payload), s.TS, tz, s.Name)
	return nil
}

// applyHello records an epoch; the store's current epoch is the one
// started last.
func applyHello(p *plan, m hq.Message) error {
	var h proto.StoreHello
	if err := decode(m, &h); err != nil {
		return err
	}
	if h.Epoch == "" {
		return bad(m.Origin, "hello without epoch")
	}
	p.add(`INSERT INTO store_epochs (store, epoch, reason, started) VALUES ($1, $2, $3, $4)
		ON CONFLICT (store, epoch) DO UPDATE SET reason = excluded.reason, started = COALESCE(excluded.started, store_epochs.started)`,
		m.Store, h.Epoch, h.Reason, nullTime(h.Started))
	p.add(`INSERT INTO stores (store, epoch, version) VALUES ($1, $2, $3)
		ON CONFLICT (store) DO UPDATE SET epoch = excluded.epoch,
		  version = COALESCE(NULLIF(excluded.version, ''), stores.version)
		WHERE stores.epoch = '' OR stores.epoch = excluded.epoch OR NOT EXISTS (
		  SELECT 1 FROM store_epochs e WHERE e.store = stores.store AND e.epoch = stores.epoch
		  AND e.started IS NOT NULL AND e.started > $4)`,
		m.Store, h.Epoch, h.Version, nullTime(h.Started))
	return nil
}

// applyMedia stores a blob a conversation refers to; its data must match
// its hash.
func applyMedia(p *plan, m hq.Message) error {
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
	p.add(`INSERT INTO media (store, hash, mime, size, data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		m.Store, hash, b.Mime, b.Size, b.Data)
	return nil
}

func deviceOf(local, suffix string) string {
	return strings.TrimSuffix(strings.TrimPrefix(local, "devices/"), suffix)
}

// applyDeviceStatus keeps a device's newest status (by its time: the
// device's ts, or when the store filed it).
func applyDeviceStatus(p *plan, m hq.Message) error {
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
	p.add(`WITH s AS (INSERT INTO stores (store) VALUES ($1) ON CONFLICT DO NOTHING)
		INSERT INTO devices (store, device, online, last_seen, status) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (store, device) DO UPDATE SET online = excluded.online, last_seen = excluded.last_seen, status = excluded.status
		WHERE devices.last_seen IS NULL OR excluded.last_seen IS NULL OR excluded.last_seen >= devices.last_seen`,
		m.Store, dev, s.State == proto.StateOnline, nullTime(at), json.RawMessage(m.Payload))
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
func applyTelemetry(p *plan, m hq.Message) error {
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
	p.add(`WITH s AS (INSERT INTO stores (store) VALUES ($1) ON CONFLICT DO NOTHING)
		INSERT INTO telemetry_hourly (store, device, hour, n, agg) VALUES ($1, $2, date_trunc('hour', $3::timestamptz, 'UTC'), 1, $4)
		ON CONFLICT (store, device, hour) DO UPDATE SET n = telemetry_hourly.n + 1,
		  agg = hq_telemetry_merge(telemetry_hourly.agg, excluded.agg)`,
		m.Store, dev, at, json.RawMessage(aggJSON))
	return nil
}
