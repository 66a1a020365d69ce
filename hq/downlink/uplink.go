package downlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Topics are the local uplink topics ApplyUplink handles; the replica
// routes them here (Options.Handlers).
var Topics = []string{proto.TopicConfigAck, proto.TopicNoticeAck}

// ApplyUplink records a store's answer, inside the transaction the replica
// applies the message in: a config/ack moves its push from sent to
// applied or refused (the first answer counts), a notice/ack records the
// delivery (once per store). An answer that cannot be read, or that names
// a push or notice HQ never sent to that store, changes nothing of those
// and is recorded in hq_audit (action uplink.rejected, actor
// store:{store}) instead, so the store's stream moves on. An error is a
// database failure: the replica rolls back and the message is taken again.
func (s *Service) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	switch m.LocalTopic {
	case proto.TopicConfigAck:
		return s.applyConfigAck(ctx, tx, m, now)
	case proto.TopicNoticeAck:
		return s.applyNoticeAck(ctx, tx, m, now)
	default:
		return fmt.Errorf("downlink: topic %q is not one of %v", m.LocalTopic, Topics)
	}
}

// reject records an answer that changed nothing.
func (s *Service) reject(ctx context.Context, tx pgx.Tx, m hq.Message, now time.Time, why string) error {
	s.o.Logger.Warn("downlink: a store's answer changed nothing", "store", m.Store, "topic", m.LocalTopic, "origin", m.Origin, "why", why)
	return audit(ctx, tx, now, "store:"+m.Store, ActionUplinkRejected, m.LocalTopic,
		map[string]any{"origin": m.Origin, "why": why})
}

func (s *Service) applyConfigAck(ctx context.Context, tx pgx.Tx, m hq.Message, now time.Time) error {
	var a proto.ConfigAck
	if err := strictjson.Decode(m.Payload, &a); err != nil {
		return s.reject(ctx, tx, m, now, "config ack: "+err.Error())
	}
	if a.ID == "" {
		return s.reject(ctx, tx, m, now, "config ack without id")
	}
	state, code := StateApplied, ""
	if !a.OK {
		state, code = StateRefused, a.Code
		if code == "" {
			code = "refused"
		}
	}
	var errs []byte
	if len(a.Errors) > 0 {
		var err error
		if errs, err = json.Marshal(a.Errors); err != nil {
			return fmt.Errorf("downlink: config ack errors: %w", err)
		}
	}
	var version int64
	var cur string
	err := tx.QueryRow(ctx, `SELECT version, state FROM config_pushes WHERE store = $1 AND id = $2 FOR UPDATE`, m.Store, a.ID).Scan(&version, &cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.reject(ctx, tx, m, now, fmt.Sprintf("config ack for push %s, which HQ never sent to this store", a.ID))
	}
	if err != nil {
		return fmt.Errorf("downlink: config ack %s: %w", a.ID, err)
	}
	if cur != StateSent {
		return nil // answered before: the first answer counts
	}
	if _, err := tx.Exec(ctx, `UPDATE config_pushes SET state = $3, code = $4, reason = $5, errors = $6, answered_at = $7
		WHERE store = $1 AND id = $2`, m.Store, a.ID, state, code, a.Reason, errs, now); err != nil {
		return fmt.Errorf("downlink: config ack %s: %w", a.ID, err)
	}
	action := ActionConfigApplied
	if !a.OK {
		action = ActionConfigRefused
	}
	detail := map[string]any{"id": a.ID, "version": version}
	if !a.OK {
		detail["code"], detail["reason"] = code, a.Reason
	}
	return audit(ctx, tx, now, "store:"+m.Store, action, m.Store, detail)
}

func (s *Service) applyNoticeAck(ctx context.Context, tx pgx.Tx, m hq.Message, now time.Time) error {
	var a proto.NoticeAck
	if err := strictjson.Decode(m.Payload, &a); err != nil {
		return s.reject(ctx, tx, m, now, "notice ack: "+err.Error())
	}
	var target []string
	err := tx.QueryRow(ctx, `SELECT target FROM notices WHERE id = $1`, a.ID).Scan(&target)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.reject(ctx, tx, m, now, fmt.Sprintf("notice ack for %q, which HQ never sent", a.ID))
	}
	if err != nil {
		return fmt.Errorf("downlink: notice ack %s: %w", a.ID, err)
	}
	if len(target) > 0 && !slices.Contains(target, m.Store) {
		return s.reject(ctx, tx, m, now, fmt.Sprintf("notice ack for %s, which was not sent to this store", a.ID))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO notice_deliveries (notice, store, acked_at) VALUES ($1, $2, $3)
		ON CONFLICT (notice, store) DO NOTHING`, a.ID, m.Store, now); err != nil {
		return fmt.Errorf("downlink: notice ack %s: %w", a.ID, err)
	}
	return nil
}
