package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/storeedge/storeedge/device"
)

// actor is one simulated device's behaviour: step does one piece of its
// day (one or a few service calls).
type actor interface {
	step(ctx context.Context) error
}

// store is what the actors share: the ledger, the recorder, and the
// checked-in bookings the staff hand to the cameras.
type store struct {
	l       *ledger
	observe func(op string, d time.Duration, err error)
	zone    *time.Location
	staffID string // the staff member chats are opened with
	// firstError is told about errors (the first of each op is logged).
	firstError func(op string, err error)

	mu      sync.Mutex
	inRoom  []string          // checked-in bookings waiting for a camera
	stageOf map[string]string // booking → last stage a camera posted
}

var stages = []string{"bathing", "drying", "styling", "ready"}

// timed runs one op, timed and recorded under its name. A taken slot
// (conflict) is the store's answer, not a failure.
func (s *store) timed(op string, f func() error) error {
	start := time.Now()
	err := f()
	failed := err
	if errors.Is(err, device.ErrConflict) {
		failed = nil
	}
	s.observe(op, time.Since(start), failed)
	if failed != nil && s.firstError != nil {
		s.firstError(op, err)
	}
	return err
}

type kiosk struct {
	s *store
	c *device.Client
	n int
}

func (k *kiosk) step(ctx context.Context) error {
	today := time.Now().In(k.s.zone).Format(time.DateOnly)
	var av device.Availability
	if err := k.s.timed("booking.availability", func() (err error) {
		av, err = k.c.Availability(ctx, device.AvailabilityRequest{Service: "quick-groom", Date: today, Days: 2})
		return err
	}); err != nil {
		return err
	}
	var slots []device.Slot
	for _, d := range av.Days {
		slots = append(slots, d.Slots...)
	}
	if len(slots) == 0 {
		return nil
	}
	k.n++
	customer := fmt.Sprintf("cust-%s-%d", k.c.ClientID(), k.n)
	book := func(start time.Time) (b device.Booking, err error) {
		err = k.s.timed("booking.book", func() error {
			b, err = k.c.Book(ctx, device.BookRequest{Service: "quick-groom", Start: start, Customer: customer})
			return err
		})
		return b, err
	}
	b, err := book(slots[rand.IntN(min(len(slots), 12))].Start)
	var se *device.Error
	if errors.As(err, &se) && se.Code == device.ErrConflict && len(se.Alternatives) > 0 {
		// Taken meanwhile by another kiosk: the customer picks the first
		// alternative offered.
		b, err = book(se.Alternatives[0].Start)
		if errors.Is(err, device.ErrConflict) {
			return nil // a busy store: the customer walks away
		}
	}
	if err != nil {
		return err
	}
	k.s.l.booking(b.ID, customer)
	return nil
}

var phrases = []string{
	"你好，请问今天还能约洗澡吗？", "How long does a bath take for a small dog?", "我家狗狗皮肤有点红，可以洗吗？",
	"Do you sell puppy food?", "营业时间是几点？", "Can I watch my dog being groomed?", "价格是多少？",
	"Is the baby pool heated?", "谢谢！", "human please",
}

type tablet struct {
	s    *store
	c    *device.Client
	conv string
}

func (t *tablet) step(ctx context.Context) error {
	if t.conv == "" {
		var members []string
		if t.s.staffID != "" {
			members = append(members, t.s.staffID)
		}
		if err := t.s.timed("chat.open", func() error {
			open, err := t.c.ChatOpen(ctx, device.ChatOpenRequest{Members: members})
			t.conv = open.Conversation
			return err
		}); err != nil {
			return err
		}
	}
	return t.s.send(ctx, t.c, t.conv, phrases[rand.IntN(len(phrases))])
}

// send sends a chat text and records it once acknowledged.
func (s *store) send(ctx context.Context, c *device.Client, conv, text string) error {
	return s.timed("chat.send", func() error {
		r, err := c.ChatSend(ctx, device.ChatSendRequest{Conversation: conv, Kind: device.KindText, Text: text})
		if err == nil {
			s.l.message(conv, r.ID)
		}
		return err
	})
}

type staff struct {
	s *store
	c *device.Client
	n int
}

func (f *staff) step(ctx context.Context) error {
	f.n++
	if f.n%2 == 1 {
		var waiting []device.ConversationView
		if err := f.s.timed("chat.waiting", func() (err error) {
			waiting, err = f.c.ChatWaiting(ctx)
			return err
		}); err != nil || len(waiting) == 0 {
			return err
		}
		conv := waiting[rand.IntN(len(waiting))].Conversation
		// Staff who see every conversation join it by opening it.
		if err := f.s.timed("chat.open", func() error {
			_, err := f.c.ChatOpen(ctx, device.ChatOpenRequest{Conversation: conv})
			return err
		}); err != nil {
			return err
		}
		return f.s.send(ctx, f.c, conv, "您好，我是店员，马上为您处理。")
	}
	var board device.Board
	if err := f.s.timed("booking.board", func() (err error) {
		board, err = f.c.Board(ctx, time.Now().In(f.s.zone).Format(time.DateOnly))
		return err
	}); err != nil {
		return err
	}
	for _, bk := range board.Bookings {
		switch {
		case bk.Status == device.StatusBooked && time.Until(bk.Start) < 3*time.Hour:
			if err := f.s.timed("booking.check_in", func() error {
				_, err := f.c.CheckIn(ctx, bk.ID)
				return err
			}); err != nil {
				return err
			}
			f.s.mu.Lock()
			f.s.inRoom = append(f.s.inRoom, bk.ID)
			f.s.mu.Unlock()
			return nil
		case bk.Status == device.StatusCheckedIn && bk.Stage == "ready":
			return f.s.timed("booking.complete", func() error {
				_, err := f.c.Complete(ctx, bk.ID)
				return err
			})
		}
	}
	return nil
}

type camera struct {
	s *store
	c *device.Client
}

func (m *camera) step(ctx context.Context) error {
	m.s.mu.Lock()
	if len(m.s.inRoom) == 0 {
		m.s.mu.Unlock()
		return nil
	}
	bk := m.s.inRoom[0]
	next := 0
	for i, st := range stages {
		if m.s.stageOf[bk] == st {
			next = i + 1
		}
	}
	if next >= len(stages) {
		m.s.inRoom = m.s.inRoom[1:]
		m.s.mu.Unlock()
		return nil
	}
	m.s.stageOf[bk] = stages[next] // claimed: no other camera posts it
	m.s.mu.Unlock()
	if err := m.s.timed("booking.progress", func() error {
		_, err := m.c.Progress(ctx, device.ProgressRequest{Booking: bk, Stage: stages[next], Note: "all good"})
		return err
	}); err != nil {
		return err
	}
	m.s.l.stage(bk, stages[next])
	return nil
}
