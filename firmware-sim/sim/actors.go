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

// call runs one op, timed and recorded under its name.
func (s *store) call(ctx context.Context, c *device.Client, service, op string, req, resp any, opts ...device.CallOption) error {
	start := time.Now()
	err := c.Do(ctx, service, op, req, resp, opts...)
	failed := err
	if errors.Is(err, device.ErrConflict) {
		failed = nil // a taken slot is the store's answer, not a failure
	}
	s.observe(service+"."+op, time.Since(start), failed)
	if failed != nil && s.firstError != nil {
		s.firstError(service+"."+op, err)
	}
	return err
}

type kiosk struct {
	s *store
	c *device.Client
	n int
}

type slot struct {
	Start time.Time `json:"start"`
}

func (k *kiosk) step(ctx context.Context) error {
	today := time.Now().In(k.s.zone).Format(time.DateOnly)
	var av struct {
		Days []struct{ Slots []slot } `json:"days"`
	}
	if err := k.s.call(ctx, k.c, "booking", "availability", map[string]any{"service": "quick-groom", "date": today, "days": 2}, &av); err != nil {
		return err
	}
	var slots []slot
	for _, d := range av.Days {
		slots = append(slots, d.Slots...)
	}
	if len(slots) == 0 {
		return nil
	}
	k.n++
	customer := fmt.Sprintf("cust-%s-%d", k.c.ClientID(), k.n)
	start := slots[rand.IntN(min(len(slots), 12))].Start
	var b struct {
		Booking struct{ ID string } `json:"booking"`
	}
	err := k.s.call(ctx, k.c, "booking", "book", map[string]any{"service": "quick-groom", "start": start, "customer": customer}, &b)
	var se *device.Error
	if errors.As(err, &se) && se.Code == device.ErrConflict && len(se.Alternatives) > 0 {
		// Taken meanwhile by another kiosk: the customer picks the first
		// alternative offered.
		err = k.s.call(ctx, k.c, "booking", "book", map[string]any{"service": "quick-groom", "start": se.Alternatives[0].Start, "customer": customer}, &b)
		if errors.As(err, &se) && se.Code == device.ErrConflict {
			return nil // a busy store: the customer walks away
		}
	}
	if err != nil {
		return err
	}
	k.s.l.booking(b.Booking.ID, customer)
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
		var open struct{ Conversation string }
		members := []string{}
		if t.s.staffID != "" {
			members = append(members, t.s.staffID)
		}
		if err := t.s.call(ctx, t.c, "chat", "open", map[string]any{"members": members}, &open); err != nil {
			return err
		}
		t.conv = open.Conversation
	}
	id := device.NewID()
	if err := t.s.call(ctx, t.c, "chat", "send", map[string]any{"conversation": t.conv, "kind": "text", "text": phrases[rand.IntN(len(phrases))]},
		nil, device.WithID(id), device.InLane("chat/"+t.conv)); err != nil {
		return err
	}
	t.s.l.message(t.conv, id)
	return nil
}

type staff struct {
	s *store
	c *device.Client
	n int
}

type boardEntry struct {
	ID     string    `json:"id"`
	Status string    `json:"status"`
	Stage  string    `json:"stage"`
	Start  time.Time `json:"start"`
}

func (f *staff) step(ctx context.Context) error {
	f.n++
	if f.n%2 == 1 {
		var w struct {
			Conversations []struct{ Conversation string } `json:"conversations"`
		}
		if err := f.s.call(ctx, f.c, "chat", "waiting", nil, &w); err != nil {
			return err
		}
		if len(w.Conversations) == 0 {
			return nil
		}
		conv := w.Conversations[rand.IntN(len(w.Conversations))].Conversation
		// Staff who see every conversation join it by opening it.
		if err := f.s.call(ctx, f.c, "chat", "open", map[string]any{"conversation": conv}, nil); err != nil {
			return err
		}
		id := device.NewID()
		if err := f.s.call(ctx, f.c, "chat", "send", map[string]any{"conversation": conv, "kind": "text", "text": "您好，我是店员，马上为您处理。"},
			nil, device.WithID(id), device.InLane("chat/"+conv)); err != nil {
			return err
		}
		f.s.l.message(conv, id)
		return nil
	}
	var b struct {
		Bookings []boardEntry `json:"bookings"`
	}
	if err := f.s.call(ctx, f.c, "booking", "board", map[string]any{"date": time.Now().In(f.s.zone).Format(time.DateOnly)}, &b); err != nil {
		return err
	}
	for _, bk := range b.Bookings {
		switch {
		case bk.Status == "booked" && time.Until(bk.Start) < 3*time.Hour:
			if err := f.s.call(ctx, f.c, "booking", "check_in", map[string]any{"booking": bk.ID}, nil, device.InLane("booking/"+bk.ID)); err != nil {
				return err
			}
			f.s.mu.Lock()
			f.s.inRoom = append(f.s.inRoom, bk.ID)
			f.s.mu.Unlock()
			return nil
		case bk.Status == "checked_in" && bk.Stage == "ready":
			return f.s.call(ctx, f.c, "booking", "complete", map[string]any{"booking": bk.ID}, nil, device.InLane("booking/"+bk.ID))
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
	err := m.s.call(ctx, m.c, "booking", "progress", map[string]any{"booking": bk, "stage": stages[next], "note": "all good"}, nil, device.InLane("booking/"+bk))
	if err != nil {
		return err
	}
	m.s.l.stage(bk, stages[next])
	return nil
}
