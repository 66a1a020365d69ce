package booking

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/storeedge/storeedge/broker/auth"
)

// View is a booking as answers show it. Notes and Contact are filled only
// for the customer, staff and the device that made the booking.
type View struct {
	ID          string         `json:"id"`
	Customer    string         `json:"customer"`
	Service     string         `json:"service"`
	ServiceName *Text          `json:"service_name,omitempty"`
	Start       string         `json:"start"`
	End         string         `json:"end"`
	Resources   []string       `json:"resources"`
	Status      string         `json:"status"`
	Stage       string         `json:"stage,omitempty"`
	Progress    []ProgressView `json:"progress,omitempty"`
	Profile     string         `json:"profile,omitempty"`
	Source      string         `json:"source"`
	By          string         `json:"by"`
	HQRequest   string         `json:"hq_request,omitempty"`
	Created     time.Time      `json:"created"`
	Updated     time.Time      `json:"updated"`
	Rev         int            `json:"rev"`
	Surveyed    bool           `json:"surveyed,omitempty"`
	Notes       string         `json:"notes,omitempty"`
	Contact     *Contact       `json:"contact,omitempty"`
	Reason      string         `json:"reason,omitempty"` // why it was cancelled or missed
}

// ProgressView is one stage of a booking.
type ProgressView struct {
	Stage string    `json:"stage"`
	TS    time.Time `json:"ts"`
	By    string    `json:"by"`
	Note  string    `json:"note,omitempty"`
	Photo string    `json:"photo,omitempty"`
}

// SlotView is a free slot in an answer.
type SlotView struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

func (d *Desk) slotViews(ss []Slot) []SlotView {
	out := make([]SlotView, 0, len(ss))
	for _, s := range ss {
		out = append(out, SlotView{Start: d.fmtTime(s.Start), End: d.fmtTime(s.End)})
	}
	return out
}

// private reports whether who may see r's notes and contact: staff, the
// customer, the device that made the booking; a kiosk only while the
// booking's customer is at it.
func (d *Desk) private(who auth.Identity, r *record) bool {
	switch {
	case d.staff(who.Role), who.Device == r.Customer:
		return true
	case d.desk(who.Role):
		return d.deskPresent(who, r.Customer)
	}
	return who.Device == r.By
}

// viewFor renders r for who: private data and progress notes as who may
// see them.
func (d *Desk) viewFor(who auth.Identity, r *record) (View, error) {
	private := d.private(who, r)
	v, err := d.view(r, private)
	if err != nil {
		return View{}, err
	}
	d.redact(who, &v, private)
	return v, nil
}

// view renders r; with private it opens the sealed notes and contact.
func (d *Desk) view(r *record, private bool) (View, error) {
	v := View{ID: r.ID, Customer: r.Customer, Service: r.Service, Start: d.fmtTime(r.Start), End: d.fmtTime(r.End),
		Resources: r.Resources, Status: r.Status, Stage: r.Stage, Profile: r.Profile, Source: r.Source, By: r.By,
		HQRequest: r.HQRequest, Created: r.Created, Updated: r.Updated, Rev: r.Rev, Surveyed: r.Surveyed}
	if s, ok := d.cat.Service(r.Service); ok {
		v.ServiceName = &s.Name
	}
	for _, p := range r.Progress {
		v.Progress = append(v.Progress, ProgressView(p))
	}
	if private && len(r.Sealed) > 0 {
		p, err := d.openPersonal(r)
		if err != nil {
			return View{}, err
		}
		v.Notes, v.Contact, v.Reason = p.Notes, p.Contact, p.Reason
	}
	return v, nil
}

// withReason reseals r's personal data with the reason it was cancelled:
// a reason may be personal ("the baby has a fever"), so it is not in the
// change, the events or HQ's feed.
func (d *Desk) withReason(r *record, reason string) error {
	if reason == "" {
		return nil
	}
	var p personal
	if len(r.Sealed) > 0 {
		var err error
		if p, err = d.openPersonal(r); err != nil {
			return err
		}
	}
	p.Reason = reason
	sealed, err := d.sealPersonal(r.ID, p)
	if err != nil {
		return err
	}
	r.Sealed = sealed
	return nil
}

func (d *Desk) sealPersonal(id string, p personal) ([]byte, error) {
	if p.Notes == "" && p.Contact == nil && p.Reason == "" {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("booking: encode notes: %w", err)
	}
	s, err := d.o.Seal.Seal(b, sealAD("booking", id))
	if err != nil {
		return nil, fmt.Errorf("booking: seal: %w", err)
	}
	return s, nil
}

func (d *Desk) openPersonal(r *record) (personal, error) {
	var p personal
	b, err := d.o.Seal.Open(r.Sealed, sealAD("booking", r.ID))
	if err != nil {
		return p, fmt.Errorf("booking: open notes of %s: %w", r.ID, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%w: notes of %s: %w", errCorrupt, r.ID, err)
	}
	return p, nil
}
