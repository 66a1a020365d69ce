package downlink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/proto"
)

// ConfigRequest is a push of a store's catalogue (services, prices, hours)
// and/or FAQ. The store checks it with its own rules.
type ConfigRequest struct {
	// ID makes the push idempotent (default: a new random id).
	ID      string             `json:"id,omitempty"`
	Catalog *proto.ShopCatalog `json:"catalog,omitempty"`
	FAQ     json.RawMessage    `json:"faq,omitempty"`
}

// Config push states.
const (
	StateSent    = "sent"
	StateApplied = "applied"
	StateRefused = "refused"
)

// ConfigPush is a push as HQ keeps it: its version (1, 2, 3… per store),
// its state and the store's answer.
type ConfigPush struct {
	Store      string           `json:"store"`
	Version    int64            `json:"version"`
	ID         string           `json:"id"`
	State      string           `json:"state"` // StateSent, StateApplied or StateRefused
	Code       string           `json:"code,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	Errors     []string         `json:"errors,omitempty"`
	SentBy     string           `json:"sent_by"`
	SentAt     time.Time        `json:"sent_at"`
	AnsweredAt *time.Time       `json:"answered_at,omitempty"`
	Push       proto.ConfigPush `json:"push"`
}

// ConfigSent answers PushConfig.
type ConfigSent struct {
	Push ConfigPush `json:"push"`
	Sent
}

// PushConfig stores a push for store under the store's next version, with
// its audit row, in one transaction, and then publishes it on
// stores/{store}/down/config/push. The same request again (same id, store
// and content) publishes again and changes nothing; another with a used id
// is a conflict.
func (s *Service) PushConfig(ctx context.Context, actor, store string, r ConfigRequest) (ConfigSent, error) {
	if actor == "" {
		return ConfigSent{}, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "no actor"}
	}
	if err := checkID("store", store); err != nil {
		return ConfigSent{}, err
	}
	if r.ID != "" {
		if err := checkID("id", r.ID); err != nil {
			return ConfigSent{}, err
		}
	} else {
		var err error
		if r.ID, err = newID("c-"); err != nil {
			return ConfigSent{}, err
		}
	}
	if r.Catalog == nil && len(r.FAQ) == 0 {
		return ConfigSent{}, badRequest(`give "catalog", "faq" or both`)
	}
	var faq json.RawMessage
	if len(r.FAQ) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, r.FAQ); err != nil || buf.String() == "null" {
			return ConfigSent{}, badRequest("faq is not a JSON value")
		}
		faq = buf.Bytes()
	}
	now := s.o.Now().UTC().Truncate(time.Microsecond)
	push := proto.ConfigPush{V: 1, ID: r.ID, Catalog: r.Catalog, FAQ: faq, By: actor}
	var catJSON []byte
	if r.Catalog != nil {
		var err error
		if catJSON, err = json.Marshal(r.Catalog); err != nil {
			return ConfigSent{}, badRequest("catalog: %v", err)
		}
	}
	var out ConfigSent
	err := pgx.BeginFunc(ctx, s.o.Pool, func(tx pgx.Tx) error {
		out = ConfigSent{}
		// One push at a time per store: versions are allocated in order.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('hq-config-push'), hashtext($1))`, store); err != nil {
			return fmt.Errorf("downlink: lock: %w", err)
		}
		old, err := getPushByID(ctx, tx, r.ID)
		switch {
		case err == nil:
			var same bool
			if err := tx.QueryRow(ctx, `SELECT push->'catalog' IS NOT DISTINCT FROM $2::jsonb AND push->'faq' IS NOT DISTINCT FROM $3::jsonb
				FROM config_pushes WHERE id = $1`, r.ID, nullJSON(catJSON), nullJSON(faq)).Scan(&same); err != nil {
				return fmt.Errorf("downlink: compare push %s: %w", r.ID, err)
			}
			if old.Store != store || !same {
				return &Error{Status: http.StatusConflict, Code: CodeConflict,
					Message: fmt.Sprintf("config push %s was sent before with other content or to another store", r.ID)}
			}
			out.Push = old
			return nil
		case !isNotFound(err):
			return err
		}
		unknown, err := unknownStores(ctx, tx, []string{store})
		if err != nil {
			return err
		}
		if len(unknown) > 0 {
			return &Error{Status: http.StatusNotFound, Code: CodeUnknownStore, Message: "HQ has never heard from store " + store}
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM config_pushes WHERE store = $1`, store).Scan(&push.Version); err != nil {
			return fmt.Errorf("downlink: next version: %w", err)
		}
		p, err := json.Marshal(push)
		if err != nil {
			return fmt.Errorf("downlink: encode push: %w", err)
		}
		if len(p) > s.o.Limits.MaxConfigBytes {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
				Message: fmt.Sprintf("the push is %d bytes, at most %d (downlink.max_config_bytes)", len(p), s.o.Limits.MaxConfigBytes)}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO config_pushes (store, version, id, push, sent_by, sent_at, state)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, store, push.Version, r.ID, p, actor, now, StateSent); err != nil {
			return fmt.Errorf("downlink: push %s: %w", r.ID, err)
		}
		out.Created = true
		out.Push = ConfigPush{Store: store, Version: push.Version, ID: r.ID, State: StateSent, SentBy: actor, SentAt: now, Push: push}
		return audit(ctx, tx, now, actor, ActionConfigPush, store, map[string]any{
			"id": r.ID, "version": push.Version, "catalog": r.Catalog != nil, "faq": faq != nil})
	})
	if err != nil {
		return ConfigSent{}, wrap("push config", err)
	}
	p, err := json.Marshal(out.Push.Push)
	if err == nil {
		err = s.o.Publisher.Publish(ctx, proto.CloudDownTopic(store, "config/push"), p, out.Push.ID)
	}
	if err != nil {
		out.PublishError = err.Error()
		s.o.Logger.Warn("downlink: config push stored but not published; the same request publishes it again",
			"store", store, "push", out.Push.ID, "err", err)
	} else {
		out.Published = true
	}
	return out, nil
}

func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeNotFound
}

const pushCols = `store, version, id, state, code, reason, errors, sent_by, sent_at, answered_at, push`

func scanPush(row pgx.Row) (ConfigPush, error) {
	var c ConfigPush
	var errs, push []byte
	if err := row.Scan(&c.Store, &c.Version, &c.ID, &c.State, &c.Code, &c.Reason, &errs, &c.SentBy, &c.SentAt, &c.AnsweredAt, &push); err != nil {
		return ConfigPush{}, err
	}
	if len(errs) > 0 {
		if err := json.Unmarshal(errs, &c.Errors); err != nil {
			return ConfigPush{}, fmt.Errorf("errors of push %s: %w", c.ID, err)
		}
	}
	if err := json.Unmarshal(push, &c.Push); err != nil {
		return ConfigPush{}, fmt.Errorf("push %s: %w", c.ID, err)
	}
	c.SentAt = c.SentAt.UTC()
	if c.AnsweredAt != nil {
		a := c.AnsweredAt.UTC()
		c.AnsweredAt = &a
	}
	return c, nil
}

func getPushByID(ctx context.Context, q querier, id string) (ConfigPush, error) {
	c, err := scanPush(q.QueryRow(ctx, `SELECT `+pushCols+` FROM config_pushes WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return ConfigPush{}, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no config push " + id}
	}
	if err != nil {
		return ConfigPush{}, fmt.Errorf("downlink: config push %s: %w", id, err)
	}
	return c, nil
}

// ConfigPage is a store's pushes, newest version first; Next is the
// Before of the next page (0 at the end).
type ConfigPage struct {
	Store  string       `json:"store"`
	Pushes []ConfigPush `json:"pushes"`
	Next   int64        `json:"next,omitempty"`
}

// ConfigPushes lists a store's pushes with versions below before (0: the
// newest), newest first, at most limit (0: Limits.PageSize).
func (s *Service) ConfigPushes(ctx context.Context, store string, before int64, limit int) (ConfigPage, error) {
	if err := checkID("store", store); err != nil {
		return ConfigPage{}, err
	}
	if limit < 0 || limit > MaxPageSize || before < 0 {
		return ConfigPage{}, badRequest("limit must be 1-%d, before a version", MaxPageSize)
	}
	if limit == 0 {
		limit = s.o.Limits.PageSize
	}
	if before == 0 {
		before = 1 << 62
	}
	rows, err := s.o.Pool.Query(ctx, `SELECT `+pushCols+` FROM config_pushes WHERE store = $1 AND version < $2
		ORDER BY version DESC LIMIT $3`, store, before, limit+1)
	if err != nil {
		return ConfigPage{}, fmt.Errorf("downlink: pushes of %s: %w", store, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ConfigPush, error) { return scanPush(r) })
	if err != nil {
		return ConfigPage{}, fmt.Errorf("downlink: pushes of %s: %w", store, err)
	}
	out := ConfigPage{Store: store, Pushes: list}
	if out.Pushes == nil {
		out.Pushes = []ConfigPush{}
	}
	if len(out.Pushes) > limit {
		out.Pushes = out.Pushes[:limit]
		out.Next = out.Pushes[limit-1].Version
	}
	return out, nil
}
