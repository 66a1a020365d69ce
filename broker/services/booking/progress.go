package booking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/proto"
)

// progress posts a stage of a checked-in booking: the owner gets it as an
// event and a chat card, with the photo when there is one.
func (d *Desk) progress(ctx context.Context, req *svc.Request) (any, error) {
	var q progressReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if !d.staff(req.From.Role) && !contains(d.o.ProgressRoles, req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "progress is posted by staff and cameras")
	}
	if !contains(d.cat().Stages, q.Stage) {
		return nil, svc.Errorf(svc.CodeBadRequest, `"stage" must be one of %v`, d.cat().Stages)
	}
	if err := checkText("note", q.Note, d.o.MaxNotesBytes); err != nil {
		return nil, err
	}
	r, err := d.loadBooking(q.Booking, req.From, false)
	if err != nil {
		return nil, err
	}
	if r.Status != StatusCheckedIn {
		return nil, wrongState(r, StatusCheckedIn)
	}
	// svc answers a repeated request id from its memory; should that be
	// lost in a crash, a repeat finds its stage as the last one posted.
	if n := len(r.Progress); n > 0 {
		p := r.Progress[n-1]
		note, err := d.progressNote(r.ID, n-1, p)
		if err != nil {
			return nil, err
		}
		if p.Stage == q.Stage && p.By == req.From.Device && note == q.Note && p.Photo == q.Photo {
			return d.answer(r, req.From)
		}
	}
	var photo *chat.MediaInfo
	release := func() {}
	if q.Photo != "" {
		if d.o.Chat == nil {
			return nil, svc.Errorf(svc.CodeBadRequest, "this store does not take progress photos")
		}
		photo, release, err = d.o.Chat.PrepareImage(ctx, q.Photo)
		if err != nil {
			var se *svc.Error
			switch {
			case errors.As(err, &se):
				return nil, se
			case errors.Is(err, chat.ErrPostInput):
				return nil, svc.Errorf(svc.CodeBadRequest, `"photo": %v`, err)
			}
			return nil, fmt.Errorf("booking: photo: %w", err)
		}
	}
	posted := false
	out, err := d.mutateWith(ctx, r.ID, d.now(), photo, func(r *record, now time.Time) (*Change, error) {
		posted = false
		if r.Status != StatusCheckedIn {
			return nil, wrongState(r, StatusCheckedIn)
		}
		r.Stage = q.Stage
		r.Progress = append(r.Progress, progress{Stage: q.Stage, TS: now, By: req.From.Device, Note: q.Note, Photo: q.Photo})
		posted = true
		return &Change{Type: ChangeProgress, Booking: r.ID, Customer: r.Customer, Service: r.Service, Source: r.Source,
			By: req.From.Device, HQRequest: r.HQRequest, Photo: q.Photo, TS: now}, nil
	}, nil, d.keepView(req, d.private(req.From, r)))
	if err != nil || !posted {
		release()
	}
	if err != nil {
		return nil, err
	}
	return d.answer(out, req.From)
}

// surveyRecord is a stored survey answer; the comment is sealed.
type surveyRecord struct {
	Score    int       `json:"score"`
	Sealed   []byte    `json:"sealed,omitempty"`
	Customer string    `json:"customer"`
	TS       time.Time `json:"ts"`
}

// survey stores the customer's satisfaction answer (1-5 and a comment).
func (d *Desk) survey(ctx context.Context, req *svc.Request) (any, error) {
	var q surveyReq
	if err := decode(req.Body, &q); err != nil {
		return nil, err
	}
	if q.Score < 1 || q.Score > 5 {
		return nil, svc.Errorf(svc.CodeBadRequest, `"score" must be 1-5`)
	}
	if err := checkText("comment", q.Comment, d.o.MaxNotesBytes); err != nil {
		return nil, err
	}
	r, err := d.loadBooking(q.Booking, req.From, true)
	if err != nil {
		return nil, err
	}
	if !req.From.Customer && !d.staff(req.From.Role) {
		return nil, svc.Errorf(svc.CodeForbidden, "the customer answers the survey (or staff for them)")
	}
	if r.Status != StatusCompleted {
		return nil, wrongState(r, StatusCompleted)
	}
	if r.Surveyed {
		return nil, failf(svc.CodeConflict, ReasonAlreadyAnswered, "the survey of booking %s was answered", r.ID)
	}
	var sealed []byte
	if q.Comment != "" {
		if sealed, err = d.o.Seal.Seal([]byte(q.Comment), sealAD("survey", r.ID)); err != nil {
			return nil, fmt.Errorf("booking: seal comment: %w", err)
		}
	}
	out, err := d.mutate(ctx, r.ID, d.now(), func(r *record, now time.Time) (*Change, error) {
		if r.Surveyed {
			return nil, failf(svc.CodeConflict, ReasonAlreadyAnswered, "the survey of booking %s was answered", r.ID)
		}
		r.Surveyed = true
		return &Change{Type: ChangeSurveyAnswered, Booking: r.ID, Customer: r.Customer, Service: r.Service,
			Source: r.Source, By: req.From.Device, Score: q.Score, TS: now}, nil
	}, func(w *wtx, r, _ *record) error {
		return putJSON(w.surveys, []byte(r.ID), surveyRecord{Score: q.Score, Sealed: sealed, Customer: r.Customer, TS: r.Updated})
	}, d.keepView(req, d.private(req.From, r)))
	if err != nil {
		return nil, err
	}
	return d.answer(out, req.From)
}

// Survey is a stored survey answer, for the store's reports.
type Survey = proto.SurveyAnswer

// SurveyOf reads the survey answer of a booking (nil when there is none).
func (d *Desk) SurveyOf(booking string) (*Survey, error) {
	var out *Survey
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSurveys)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(booking))
		if v == nil {
			return nil
		}
		var s surveyRecord
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("%w: survey %s: %w", errCorrupt, booking, err)
		}
		out = &Survey{Booking: booking, Score: s.Score, TS: s.TS}
		if len(s.Sealed) > 0 {
			c, err := d.o.Seal.Open(s.Sealed, sealAD("survey", booking))
			if err != nil {
				return fmt.Errorf("booking: open survey comment: %w", err)
			}
			out.Comment = string(c)
		}
		return nil
	})
	return out, err
}
