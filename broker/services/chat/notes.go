package chat

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/safetext"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// Labels and internal notes: staff's own words about a conversation or a
// customer. They are answered to staff only (notes, note_add, labels_set,
// and the labels in staff's list, waiting and assign answers), published
// on no topic and never filed for HQ. Notes are sealed like message bodies;
// labels are ids from the store's list (Options.Labels), stored as they are.

var (
	bucketNotes  = []byte("chat_notes")
	bucketLabels = []byte("chat_labels")
)

type (
	noteAddReq struct {
		proto.Envelope
		proto.ChatNoteAddRequest
	}
	labelsReq struct {
		proto.Envelope
		proto.ChatLabelsRequest
	}
	notesReq struct {
		proto.Envelope
		proto.ChatNoteTarget
	}
	notesAns = proto.ChatNotesAnswer
)

// noteRec is a note in chat_notes: the text sealed.
type noteRec struct {
	ID     string    `json:"id"`
	Author string    `json:"author"`
	TS     time.Time `json:"ts"`
	Text   []byte    `json:"text"`
}

// labelsRec is a target's labels in chat_labels.
type labelsRec struct {
	Labels []string  `json:"labels"`
	By     string    `json:"by"`
	TS     time.Time `json:"ts"`
}

// targetKey names a conversation ("c" 0x00 id) or a customer ("u" 0x00 id).
func targetKey(t proto.ChatNoteTarget) string {
	if t.Customer != "" {
		return "u\x00" + t.Customer
	}
	return "c\x00" + t.Conversation
}

// noteKey: target 0x00 time (unix ms, 8 bytes BE) 0x00 note id, so a
// target's notes are in time order.
func noteKey(target string, ts time.Time, id string) []byte {
	k := append([]byte(target), 0)
	k = binary.BigEndian.AppendUint64(k, uint64(ts.UnixMilli()))
	return append(append(k, 0), id...)
}

func noteAD(key []byte) []byte { return append([]byte("chat_notes\x00"), key...) }

func checkTarget(t proto.ChatNoteTarget) error {
	switch {
	case (t.Conversation == "") == (t.Customer == ""):
		return errors.New(`name either "conversation" or "customer"`)
	case t.Conversation != "":
		return checkConv(t.Conversation)
	case !idPattern.MatchString(t.Customer):
		return errors.New(`"customer" must be a customer id`)
	}
	return nil
}

// staffTarget checks that the caller is staff and may read the target: a
// conversation they may read, or a customer whose conversation they may
// read (not_found, forbidden otherwise).
func (s *Service) staffTarget(tx *bolt.Tx, req *svc.Request, t proto.ChatNoteTarget) error {
	id := t.Conversation
	if t.Customer != "" {
		id = t.Customer
	}
	c, err := s.getConv(tx, id)
	if err != nil {
		return err
	}
	if c == nil || (t.Customer != "" && c.customer() != t.Customer) {
		if t.Customer != "" {
			return svc.Errorf(svc.CodeNotFound, "no customer %q", t.Customer)
		}
		return notFound(id)
	}
	if !c.member(req.From.Device) && !s.seesAll(req.From.Role) {
		return notMember(id)
	}
	return nil
}

func (s *Service) staffOnly(req *svc.Request) error {
	if _, err := caller(req); err != nil {
		return err
	}
	if !s.staff(req.From.Role) {
		return svc.Errorf(svc.CodeForbidden, "notes and labels are for staff")
	}
	return nil
}

// noteAdd adds a note; the request id is the note's id.
func (s *Service) noteAdd(ctx context.Context, req *svc.Request) (any, error) {
	if err := s.staffOnly(req); err != nil {
		return nil, err
	}
	var r noteAddReq
	if err := strictjson.Decode(req.Body, &r); err != nil {
		return nil, svc.BadInput(err)
	}
	if err := checkTarget(r.ChatNoteTarget); err != nil {
		return nil, svc.BadInput(err)
	}
	r.Text = strings.TrimSpace(r.Text)
	switch {
	case r.Text == "" || !utf8.ValidString(r.Text):
		return nil, svc.BadInput(errors.New(`"text" must be the note, in UTF-8`))
	case len(r.Text) > s.o.MaxBodyBytes:
		return nil, svc.BadInput(fmt.Errorf("%w: a note of %d bytes, at most %d", svc.ErrTooLarge, len(r.Text), s.o.MaxBodyBytes))
	}
	if err := safetext.Check("text", r.Text, true); err != nil {
		return nil, svc.BadInput(err)
	}
	target := targetKey(r.ChatNoteTarget)
	now := s.now()
	var ans *notesAns
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ans = nil
		if err := s.staffTarget(tx, req, r.ChatNoteTarget); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketNotes)
		if err != nil {
			return fmt.Errorf("chat: bucket %s: %w", bucketNotes, err)
		}
		n, dup := 0, false
		prefix := []byte(target + "\x00")
		cur := b.Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			n++
			dup = dup || bytes.HasSuffix(k, []byte("\x00"+req.ID)) && len(k) == len(prefix)+9+len(req.ID)
		}
		if !dup {
			if n >= s.o.MaxNotes {
				return svc.Errorf(svc.CodeTooLarge, "%d notes already, at most %d: this one was not added", n, s.o.MaxNotes)
			}
			key := noteKey(target, now, req.ID)
			sealed, err := s.o.Seal.Seal([]byte(r.Text), noteAD(key))
			if err != nil {
				return fmt.Errorf("chat: seal note: %w", err)
			}
			v, err := json.Marshal(noteRec{ID: req.ID, Author: req.From.Device, TS: now, Text: sealed})
			if err != nil {
				return fmt.Errorf("chat: encode note: %w", err)
			}
			if err := b.Put(key, v); err != nil {
				return fmt.Errorf("chat: put note: %w", err)
			}
		}
		if ans, err = s.notesOf(tx, r.ChatNoteTarget); err != nil {
			return err
		}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}

// notes answers a target's notes and labels.
func (s *Service) notes(_ context.Context, req *svc.Request) (any, error) {
	if err := s.staffOnly(req); err != nil {
		return nil, err
	}
	var r notesReq
	if err := strictjson.Decode(req.Body, &r); err != nil {
		return nil, svc.BadInput(err)
	}
	if r.ChatNoteTarget == (proto.ChatNoteTarget{}) {
		// No target: the store's label list (the console's filter).
		return &notesAns{Notes: []proto.ChatNote{}, Labels: []string{}, Available: s.available()}, nil
	}
	if err := checkTarget(r.ChatNoteTarget); err != nil {
		return nil, svc.BadInput(err)
	}
	var ans *notesAns
	err := s.view(func(tx *bolt.Tx) error {
		if err := s.staffTarget(tx, req, r.ChatNoteTarget); err != nil {
			return err
		}
		var err error
		ans, err = s.notesOf(tx, r.ChatNoteTarget)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}

// labelsSet replaces a target's labels.
func (s *Service) labelsSet(ctx context.Context, req *svc.Request) (any, error) {
	if err := s.staffOnly(req); err != nil {
		return nil, err
	}
	var r labelsReq
	if err := strictjson.Decode(req.Body, &r); err != nil {
		return nil, svc.BadInput(err)
	}
	if err := checkTarget(r.ChatNoteTarget); err != nil {
		return nil, svc.BadInput(err)
	}
	if r.Labels == nil {
		return nil, svc.BadInput(errors.New(`"labels" is required ([] clears them)`))
	}
	for _, l := range r.Labels {
		if !slices.ContainsFunc(s.o.Labels, func(x proto.ChatLabel) bool { return x.ID == l }) {
			return nil, svc.BadInput(fmt.Errorf("label %q is not in the store's list (chat.labels): %s", clip(l), s.labelIDs()))
		}
	}
	labels := slices.Clone(r.Labels)
	slices.Sort(labels)
	labels = slices.Compact(labels)
	target := targetKey(r.ChatNoteTarget)
	now := s.now()
	var ans *notesAns
	err := s.update(ctx, func(tx *bolt.Tx) error {
		ans = nil
		if err := s.staffTarget(tx, req, r.ChatNoteTarget); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketLabels)
		if err != nil {
			return fmt.Errorf("chat: bucket %s: %w", bucketLabels, err)
		}
		if len(labels) == 0 {
			err = b.Delete([]byte(target))
		} else {
			var v []byte
			if v, err = json.Marshal(labelsRec{Labels: labels, By: req.From.Device, TS: now}); err == nil {
				err = b.Put([]byte(target), v)
			}
		}
		if err != nil {
			return fmt.Errorf("chat: put labels: %w", err)
		}
		if ans, err = s.notesOf(tx, r.ChatNoteTarget); err != nil {
			return err
		}
		return req.Keep(tx, ans)
	})
	if err != nil {
		return nil, err
	}
	return ans, nil
}

// available is the store's label list.
func (s *Service) available() []proto.ChatLabel {
	if len(s.o.Labels) == 0 {
		return []proto.ChatLabel{}
	}
	return slices.Clone(s.o.Labels)
}

func (s *Service) labelIDs() string {
	ids := make([]string, len(s.o.Labels))
	for i, l := range s.o.Labels {
		ids[i] = l.ID
	}
	if len(ids) == 0 {
		return "the list is empty"
	}
	return "one of " + strings.Join(ids, ", ")
}

// notesOf reads a target's notes (newest first, a page) and labels.
func (s *Service) notesOf(tx *bolt.Tx, t proto.ChatNoteTarget) (*notesAns, error) {
	target := targetKey(t)
	ans := &notesAns{ChatNoteTarget: t, Notes: []proto.ChatNote{}, Labels: labelsOf(tx, target), Available: s.available()}
	b := tx.Bucket(bucketNotes)
	if b == nil {
		return ans, nil
	}
	prefix := []byte(target + "\x00")
	cur := b.Cursor()
	k, v := cur.Seek([]byte(target + "\x01"))
	if k == nil {
		k, v = cur.Last()
	} else {
		k, v = cur.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Prev() {
		if len(ans.Notes) == s.o.PageSize {
			ans.More = true
			break
		}
		var n noteRec
		if err := json.Unmarshal(v, &n); err != nil {
			return nil, fmt.Errorf("%w: note: %w", errCorrupt, err)
		}
		text, err := s.o.Seal.Open(n.Text, noteAD(k))
		if err != nil {
			return nil, fmt.Errorf("chat: open a note: %w", err)
		}
		ans.Notes = append(ans.Notes, proto.ChatNote{ID: n.ID, Author: n.Author, TS: n.TS, Text: string(text)})
	}
	return ans, nil
}

// labelsOf is a target's labels ([] when none).
func labelsOf(tx *bolt.Tx, target string) []string {
	b := tx.Bucket(bucketLabels)
	if b == nil {
		return []string{}
	}
	var rec labelsRec
	if v := b.Get([]byte(target)); v == nil || json.Unmarshal(v, &rec) != nil || rec.Labels == nil {
		return []string{}
	}
	return rec.Labels
}

// staffView is view with the labels of the conversation and of its
// customer, for staff only: a customer's answers never carry labels.
func (s *Service) staffView(tx *bolt.Tx, c *conv, req *svc.Request) convView {
	v := view(tx, c, req.From.Device)
	if !s.staff(req.From.Role) || req.From.Customer {
		return v
	}
	ls := labelsOf(tx, targetKey(proto.ChatNoteTarget{Conversation: c.ID}))
	if cu := c.customer(); cu != "" {
		ls = append(ls, labelsOf(tx, targetKey(proto.ChatNoteTarget{Customer: cu}))...)
		slices.Sort(ls)
		ls = slices.Compact(ls)
	}
	if len(ls) > 0 {
		v.Labels = ls
	}
	return v
}

// forgetNotes deletes the notes and labels of a customer and of her
// conversation (ForgetCustomer).
func forgetNotes(tx *bolt.Tx, customer string) error {
	for _, t := range []proto.ChatNoteTarget{{Conversation: customer}, {Customer: customer}} {
		target := targetKey(t)
		if b := tx.Bucket(bucketLabels); b != nil {
			if err := b.Delete([]byte(target)); err != nil {
				return fmt.Errorf("chat: forget labels: %w", err)
			}
		}
		b := tx.Bucket(bucketNotes)
		if b == nil {
			continue
		}
		prefix := []byte(target + "\x00")
		var keys [][]byte
		cur := b.Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("chat: forget notes: %w", err)
			}
		}
	}
	return nil
}
