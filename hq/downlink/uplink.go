package downlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/cloudsync/hq"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Topics are the local uplink topics ApplyUplink handles; the replica
// routes them here (its Options.Handlers).
var Topics = []string{proto.TopicConfigAck, proto.TopicNoticeAck}

// Answers records the stores' answers. It needs no pool of its own (it
// works in the replica's transaction), so it can be made before the
// replica is opened with it as the handler of Topics, and the Service
// after, on the replica's pool:
//
//	ans := downlink.NewAnswers(nil, log)
//	rep, err := replica.Open(ctx, url, replica.Options{…, Handlers: map[string]replica.TopicHandler{
//		proto.TopicConfigAck: ans, proto.TopicNoticeAck: ans}})
//	dl, err := downlink.New(downlink.Options{Pool: rep.Pool(), Publisher: pub, …})
type Answers struct {
	now func() time.Time
	log *slog.Logger
}

// NewAnswers returns the handler of the stores' answers; now is HQ's
// clock (nil: time.Now), log where rejected answers are logged (nil:
// slog.Default()).
func NewAnswers(now func() time.Time, log *slog.Logger) *Answers {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Answers{now: now, log: log}
}

// ApplyUplink is Answers.ApplyUplink with the Service's clock and logger.
func (s *Service) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	return NewAnswers(s.o.Now, s.o.Logger).ApplyUplink(ctx, tx, m)
}

// ApplyUplink records a store's answer, inside the transaction the replica
// applies the message in: a config/ack moves its push from sent to
// applied or refused (the first answer counts), a notice/ack records the
// delivery (once per store). An answer that cannot be read, or that names
// a push or notice HQ never sent to that store, changes nothing of those
// and is recorded in hq_audit (action uplink.rejected, actor
// store:{store}) instead, so the store's stream moves on. An error is a
// database failure: the replica rolls back and the message is taken again.
func (s *Answers) ApplyUplink(ctx context.Context, tx pgx.Tx, m hq.Message) error {
	now := s.now().UTC().Truncate(time.Microsecond)
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
func (s *Answers) reject(ctx context.Context, tx pgx.Tx, m hq.Message, now time.Time, why string) error {
	s.log.Warn("downlink: a store's answer changed nothing", "store", m.Store, "topic", m.LocalTopic, "origin", m.Origin, "why", why)
	return audit(ctx, tx, now, "store:"+m.Store, ActionUplinkRejected, m.LocalTopic,
		map[string]any{"origin": m.Origin, "why": why})
}

func (s *Answers) applyConfigAck(ctx context.Context, tx pgx.Tx, m hq.Message, now time.Time) error {
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

func (s *Answers) applyNoticeAck(ctx context.Context, tx pgx.Tx, m hq.Message, now time.Time) error {
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
