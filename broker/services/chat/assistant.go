package chat

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// CardAsk is the type of the assistant's ask-back card (proto.AskCard), and
// IntentAsk the intent its message carries.
const (
	CardAsk   = "ask"
	IntentAsk = "ask"
)

// assist runs the FAQ assistant on a customer's message just stored in c,
// inside the same transaction, so the message and the automatic answer are
// stored together or not at all, and a repeated send repeats neither:
//
//   - a confident FAQ match is answered at once (Auto, with its intent);
//   - a message close to more than one question, or not quite close
//     enough to one, gets an ask-back card (Auto, intent "ask") whose
//     buttons send those questions; like an answer, it neither flags the
//     conversation nor brings the after-hours reply;
//   - a handoff or urgent phrase gets the assistant's reply, flags the
//     conversation for staff and switches the assistant off there;
//   - anything else flags the conversation for staff (waiting); the first
//     time, the customer gets the holding reply;
//   - while the store is closed, a message the assistant did not answer or
//     ask back about gets the after-hours reply saying when staff are back,
//     once per closed period.
//
// It reports the messages it wrote and whether it flagged the conversation.
func (s *Service) assist(w *wbuckets, c *conv, reqID string, p *assistPlan, now time.Time) ([]stored, bool, error) {
	var out []stored
	put := func(n int, kind, intent string, b body) error {
		m := &msg{ID: fmt.Sprintf("auto-%d-%s", n, reqID), From: AssistantID, Kind: kind, TS: now, Auto: true, Intent: intent}
		plain, err := json.Marshal(b)
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
	say := func(n int, text, intent string) error { return put(n, KindText, intent, body{Text: text}) }
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
	case c.Assistant && p.asked:
		card := proto.AskCard{Type: CardAsk, Text: p.reply.Text}
		for _, ch := range p.reply.Choices {
			card.Buttons = append(card.Buttons, proto.AskButton{Text: ch.Question, Intent: ch.Intent})
		}
		cb, err := json.Marshal(card)
		if err != nil {
			return nil, false, fmt.Errorf("chat: encode ask card: %w", err)
		}
		return out, false, put(1, KindCard, IntentAsk, body{Card: cb})
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
