package faqstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Auditor records an admin action once it is durable.
type Auditor interface {
	Audit(ctx context.Context, actor, action, target string, before, after any) error
}

// OpsOptions configure Register.
type OpsOptions struct {
	Router *svc.Router
	// Roles may read, try and save the FAQ (admin).
	Roles []string
	// Auditor records each save; nil = none.
	Auditor Auditor
	// Now is the store's clock, for faq_try's after-hours reply.
	Now func() time.Time
	Log *slog.Logger
}

// MaxTryBytes bounds faq_try's question.
const MaxTryBytes = 2000

type (
	setReq struct {
		proto.Envelope
		proto.StoreFAQSetRequest
	}
	tryReq struct {
		proto.Envelope
		proto.StoreFAQTryRequest
	}
)

// auditedFAQ is what the audit log keeps of a version.
type auditedFAQ struct {
	Version uint64 `json:"version"`
	YAML    string `json:"yaml"`
}

// Register adds svc/store/faq_get, faq_set and faq_try (PROTOCOL.md,
// "FAQ") for o.Roles.
func (s *Store) Register(o OpsOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	get := func(_ context.Context, req *svc.Request) (any, error) {
		var r proto.Envelope
		if err := strictjson.Decode(req.Body, &r); err != nil {
			return nil, svc.BadInput(err)
		}
		y, v := s.Current()
		return answerOf(y, v)
	}
	set := func(ctx context.Context, req *svc.Request) (any, error) {
		var r setReq
		if err := strictjson.Decode(req.Body, &r); err != nil {
			return nil, svc.BadInput(err)
		}
		if r.Version == nil {
			return nil, svc.Errorf(svc.CodeBadRequest, `"version" is required: the version the FAQ was edited from (faq_get's)`)
		}
		before, oldV := s.Current()
		if oldV != *r.Version {
			return nil, svc.WithDetails(svc.Errorf(svc.CodeConflict, "the FAQ was saved by someone else meanwhile (version %d now); reload it and edit again", oldV),
				map[string]uint64{"version": oldV})
		}
		next, err := edit(before, r.YAML, r.Answers, r.QuickReplies)
		if err != nil {
			return nil, err
		}
		v, err := s.Replace(ctx, req.From.Device, next, *r.Version)
		switch {
		case errors.Is(err, ErrConflict):
			_, now := s.Current()
			return nil, svc.WithDetails(svc.Errorf(svc.CodeConflict, "the FAQ was saved by someone else meanwhile (version %d now); reload it and edit again", now),
				map[string]uint64{"version": now})
		case errors.Is(err, ErrInvalid):
			return nil, svc.Errorf(svc.CodeBadRequest, "%s", invalidMessage(err))
		case err != nil:
			return nil, err
		}
		if o.Auditor != nil {
			if aerr := o.Auditor.Audit(ctx, req.From.Device, "faq.set", "faq", auditedFAQ{oldV, string(before)}, auditedFAQ{v, string(next)}); aerr != nil {
				o.Log.Warn("faq: the save was not recorded in the audit log", "version", v, "err", aerr)
			}
		}
		return answerOf(next, v)
	}
	try := func(_ context.Context, req *svc.Request) (any, error) {
		var r tryReq
		if err := strictjson.Decode(req.Body, &r); err != nil {
			return nil, svc.BadInput(err)
		}
		switch {
		case r.Text == "" || !utf8.ValidString(r.Text):
			return nil, svc.Errorf(svc.CodeBadRequest, `"text" must be a non-empty question`)
		case len(r.Text) > MaxTryBytes:
			return nil, svc.Errorf(svc.CodeTooLarge, `"text" is %d bytes, at most %d`, len(r.Text), MaxTryBytes)
		case r.Lang != "" && r.Lang != faq.LangZH && r.Lang != faq.LangEN:
			return nil, svc.Errorf(svc.CodeBadRequest, `"lang" must be "zh", "en" or left out`)
		}
		a := s.Assistant()
		if r.YAML != nil || len(r.Answers)+len(r.QuickReplies) > 0 {
			cur, _ := s.Current()
			next, err := edit(cur, r.YAML, r.Answers, r.QuickReplies)
			if err != nil {
				return nil, err
			}
			if a, err = Check(next); err != nil {
				return nil, svc.Errorf(svc.CodeBadRequest, "%s", invalidMessage(err))
			}
		}
		rep := a.Answer(r.Text, r.Lang)
		ans := proto.StoreFAQTry{Kind: rep.Kind.String(), Intent: rep.Intent, Text: rep.Text, Lang: rep.Lang, Confidence: rep.Confidence}
		for _, c := range rep.Choices {
			ans.Choices = append(ans.Choices, proto.AskButton{Text: c.Question, Intent: c.Intent})
		}
		if t, closed := a.AfterHours(o.Now(), rep.Lang); closed {
			ans.AfterHours = t
		}
		return ans, nil
	}
	roles := svc.Roles(o.Roles...)
	for _, h := range []struct {
		op   string
		h    svc.Handler
		opts []svc.OpOption
	}{
		{"faq_get", get, []svc.OpOption{roles}},
		{"faq_set", set, []svc.OpOption{roles, svc.Mutating()}},
		{"faq_try", try, []svc.OpOption{roles}},
	} {
		if err := o.Router.Handle(proto.ServiceStore, h.op, h.h, h.opts...); err != nil {
			return fmt.Errorf("faq: %w", err)
		}
	}
	return nil
}

// edit is the FAQ an edit makes of cur: the whole YAML, or texts by id
// changed in cur. Too large: too_large; an unknown id or a YAML that does
// not parse: bad_request.
func edit(cur []byte, y *string, answers, quick map[string]proto.FAQText) ([]byte, error) {
	switch {
	case y != nil && len(answers)+len(quick) > 0:
		return nil, svc.BadInput(errBothForms)
	case y != nil:
		if len(*y) > MaxBytes {
			return nil, svc.Errorf(svc.CodeTooLarge, "the FAQ is %d bytes, at most %d", len(*y), MaxBytes)
		}
		return []byte(*y), nil
	case len(answers)+len(quick) == 0:
		return nil, svc.Errorf(svc.CodeBadRequest, `send "yaml", or "answers" and/or "quick_replies" to change`)
	}
	next, err := Patch(cur, answers, quick)
	if err != nil {
		return nil, svc.Errorf(svc.CodeBadRequest, "%s", invalidMessage(err))
	}
	if len(next) > MaxBytes {
		return nil, svc.Errorf(svc.CodeTooLarge, "the FAQ would be %d bytes, at most %d", len(next), MaxBytes)
	}
	return next, nil
}

// answerOf is faq_get's and faq_set's answer for version v of the FAQ.
func answerOf(y []byte, v uint64) (proto.StoreFAQ, error) {
	in, qr, err := Entries(y)
	if err != nil {
		return proto.StoreFAQ{}, err
	}
	return proto.StoreFAQ{YAML: string(y), Version: v, Saved: v > 0, Intents: in, QuickReplies: qr}, nil
}

// invalidMessage is the FAQ's mistakes without the package prefixes: each
// names the line, the intent and the field ("faq.yaml line 130:
// intents[2] (membership_points).answer.en: is empty").
func invalidMessage(err error) string {
	var inner error = err
	for {
		u, ok := inner.(interface{ Unwrap() []error })
		if !ok {
			break
		}
		// fmt.Errorf("%w: %w") wraps ErrInvalid and the loader's error.
		es := u.Unwrap()
		if len(es) == 2 && errors.Is(es[0], ErrInvalid) {
			inner = es[1]
			continue
		}
		break
	}
	return inner.Error()
}
