package hqlink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/chat/faqstore"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// A config push from HQ (proto.ConfigPush on proto.TopicConfigPush) is
// applied with the store's own rules — the catalogue as catalog_set checks
// it, the FAQ as faq_set does — or refused whole with a code, a reason and
// every problem. Either way the answer (proto.ConfigAck on
// proto.TopicConfigAck) is filed in the outbox in the transaction that
// applies the push (or records the refusal), and kept by the push's id: a
// push delivered again is answered the same and changes nothing. A push
// whose version is not newer than the last one applied is answered
// already_applied and changes nothing.

// ErrInvalid marks a push that cannot be answered (no id, not JSON): the
// bridge logs and drops it, a replay would fail the same way.
var ErrInvalid = errors.New("hqlink: invalid message from HQ")

// AuditConfigPush is the activity log's action of an applied or refused
// push; its actor is "hq:" and the push's By.
const AuditConfigPush = "hq.config_push"

var (
	bConfig     = []byte("hqlink_config")
	keyApplied  = []byte("applied") // the last version applied
	pushPrefix  = []byte("push/")   // push/{id}: the ConfigAck answered
	pushPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)
)

// auditedConfig is what the activity log keeps of a push's effect.
type auditedConfig struct {
	Version        int64              `json:"version"`
	CatalogVersion uint64             `json:"catalog_version,omitempty"`
	Catalog        *proto.ShopCatalog `json:"catalog,omitempty"`
	// The FAQ by version and digest: two whole FAQs do not fit an entry
	// of the activity log (faq_get has the text).
	FAQVersion uint64 `json:"faq_version,omitempty"`
	FAQSHA256  string `json:"faq_sha256,omitempty"`
	FAQBytes   int    `json:"faq_bytes,omitempty"`
}

func digest(y []byte) string {
	sum := sha256.Sum256(y)
	return hex.EncodeToString(sum[:])
}

// HandleConfigPush applies or refuses a push and files the answer. An
// error wrapping ErrInvalid is input no answer can be given to; any other
// error is worth a retry (the bridge delivers the push again).
func (l *Link) HandleConfigPush(ctx context.Context, payload []byte) error {
	if l.o.Outbox == nil {
		return errors.New("hqlink: no link to HQ")
	}
	var p proto.ConfigPush
	if err := strictjson.Decode(payload, &p); err != nil {
		// Answer by the id when there is one: HQ sees why.
		var loose struct {
			ID      string `json:"id"`
			Version int64  `json:"version"`
		}
		if json.Unmarshal(payload, &loose) != nil || !pushPattern.MatchString(loose.ID) {
			return fmt.Errorf("%w: config push: %w", ErrInvalid, err)
		}
		return l.refuse(ctx, proto.ConfigPush{ID: loose.ID, Version: loose.Version}, svc.CodeBadRequest, proto.ReasonBadPush, []string{err.Error()})
	}
	if !pushPattern.MatchString(p.ID) {
		return fmt.Errorf("%w: config push: the id %q is not an id", ErrInvalid, p.ID)
	}
	l.pushMu.Lock()
	defer l.pushMu.Unlock()

	done, applied, err := l.pushState(p.ID)
	switch {
	case err != nil:
		return err
	case done != nil:
		return l.refile(ctx, done)
	case p.V != 1 || p.Version < 1:
		return l.refuse(ctx, p, svc.CodeBadRequest, proto.ReasonBadPush, []string{`want "v":1 and a "version" of 1 or more`})
	case p.Version <= applied:
		ack := proto.ConfigAck{V: 1, ID: p.ID, Version: p.Version, OK: true, Code: proto.ConfigAlreadyApplied,
			Reason: fmt.Sprintf("version %d is applied already (the last push applied is version %d); nothing changed", p.Version, applied), TS: l.now()}
		return l.answer(ctx, ack, nil)
	case p.Catalog == nil && !hasFAQ(p.FAQ):
		return l.refuse(ctx, p, svc.CodeBadRequest, proto.ReasonNothingToApply, []string{"the push has neither a catalog nor an faq"})
	}

	var cat *booking.StagedCatalog
	var faq *faqstore.Staged
	defer func() {
		if cat != nil {
			cat.Release()
		}
		if faq != nil {
			faq.Release()
		}
	}()
	if p.Catalog != nil {
		if l.shop == nil {
			return errors.New("hqlink: the shop is not wired (Use)")
		}
		if cat, err = l.shop.StageCatalog(*p.Catalog); err != nil {
			var r *booking.Refusal
			if errors.As(err, &r) {
				return l.refuse(ctx, p, r.Code, r.Reason, r.Errors)
			}
			return err
		}
	}
	if hasFAQ(p.FAQ) {
		if l.faq == nil {
			return errors.New("hqlink: the FAQ is not wired (Use)")
		}
		y, err := faqYAML(p.FAQ)
		if err == nil {
			faq, err = l.faq.Stage("hq:"+p.By, y)
		}
		if err != nil {
			if cat != nil {
				cat.Release()
				cat = nil
			}
			if errors.Is(err, faqstore.ErrInvalid) || errors.Is(err, errFAQForm) {
				return l.refuse(ctx, p, svc.CodeBadRequest, proto.ReasonInvalid, []string{"faq: " + faqstore.ErrorMessage(err)})
			}
			return err
		}
	}
	ack := proto.ConfigAck{V: 1, ID: p.ID, Version: p.Version, OK: true, TS: l.now()}
	before, after := auditedConfig{Version: applied}, auditedConfig{Version: p.Version}
	if cat != nil {
		b, a := cat.Before(), cat.Catalog()
		before.Catalog, after.Catalog, after.CatalogVersion = &b, &a, cat.Version()
	}
	if faq != nil {
		y := faqYAMLOr(p.FAQ)
		before.FAQSHA256, before.FAQBytes = digest(faq.Before), len(faq.Before)
		after.FAQVersion, after.FAQSHA256, after.FAQBytes = faq.Version, digest(y), len(y)
	}
	err = l.answer(ctx, ack, func(tx *bolt.Tx) error {
		if cat != nil {
			if err := cat.Put(tx); err != nil {
				return err
			}
		}
		if faq != nil {
			if err := faq.Put(tx); err != nil {
				return err
			}
		}
		b := tx.Bucket(bConfig)
		if err := b.Put(keyApplied, binary.BigEndian.AppendUint64(nil, uint64(p.Version))); err != nil {
			return fmt.Errorf("hqlink: put applied version: %w", err)
		}
		return l.FileShopInfo(tx)
	})
	if err != nil {
		return err
	}
	if cat != nil {
		cat.Commit()
	}
	if faq != nil {
		faq.Commit()
	}
	l.audit(ctx, p, before, after)
	return nil
}

// pushState is the answer kept for push id (nil: none) and the last
// version applied.
func (l *Link) pushState(id string) (*proto.ConfigAck, int64, error) {
	var done *proto.ConfigAck
	var applied int64
	err := l.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bConfig)
		if b == nil {
			return nil
		}
		if v := b.Get(keyApplied); len(v) == 8 {
			applied = int64(binary.BigEndian.Uint64(v))
		}
		if v := b.Get(append(bytes.Clone(pushPrefix), id...)); v != nil {
			done = &proto.ConfigAck{}
			if err := json.Unmarshal(v, done); err != nil {
				return fmt.Errorf("hqlink: stored answer of push %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("hqlink: read config state: %w", err)
	}
	return done, applied, nil
}

// refuse answers p with a refusal: nothing else changes.
func (l *Link) refuse(ctx context.Context, p proto.ConfigPush, code, reason string, errs []string) error {
	ack := proto.ConfigAck{V: 1, ID: p.ID, Version: p.Version, Code: code, Reason: reason, Errors: errs, TS: l.now()}
	if err := l.answer(ctx, ack, nil); err != nil {
		return err
	}
	l.o.Log.Info("hqlink: config push from HQ refused", "id", p.ID, "version", p.Version, "code", code, "reason", reason, "errors", errs)
	l.audit(ctx, p, nil, ack)
	return nil
}

// answer keeps ack under its push id and files it for HQ, after apply
// (nil: nothing to apply), all in one transaction.
func (l *Link) answer(ctx context.Context, ack proto.ConfigAck, apply func(*bolt.Tx) error) error {
	v, err := json.Marshal(ack)
	if err != nil {
		return fmt.Errorf("hqlink: encode config ack: %w", err)
	}
	err = l.o.DB.Update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bConfig)
		if err != nil {
			return fmt.Errorf("hqlink: bucket %s: %w", bConfig, err)
		}
		if apply != nil {
			if err := apply(tx); err != nil {
				return err
			}
		}
		if err := b.Put(append(bytes.Clone(pushPrefix), ack.ID...), v); err != nil {
			return fmt.Errorf("hqlink: keep config ack: %w", err)
		}
		return l.o.Outbox.Put(tx, proto.TopicConfigAck, v)
	})
	if err != nil {
		return fmt.Errorf("hqlink: config push %s: %w", ack.ID, err)
	}
	return nil
}

// refile files the answer already given to a push delivered again.
func (l *Link) refile(ctx context.Context, ack *proto.ConfigAck) error {
	v, err := json.Marshal(ack)
	if err != nil {
		return fmt.Errorf("hqlink: encode config ack: %w", err)
	}
	return l.o.DB.Update(ctx, func(tx *bolt.Tx) error { return l.o.Outbox.Put(tx, proto.TopicConfigAck, v) })
}

func (l *Link) audit(ctx context.Context, p proto.ConfigPush, before, after any) {
	if l.o.Auditor == nil {
		return
	}
	if err := l.o.Auditor.Audit(ctx, "hq:"+p.By, AuditConfigPush, fmt.Sprintf("config/%d", p.Version), before, after); err != nil {
		l.o.Log.Error("hqlink: a config push is answered but its audit entry is not", "id", p.ID, "err", err)
	}
}

// errFAQForm: the push's faq is neither a string nor an object.
var errFAQForm = errors.New(`"faq" must be faq.yaml's text (a JSON string) or its document as a JSON object`)

func hasFAQ(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

// faqYAML is the FAQ a push carries: faq.yaml's text as a JSON string, or
// the same document as a JSON object (JSON is YAML).
func faqYAML(raw json.RawMessage) ([]byte, error) {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) > 0 && t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return nil, fmt.Errorf("%w: %w", errFAQForm, err)
		}
		return []byte(s), nil
	case len(t) > 0 && t[0] == '{':
		return bytes.Clone(t), nil
	}
	return nil, errFAQForm
}

func faqYAMLOr(raw json.RawMessage) []byte {
	y, _ := faqYAML(raw)
	return y
}
