package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// measureWindow is the interval [t0, t1) on the bench clock in which events
// are counted towards throughput and latency.
type measureWindow struct{ t0, t1 int64 }

func (w measureWindow) in(t int64) bool { return t >= w.t0 && t < w.t1 }

// Gate tuning: a publisher pauses while a subscriber it feeds has backlog or
// more messages outstanding; if that subscriber then receives nothing for
// gateStall, the outstanding messages are written off as lost so the run
// goes on.
const (
	gatePause = 200 * time.Microsecond
	gateStall = 500 * time.Millisecond
)

// subscriber receives and checks messages from a set of publishers.
type subscriber struct {
	cl  *mqttClient
	win measureWindow

	mu       sync.Mutex
	tracks   []seqTrack // indexed by publisher
	inWindow int64      // distinct deliveries that arrived inside win
	lat      []int64    // publish→receive, ns, for those deliveries
	foreign  int64      // messages without our header

	delivered    atomic.Int64 // distinct deliveries, for gating and draining
	expected     atomic.Int64 // messages sent (and not refused) towards it
	writtenOff   atomic.Int64 // gate write-offs (see gateStall)
	lastProgress atomic.Int64 // bench clock of the last new delivery
}

func newSubscriber(numPubs int, win measureWindow) *subscriber {
	s := &subscriber{tracks: make([]seqTrack, numPubs), win: win}
	s.lastProgress.Store(clock())
	return s
}

// onPublish is the paho handler; it runs on the client's routing goroutine.
func (s *subscriber) onPublish(p *paho.Publish) {
	now := clock()
	pub, seq, sendNs, ok := parsePayload(p.Payload)
	s.mu.Lock()
	if !ok || int(pub) >= len(s.tracks) {
		s.foreign++
		s.mu.Unlock()
		return
	}
	dup := s.tracks[pub].add(seq)
	if !dup && s.win.in(now) {
		s.inWindow++
		s.lat = append(s.lat, now-sendNs)
	}
	s.mu.Unlock()
	if !dup {
		s.delivered.Add(1)
		s.lastProgress.Store(now)
	}
}

// lag is the number of messages sent towards s and not yet accounted for.
func (s *subscriber) lag() int64 {
	return s.expected.Load() - s.delivered.Load() - s.writtenOff.Load()
}

// pendingMsg is one QoS 1 publish waiting for its PUBACK.
type pendingMsg struct {
	seq    uint64
	sendNs int64
}

// publisher sends numbered messages to one topic, as fast as its window,
// the gate and the broker allow.
type publisher struct {
	idx      uint32
	topic    string
	qos      byte
	subs     []*subscriber // the subscribers that receive this topic
	backlog  int64         // gate threshold per subscriber; 0 = no gate
	limit    uint64        // stop after this many messages; 0 = no limit
	interval int64         // pacing: ns between publishes; 0 = as fast as possible
	win      measureWindow
	cl       *mqttClient

	sent   atomic.Uint64 // messages handed to the connection (seq 0..sent-1)
	errors atomic.Int64  // publish calls that failed

	// QoS 1 only.
	window      chan struct{} // one token per unacknowledged message
	acks        chan packets.ControlPacket
	outstanding atomic.Int64
	ackTotal    atomic.Int64 // PUBACKs received, for the -v timeline
	mu          sync.Mutex
	pending     map[uint16]pendingMsg
	// Owned by the acker goroutine; read only after it has exited.
	acked    bitset
	ackCount int64
	nacks    int64 // PUBACK reason >= 0x80
	inWindow int64
	lat      []int64 // publish→PUBACK, ns
}

func newPublisher(idx int, topic string, qos byte, window int, win measureWindow) *publisher {
	p := &publisher{idx: uint32(idx), topic: topic, qos: qos, win: win}
	if qos > 0 {
		p.window = make(chan struct{}, window)
		// Room for every possible response, so paho never blocks on it
		// (it sends while holding its session lock).
		p.acks = make(chan packets.ControlPacket, 2*window+16)
		p.pending = make(map[uint16]pendingMsg, window)
	}
	return p
}

// clientCfg returns the connection settings for this publisher.
func (p *publisher) clientCfg(id string) clientCfg {
	c := clientCfg{id: id, cleanStart: true, receiveMax: 16}
	if p.qos > 0 {
		c.acks = p.acks
		c.onSent = p.onSent
	}
	return c
}

// onSent records the packet id of a QoS 1 publish before it is written.
func (p *publisher) onSent(pb *packets.Publish) {
	_, seq, sendNs, _ := parsePayload(pb.Payload)
	p.mu.Lock()
	p.pending[pb.PacketID] = pendingMsg{seq: seq, sendNs: sendNs}
	p.mu.Unlock()
}

// runAcker consumes PUBACKs until done is closed.
func (p *publisher) runAcker(done <-chan struct{}) {
	for {
		select {
		case cp := <-p.acks:
			p.handleAck(cp)
		case <-done:
			return
		}
	}
}

func (p *publisher) handleAck(cp packets.ControlPacket) {
	now := clock()
	pa, ok := cp.Content.(*packets.Puback)
	if cp.Type != packets.PUBACK || !ok {
		// paho sends an empty packet when the session ends with the
		// message unacknowledged: the connection went away.
		p.errors.Add(1)
		return
	}
	p.mu.Lock()
	m, found := p.pending[pa.PacketID]
	delete(p.pending, pa.PacketID)
	p.mu.Unlock()
	if !found {
		p.errors.Add(1)
		return
	}
	if pa.ReasonCode >= 0x80 {
		p.nacks++
		for _, s := range p.subs {
			s.expected.Add(-1)
		}
	} else {
		p.acked.set(m.seq)
		p.ackCount++
		if p.win.in(now) {
			p.inWindow++
			p.lat = append(p.lat, now-m.sendNs)
		}
	}
	p.outstanding.Add(-1)
	p.ackTotal.Add(1)
	<-p.window
}

// run publishes until stopAt (bench clock), the limit, ctx's end or an error.
func (p *publisher) run(ctx context.Context, stopAt int64) {
	buf := newPayload()
	msg := &paho.Publish{Topic: p.topic, QoS: p.qos, Payload: buf}
	opts := paho.PublishOptions{Method: paho.PublishMethod_AsyncSend}
	next := clock()
	for seq := uint64(0); p.limit == 0 || seq < p.limit; seq++ {
		if p.interval > 0 {
			next = p.pace(next, stopAt)
		}
		if p.qos > 0 {
			select {
			case p.window <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		if !p.waitGate(ctx, stopAt) {
			p.releaseSlot()
			return
		}
		now := clock()
		if now >= stopAt {
			p.releaseSlot()
			return
		}
		stamp(buf, p.idx, seq, now)
		for _, s := range p.subs {
			s.expected.Add(1)
		}
		if p.qos > 0 {
			p.outstanding.Add(1)
		}
		if _, err := p.cl.PublishWithOptions(ctx, msg, opts); err != nil {
			// The connection is gone or ctx ended; the message may or may
			// not have left, so it is not counted as sent.
			p.errors.Add(1)
			for _, s := range p.subs {
				s.expected.Add(-1)
			}
			if p.qos > 0 && !errors.Is(err, paho.ErrNetworkErrorAfterStored) {
				// Never entered the session: no PUBACK will come.
				p.outstanding.Add(-1)
				<-p.window
			}
			return
		}
		p.sent.Store(seq + 1)
	}
}

func (p *publisher) releaseSlot() {
	if p.qos > 0 {
		<-p.window
	}
}

// waitGate holds the publisher while a subscriber it feeds is backlog or
// more messages behind. It returns false when stopAt or ctx's end comes first.
func (p *publisher) waitGate(ctx context.Context, stopAt int64) bool {
	if p.backlog <= 0 {
		return true
	}
	for _, s := range p.subs {
		for s.lag() >= p.backlog {
			now := clock()
			if now >= stopAt || ctx.Err() != nil {
				return false
			}
			last := s.lastProgress.Load()
			if now-last > int64(gateStall) && s.lastProgress.CompareAndSwap(last, now) {
				s.writtenOff.Add(s.lag())
				continue
			}
			time.Sleep(gatePause) // pacing, not synchronisation
		}
	}
	return true
}

// pace sleeps until the publish scheduled at next is due and returns the
// time of the one after. A publisher that fell more than 100 ms behind
// (window or gate closed) restarts its schedule rather than bursting.
func (p *publisher) pace(next, stopAt int64) int64 { return paceNext(next, stopAt, p.interval) }

// paceNext sleeps until the event scheduled at next (bench clock) is due
// and returns the time of the one after, interval later; a schedule more
// than 100 ms behind restarts from now.
func paceNext(next, stopAt, interval int64) int64 {
	now := clock()
	if now < next {
		time.Sleep(time.Duration(min(next, stopAt) - now)) // pacing the rate
	} else if now-next > int64(100*time.Millisecond) {
		next = now
	}
	return next + interval
}

// pubRun is a measured window's publishers and their PUBACK readers.
type pubRun struct {
	ackDone            chan struct{} // closed to stop the PUBACK readers
	ackers, publishers sync.WaitGroup
}

// startPublishers runs every publisher in the window win until its end (or
// until ctx ends), each QoS 1/2 one with its PUBACK reader.
func startPublishers(ctx context.Context, pubs []*publisher, win measureWindow) *pubRun {
	r := &pubRun{ackDone: make(chan struct{})}
	for _, p := range pubs {
		p.win = win
		if p.qos > 0 {
			r.ackers.Add(1)
			go func() { defer r.ackers.Done(); p.runAcker(r.ackDone) }()
		}
		r.publishers.Add(1)
		go func() { defer r.publishers.Done(); p.run(ctx, win.t1) }()
	}
	return r
}
