package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/storeedge/storeedge/proto"
)

// Kinds of entries a store files.
const (
	KindChat      = "chat"      // a chat message: chat/{conv}/hq, proto.HQChatEntry, stream chat
	KindBooking   = "booking"   // a booking change: booking/changes, proto.Change, stream booking
	KindTelemetry = "telemetry" // device telemetry: devices/{id}/telemetry, stream telemetry (no sseq)
	// KindAnswer is the store's answer to HQ's resync request: sync/answer,
	// proto.ResyncAnswer, stream booking. Filed by the store itself.
	KindAnswer = "answer"
)

// Entry is one outbox entry of a simulated store.
type Entry struct {
	Seq    uint64 // the outbox sequence (PropSeq)
	Origin string // PropOrigin: {epoch}/{explicit origin or seq}
	Stream string // PropStream
	SSeq   uint64 // PropSSeq; 0 for telemetry
	Topic  string // the local topic
	Stored time.Time
	// Kind and the payload's keys: Conversation and ChatSeq for a chat
	// message, ChangeSeq for a booking change.
	Kind         string
	Conversation string
	ChatSeq      uint64
	ChangeSeq    uint64
	Payload      []byte
	// Acked is when HQ's broker acknowledged it (zero: not yet).
	Acked time.Time
	// Sends counts the times it was published (more than one after a cut).
	Sends int
}

// Store is one simulated store's uplink.
type Store struct {
	ID    string
	Epoch string
	o     *Options

	mu         sync.Mutex
	entries    []*Entry
	acked      int          // entries[:acked] are acknowledged (a window of one)
	since      atomic.Value // time.Time: the current connection's start (its Will's time)
	sseq       map[string]uint64
	chatSeq    map[string]uint64
	changeSeq  uint64
	held       bool          // the link is cut by the test
	kick       chan struct{} // wakes the sender: a new entry, a cut, a reconnect
	conn       net.Conn      // the live connection, to cut it
	wasBacked  bool          // a backlog was reported since the last empty one
	resend     []*Entry      // entries HQ asked for again, sent before the next new one
	answered   map[string]bool
	lastChange map[string]proto.Change // booking → its latest change, for a snapshot
	resyncs    atomic.Int64

	sends     atomic.Int64
	connects  atomic.Int64
	connected atomic.Bool
	errors    atomic.Uint64
	lastErr   atomic.Value // string
}

func newStore(id string, o *Options) (*Store, error) {
	epoch, err := newEpoch()
	if err != nil {
		return nil, err
	}
	return &Store{ID: id, Epoch: epoch, o: o, sseq: map[string]uint64{}, chatSeq: map[string]uint64{},
		kick: make(chan struct{}, 1), answered: map[string]bool{}, lastChange: map[string]proto.Change{}}, nil
}

func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// File files one entry of kind at the store's clock.
func (s *Store) File(kind string) (Entry, error) {
	return s.FileAt(kind, s.o.Clock())
}

// FileSpan files n entries of the kinds in turn, stamped evenly over the
// span that ends at the store's clock: what a store offline that long
// filed meanwhile.
func (s *Store) FileSpan(n int, span time.Duration, kinds ...string) error {
	if len(kinds) == 0 {
		kinds = []string{KindChat, KindBooking, KindTelemetry}
	}
	end := s.o.Clock()
	for i := range n {
		at := end.Add(-span + span*time.Duration(i)/time.Duration(max(n, 1)))
		if _, err := s.FileAt(kinds[i%len(kinds)], at); err != nil {
			return err
		}
	}
	return nil
}

// FileAt files one entry of kind stored at at: the next outbox sequence,
// and for chat and booking the next sequence of the stream.
func (s *Store) FileAt(kind string, at time.Time) (Entry, error) {
	s.mu.Lock()
	e, err := s.fileLocked(kind, at, nil)
	s.mu.Unlock()
	if err != nil {
		return Entry{}, err
	}
	s.wake()
	return e, nil
}

// fileLocked files an entry; body, when not nil, is the payload of a
// KindBooking (a snapshot) or KindAnswer entry. The caller holds s.mu.
func (s *Store) fileLocked(kind string, at time.Time, body any) (Entry, error) {
	seq := uint64(len(s.entries)) + 1
	e := &Entry{Seq: seq, Kind: kind, Stored: at.UTC()}
	explicit := ""
	switch {
	case kind == KindAnswer:
		e.Stream, e.Topic = proto.StreamBooking, proto.TopicSyncAnswer
		a := body.(proto.ResyncAnswer)
		explicit = "sync/" + a.ID
	case kind == KindBooking && body != nil:
		e.Stream, e.Topic = proto.StreamBooking, "booking/changes"
		c := body.(proto.Change)
		explicit = "snapshot/" + c.Booking + "/" + strconv.FormatUint(seq, 10)
	case kind == KindChat:
		conv := fmt.Sprintf("c-%s-%d", s.ID, int(seq)%s.o.Conversations+1)
		s.chatSeq[conv]++
		n := s.chatSeq[conv]
		e.Stream, e.Topic, e.Conversation, e.ChatSeq = proto.StreamChat, "chat/"+conv+"/hq", conv, n
		explicit = conv + "/" + strconv.FormatUint(n, 10)
		from, text := "cust-"+conv, chatLines[int(n)%len(chatLines)]
		if n%2 == 0 {
			from, text = "staff-1", staffLines[int(n)%len(staffLines)]
		}
		body = proto.HQChatEntry{V: 1, Type: "message", Origin: explicit, Conversation: conv,
			Customer: "cust-" + conv, Seq: n, ID: fmt.Sprintf("m-%s-%d", conv, n), From: from,
			Kind: "text", TS: e.Stored, Text: text}
	case kind == KindBooking:
		s.changeSeq++
		n := s.changeSeq
		e.Stream, e.Topic, e.ChangeSeq = proto.StreamBooking, "booking/changes", n
		explicit = "booking/" + strconv.FormatUint(n, 10)
		// Every third change makes a booking, the two after it move and
		// then complete it.
		b := (n + 2) / 3
		typ, status := proto.ChangeCreated, "confirmed"
		switch n % 3 {
		case 2:
			typ = proto.ChangeRescheduled
		case 0:
			typ, status = proto.ChangeCompleted, "completed"
		}
		start := e.Stored.Truncate(time.Hour).Add(24 * time.Hour)
		body = proto.Change{V: 1, Seq: n, Type: typ, Booking: fmt.Sprintf("b-%s-%d", s.ID, b),
			Customer: fmt.Sprintf("cust-%s-%d", s.ID, b%7), Service: services[int(b)%len(services)],
			Start: start, End: start.Add(time.Hour), Status: status, Resources: []string{"table-1"},
			Source: "kiosk", Rev: int((n-1)%3) + 1, TS: e.Stored}
		s.lastChange[body.(proto.Change).Booking] = body.(proto.Change)
	case kind == KindTelemetry:
		e.Stream, e.Topic = "telemetry", "devices/kiosk-1/telemetry"
		body = map[string]any{"v": 1, "ts": e.Stored, "battery": 0.5 + float64(seq%50)/100, "temp_c": 38 + float64(seq%40)/10}
	default:
		return Entry{}, fmt.Errorf("fleet: unknown kind %q", kind)
	}
	if e.Stream == proto.StreamChat || e.Stream == proto.StreamBooking {
		s.sseq[e.Stream]++
		e.SSeq = s.sseq[e.Stream]
	}
	if explicit == "" {
		explicit = strconv.FormatUint(seq, 10)
	}
	e.Origin = s.Epoch + "/" + explicit
	p, err := json.Marshal(body)
	if err != nil {
		return Entry{}, fmt.Errorf("fleet: %w", err)
	}
	e.Payload = p
	s.entries = append(s.entries, e)
	return *e, nil
}

var (
	chatLines  = []string{"你好，周六下午还能给泰迪洗澡吗？", "Can I book a nail trim for Saturday?", "宝宝游泳需要带什么？", "Is the groomer free at 3pm?"}
	staffLines = []string{"可以的，下午三点有空位。", "Yes, 3pm is free — shall I book it?", "带一条毛巾就好。", "Booked, see you then!"}
	services   = []string{"bath-small", "groom-full", "nail-trim", "baby-swim"}
)

// Entries is a copy of what the store filed, in sequence order.
func (s *Store) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, len(s.entries))
	for i, e := range s.entries {
		out[i] = *e
	}
	return out
}

// Backlog is how many entries wait for HQ's broker's acknowledgement.
func (s *Store) Backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries) - s.acked + len(s.resend)
}

// Connected says whether the store is linked to HQ's broker now.
func (s *Store) Connected() bool { return s.connected.Load() }

// Cut drops the store's link without a DISCONNECT (HQ's broker sends its
// Will) and keeps it down until Restore.
func (s *Store) Cut() {
	s.mu.Lock()
	s.held = true
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	s.connected.Store(false)
	s.wake()
}

// Restore lets the store link again.
func (s *Store) Restore() {
	s.mu.Lock()
	s.held = false
	s.mu.Unlock()
	s.wake()
}

// work files entries at the configured rate: half chat messages, a third
// booking changes, the rest telemetry.
func (s *Store) work(ctx context.Context, delay time.Duration) {
	every := time.Duration(float64(time.Minute) / s.o.Rate)
	t := time.NewTimer(delay + jitter(every))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		kind := KindChat
		switch i % 6 {
		case 3, 4:
			kind = KindBooking
		case 5:
			kind = KindTelemetry
		}
		if _, err := s.File(kind); err != nil {
			s.o.Log.Error("fleet: file", "store", s.ID, "err", err)
			return
		}
		t.Reset(jitter(every))
	}
}

// run keeps the store linked to HQ's broker and sends its entries until
// ctx ends.
func (s *Store) run(ctx context.Context, delay time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(delay):
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if s.isHeld() {
			select {
			case <-ctx.Done():
				return
			case <-s.kick:
			}
			continue
		}
		err := s.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.errors.Add(1)
			s.lastErr.Store(err.Error())
			s.o.Log.Debug("fleet: link down", "store", s.ID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(backoff)):
		}
		backoff = min(backoff*2, 5*time.Second)
		if err == nil {
			backoff = 100 * time.Millisecond
		}
	}
}

func (s *Store) isHeld() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// status is the store's presence now.
func (s *Store) status(online bool, at time.Time) []byte {
	s.mu.Lock()
	st := proto.StoreStatus{V: 1, Store: s.ID, Online: online, Epoch: s.Epoch, Version: s.o.Version,
		Errors: s.errors.Load(), TS: at.UTC()}
	if since, ok := s.since.Load().(time.Time); ok && online {
		st.Since = &since
	}
	for _, e := range append(s.entries[s.acked:len(s.entries):len(s.entries)], s.resend...) {
		st.Backlog++
		st.BacklogBytes += int64(len(e.Payload))
	}
	for _, e := range append(s.resend[:len(s.resend):len(s.resend)], s.entries[s.acked:]...) {
		if st.OldestAt == nil || e.Stored.Before(*st.OldestAt) {
			oldest := e.Stored
			st.OldestAt = &oldest
		}
	}
	s.mu.Unlock()
	if v, ok := s.lastErr.Load().(string); ok {
		st.LastError = v
	}
	b, _ := json.Marshal(st) // plain struct: cannot fail
	return b
}

// willPayload is the Will cloudsync leaves on HQ's broker.
func (s *Store) willPayload(at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"v": 1, "store": s.ID, "online": false, "ts": at.UTC()})
	return b
}

var errCut = errors.New("fleet: link cut")

// session is one connection: connect with the Will, announce presence,
// send from the first unacknowledged entry on.
func (s *Store) session(ctx context.Context) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", s.o.Broker)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	s.mu.Lock()
	if s.held {
		s.mu.Unlock()
		conn.Close()
		return errCut
	}
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		s.connected.Store(false)
		conn.Close()
	}()
	down := make(chan struct{})
	var once sync.Once
	lost := func() { once.Do(func() { close(down) }) }
	c := paho.NewClient(paho.ClientConfig{
		ClientID: "store-" + s.ID,
		Conn:     conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			s.down(pr.Packet)
			return true, nil
		}},
		OnClientError:      func(error) { lost() },
		OnServerDisconnect: func(*paho.Disconnect) { lost() },
	})
	statusTopic := proto.CloudStatusTopic(s.ID)
	// The Will carries the connect time; so does the connection's first
	// presence, which starts HQ's online run: HQ takes a Will only when it
	// is not older than the run it would end (an old connection's Will that
	// comes late changes nothing), and this connection's own Will is
	// exactly as old as its run.
	connectedAt := s.o.Clock()
	s.since.Store(connectedAt.UTC())
	cp := &paho.Connect{
		ClientID:   "store-" + s.ID,
		KeepAlive:  30,
		CleanStart: true,
		WillMessage: &paho.WillMessage{Retain: true, QoS: 1, Topic: statusTopic,
			Payload: s.willPayload(connectedAt)},
	}
	if s.o.Username != "" {
		cp.Username, cp.UsernameFlag = s.o.Username, true
		cp.Password, cp.PasswordFlag = []byte(s.o.Password), true
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ca, err := c.Connect(cctx, cp)
	cancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if ca.ReasonCode != 0 {
		return fmt.Errorf("connect: refused 0x%02x", ca.ReasonCode)
	}
	s.connects.Add(1)
	s.mu.Lock()
	if s.held {
		s.mu.Unlock()
		return errCut
	}
	s.connected.Store(true)
	s.mu.Unlock()
	publish := func(p *paho.Publish) error {
		pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		r, err := c.Publish(pctx, p)
		if err != nil {
			return err
		}
		if r != nil && r.ReasonCode >= 0x80 {
			return fmt.Errorf("publish %s refused: 0x%02x", p.Topic, r.ReasonCode)
		}
		return nil
	}
	sendStatus := func() error {
		return publish(&paho.Publish{Topic: statusTopic, QoS: 1, Retain: true, Payload: s.status(true, s.o.Clock())})
	}
	err = publish(&paho.Publish{Topic: statusTopic, QoS: 1, Retain: true, Payload: s.status(true, connectedAt)})
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = c.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "stores/" + s.ID + "/down/#", QoS: 1, RetainHandling: 1}}})
	cancel()
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	tick := time.NewTicker(s.o.StatusEvery)
	defer tick.Stop()
	for {
		s.mu.Lock()
		held := s.held
		var next *Entry
		again := len(s.resend) > 0
		switch {
		case again:
			next = s.resend[0]
		case s.acked < len(s.entries):
			next = s.entries[s.acked]
		}
		if next != nil {
			next.Sends++
			s.wasBacked = true
		}
		empty := next == nil && s.wasBacked
		if empty {
			s.wasBacked = false
		}
		s.mu.Unlock()
		if held {
			return errCut
		}
		if empty {
			// The backlog emptied: say so at once.
			if err := sendStatus(); err != nil {
				return fmt.Errorf("status: %w", err)
			}
		}
		if next == nil {
			select {
			case <-ctx.Done():
				_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
				return nil
			case <-down:
				return errors.New("connection lost")
			case <-s.kick:
			case <-tick.C:
				if err := sendStatus(); err != nil {
					return fmt.Errorf("status: %w", err)
				}
			}
			continue
		}
		s.sends.Add(1)
		if err := publish(s.packet(next)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("publish seq %d: %w", next.Seq, err)
		}
		s.mu.Lock()
		switch {
		case again && len(s.resend) > 0 && s.resend[0] == next:
			s.resend = s.resend[1:]
		case !again && s.acked < len(s.entries) && s.entries[s.acked] == next:
			next.Acked = time.Now()
			s.acked++
		}
		s.mu.Unlock()
		select {
		case <-tick.C:
			if err := sendStatus(); err != nil {
				return fmt.Errorf("status: %w", err)
			}
		default:
		}
	}
}

// packet is the entry as cloudsync publishes it on HQ's broker.
func (s *Store) packet(e *Entry) *paho.Publish {
	u := paho.UserProperties{
		{Key: proto.PropStore, Value: s.ID},
		{Key: proto.PropOrigin, Value: e.Origin},
		{Key: proto.PropSeq, Value: strconv.FormatUint(e.Seq, 10)},
		{Key: proto.PropStored, Value: e.Stored.UTC().Format(time.RFC3339Nano)},
		{Key: proto.PropEpoch, Value: s.Epoch},
		{Key: proto.PropStream, Value: e.Stream},
	}
	if e.SSeq > 0 {
		u = append(u, paho.UserProperty{Key: proto.PropSSeq, Value: strconv.FormatUint(e.SSeq, 10)})
	}
	return &paho.Publish{Topic: proto.CloudUpTopic(s.ID, e.Topic), QoS: 1, Payload: e.Payload,
		Properties: &paho.PublishProperties{User: u}}
}

// down takes a message from HQ. A resync request of a range files the
// kept entries again (same origin, same sseq) and answers "resent"; a
// snapshot request files every booking's latest state as a snapshot
// change and answers "snapshot". A request is answered once by its id.
func (s *Store) down(p *paho.Publish) {
	if p.Topic != proto.CloudDownTopic(s.ID, "sync/resync") {
		return
	}
	var r proto.ResyncRequest
	if err := json.Unmarshal(p.Payload, &r); err != nil || r.ID == "" {
		s.o.Log.Warn("fleet: bad resync request", "store", s.ID, "payload", string(p.Payload), "err", err)
		return
	}
	now := s.o.Clock()
	s.mu.Lock()
	defer func() { s.mu.Unlock(); s.wake() }()
	if s.answered[r.ID] {
		return
	}
	s.answered[r.ID] = true
	s.resyncs.Add(1)
	a := proto.ResyncAnswer{V: 1, ID: r.ID, Stream: r.Stream, From: r.From, To: r.To, TS: now.UTC()}
	if r.Snapshot {
		a.Status = proto.ResyncSnapshot
		for _, id := range slices.Sorted(maps.Keys(s.lastChange)) {
			c := s.lastChange[id]
			c.Seq, c.Type, c.TS = 0, proto.ChangeSnapshot, now.UTC()
			if _, err := s.fileLocked(KindBooking, now, c); err != nil {
				s.o.Log.Error("fleet: snapshot", "store", s.ID, "err", err)
				return
			}
			a.Count++
		}
	} else {
		a.Status = proto.ResyncResent
		for _, e := range s.entries {
			if e.Stream == r.Stream && e.SSeq >= r.From && e.SSeq <= r.To {
				s.resend = append(s.resend, e)
				a.Count++
			}
		}
	}
	if _, err := s.fileLocked(KindAnswer, now, a); err != nil {
		s.o.Log.Error("fleet: resync answer", "store", s.ID, "err", err)
	}
}

// Resyncs is how many resync requests the store answered.
func (s *Store) Resyncs() int64 { return s.resyncs.Load() }
