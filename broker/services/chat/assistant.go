package chat

import (
	"encoding/json"
	"fmt"
	"time"
)

// assist runs the FAQ assistant on a customer's message just stored in c,
// inside the same transaction, so the message and the automatic answer are
// stored together or not at all, and a repeated send repeats neither:
//
//   - a confident FAQ match is answered at once (Auto, with its intent);
//   - a handoff or urgent phrase gets the assistant's reply, flags the
//     conversation for staff and switches the assistant off there;
//   - anything else flags the conversation for staff (waiting); the first
//     time, the customer gets the holding reply;
//   - while the store is closed, a message that was not answered gets the
//     after-hours reply saying when staff are back, once per closed period.
//
// It reports the messages it wrote and whether it flagged the conversation.
func (s *Service) assist(w *wbuckets, c *conv, reqID string, p *assistPlan, now time.Time) ([]stored, bool, error) {
	var out []stored
	say := func(n int, text, intent string) error {
		m := &msg{ID: fmt.Sprintf("auto-%d-%s", n, reqID), From: AssistantID, Kind: KindText, TS: now, Auto: true, Intent: intent}
		plain, err := json.Marshal(body{Text: text})
		if err != nil {
			return fmt.Errorf("chat: encode body: %w", err)
		}
		seq, err := s.putMessage(w, c, m, plain)
		if err != nil {
			return err
		}
		out = append(out, stored{seq, m})
		return nil
	}
	flag := func() (bool, error) {
		if c.Waiting != nil {
			return false, nil
		}
		c.Waiting = &now
		if err := w.waits.Put([]byte(c.ID), u64(uint64(now.UnixMilli()))); err != nil {
			return false, fmt.Errorf("chat: flag waiting: %w", err)
		}
		return true, nil
	}
	flagged := false
	var err error
	switch {
	case c.Assistant && p.answered:
		return out, false, say(1, p.reply.Text, p.reply.Intent)
	case c.Assistant && p.handoff:
		c.Assistant = false
		if flagged, err = flag(); err != nil {
			return nil, false, err
		}
		if err := say(1, p.reply.Text, p.reply.Intent); err != nil {
			return nil, false, err
		}
	default:
		if flagged, err = flag(); err != nil {
			return nil, false, err
		}
		if flagged && c.Assistant && !p.closedNow {
			if err := say(1, p.reply.Text, ""); err != nil {
				return nil, false, err
			}
		}
	}
	if p.closedNow && (c.ClosedNote == nil || p.faq.Hours().NextOpen(*c.ClosedNote) != p.nextOpen) {
		c.ClosedNote = &now
		if err := say(2, p.closed, "after_hours"); err != nil {
			return nil, false, err
		}
	}
	return out, flagged, nil
}
