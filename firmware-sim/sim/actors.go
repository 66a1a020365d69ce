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

// store is what the actors share: the ledger, the recorder, the cameras'
// video, and the checked-in bookings whose stages the cameras (and staff,
// with a snapshot) post.
type store struct {
	l       *ledger
	observe func(op string, d time.Duration, err error)
	zone    *time.Location
	staffID string // the staff member chats are opened with
	// services are the store's catalogue, read with svc/booking/services:
	// the kiosks book these, in turn.
	services []device.Service
	// scope starts every customer id the simulator books for
	// ("sim-<run>-"), so its bookings are recognisable in a real store.
	scope string
	// firstError is told about errors (the first of each op is logged).
	firstError func(op string, err error)

	// video is the cameras' live video (nil when it is off).
	video *video

	mu      sync.Mutex
	refused map[string]map[string]int // op → refusal (code and reason) → count
	noSlot  map[string]int            // service → availability answers without a free slot
	inRoom  []checkedIn               // checked-in bookings waiting for their stages
	stageOf map[string]string         // booking → last stage claimed
	posting map[string]bool           // bookings whose claimed stage is being posted
}

// checkedIn is a checked-in booking and the resources (tables) it holds.
type checkedIn struct {
	id        string
	resources []string
}

var stages = []string{"bathing", "drying", "styling", "ready"}

// stageClaim is the next stage of a booking, claimed by one device.
type stageClaim struct {
	booking   checkedIn
	stage     string
	prev      string // the stage claimed before, restored by a claim given back
	attempted bool   // the stage was sent: it may be on the broker
}

// claimStage claims the next stage of a checked-in booking: no other
// device posts that stage, and no other stage of the booking is posted
// until release, so a booking's stages reach the broker in order (and
// "ready", after which staff complete the visit, comes last). false: no
// booking has a stage to post now.
func (s *store) claimStage() (*stageClaim, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < len(s.inRoom); {
		b := s.inRoom[i]
		if s.posting[b.id] {
			i++
			continue
		}
		next := 0
		for j, st := range stages {
			if s.stageOf[b.id] == st {
				next = j + 1
			}
		}
		if next >= len(stages) {
			s.inRoom = append(s.inRoom[:i], s.inRoom[i+1:]...)
			continue
		}
		c := &stageClaim{booking: b, stage: stages[next], prev: s.stageOf[b.id]}
		s.stageOf[b.id] = c.stage
		s.posting[b.id] = true
		return c, true
	}
	return nil, false
}

// release ends a claim. A stage that was sent stays claimed whatever the
// answer: a request that failed may still have reached the broker, and
// posting the stage again could store it twice. One never sent is given
// back for the next device.
func (s *store) release(c *stageClaim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.attempted {
		s.stageOf[c.booking.id] = c.prev
	}
	delete(s.posting, c.booking.id)
}

// post sends a claimed stage and records it once acknowledged.
func (s *store) post(ctx context.Context, c *device.Client, claim *stageClaim, note, photo string) error {
	claim.attempted = true
	err := s.timed("booking.progress", func() error {
		_, err := c.Progress(ctx, device.ProgressRequest{Booking: claim.booking.id, Stage: claim.stage, Note: note, Photo: photo})
		return err
	})
	if err == nil {
		s.l.stage(claim.booking.id, claim.stage)
	}
	return err
}

// timed runs one op, timed and recorded under its name. A taken slot
// (conflict) is the store's answer, not a failure.
func (s *store) timed(op string, f func() error) error {
	start := time.Now()
	err := f()
	failed := err
	if errors.Is(err, device.ErrConflict) {
		failed = nil
		s.refuse(op, err) // not a failure, but why nothing was made
	}
	s.record(op, time.Since(start), failed)
	return err
}

// record files one op's latency and outcome.
func (s *store) record(op string, d time.Duration, err error) {
	s.observe(op, d, err)
	if err != nil {
		s.refuse(op, err)
		if s.firstError != nil {
			s.firstError(op, err)
		}
	}
}

// refuse counts one refusal of op by what it was: the code and reason of
// a service's answer, else the error.
func (s *store) refuse(op string, err error) {
	key := err.Error()
	var se *device.Error
	if errors.As(err, &se) {
		key = string(se.Code)
		switch {
		case se.Reason != "":
			key += " (" + se.Reason + ")"
		case se.Message != "":
			// No rule named: the store's words say which.
			key += " (" + se.Message + ")"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]map[string]int{}
	}
	if s.refused[op] == nil {
		s.refused[op] = map[string]int{}
	}
	s.refused[op][key]++
}

type kiosk struct {
	s *store
	c *device.Client
	// first is the kiosk's first service in the catalogue, n how many
	// services it tried, booked how many customers it booked for.
	first, n, booked int
}

func (k *kiosk) step(ctx context.Context) error {
	if len(k.s.services) == 0 {
		return nil
	}
	// The store's services in turn, each kiosk from its own place; a
	// service without a free slot today or tomorrow gives way to the next.
	var service string
	var slots []device.Slot
	for range len(k.s.services) {
		service = k.s.services[(k.n+k.first)%len(k.s.services)].ID
		k.n++
		var av device.Availability
		// No date: the store's today, whatever the simulator's clock says.
		if err := k.s.timed("booking.availability", func() (err error) {
			av, err = k.c.Availability(ctx, device.AvailabilityRequest{Service: service, Days: 2})
			return err
		}); err != nil {
			return err
		}
		for _, d := range av.Days {
			slots = append(slots, d.Slots...)
		}
		if len(slots) > 0 {
			break
		}
		k.s.mu.Lock()
		if k.s.noSlot == nil {
			k.s.noSlot = map[string]int{}
		}
		k.s.noSlot[service]++
		k.s.mu.Unlock()
	}
	if len(slots) == 0 {
		return nil
	}
	k.booked++
	customer := fmt.Sprintf("%s%s-%d", k.s.scope, k.c.ClientID(), k.booked)
	book := func(start time.Time) (b device.Booking, err error) {
		err = k.s.timed("booking.book", func() error {
			b, err = k.c.Book(ctx, device.BookRequest{Service: service, Start: start, Customer: customer})
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
			if err == nil {
				t.s.l.conv(open.Conversation)
			}
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
		r, err := c.ChatSend(ctx, device.ChatSendRequest{Conversation: conv, Kind: device.KindText, Text: &text})
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
	// steps counts every step, nextVideo is the step of the next turn to
	// the cameras.
	steps, nextVideo int
}

func (f *staff) step(ctx context.Context) error {
	if v := f.s.video; v != nil {
		f.steps++
		if f.nextVideo == 0 {
			// Each staff member starts at a point of its own, so that a
			// fleet of staff does not turn to the cameras all at once.
			f.nextVideo = 1 + rand.IntN(v.every)
		}
		if f.steps >= f.nextVideo {
			if did, err := v.turn(ctx, f.s, f.c); did {
				f.nextVideo = f.steps + v.every
				return err
			}
			// No camera to look at, or enough people watching: the
			// usual work, and another try at the next step.
		}
	}
	f.n++
	if f.n%2 == 1 {
		var waiting []device.ConversationView
		if err := f.s.timed("chat.waiting", func() (err error) {
			waiting, err = f.c.ChatWaiting(ctx)
			return err
		}); err != nil {
			return err
		}
		// Only the simulator's own conversations: in a real store the
		// queue holds real customers too.
		var ours []string
		for _, w := range waiting {
			if f.s.l.oursConv(w.Conversation) {
				ours = append(ours, w.Conversation)
			}
		}
		if len(ours) == 0 {
			return nil
		}
		conv := ours[rand.IntN(len(ours))]
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
		if !f.s.l.ours(bk.ID) {
			continue // a real customer's visit
		}
		switch {
		case bk.Status == device.StatusBooked && time.Until(bk.Start) < 3*time.Hour:
			if err := f.s.timed("booking.check_in", func() error {
				_, err := f.c.CheckIn(ctx, bk.ID)
				return err
			}); err != nil {
				return err
			}
			f.s.mu.Lock()
			f.s.inRoom = append(f.s.inRoom, checkedIn{id: bk.ID, resources: bk.Resources})
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
	claim, ok := m.s.claimStage()
	if !ok {
		return nil
	}
	defer m.s.release(claim)
	return m.s.post(ctx, m.c, claim, "all good", "")
}
