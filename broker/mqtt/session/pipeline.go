package session

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// pending is a publish whose commit is under way.
type pending struct {
	pk      packets.Packet
	seq     uint64
	targets []target
	done    <-chan error
}

// pipeline hands one client's publishes back to mochi, in the order they
// arrived, each once its commit is on disk. A goroutine runs while publishes
// wait and ends when none do.
type pipeline struct {
	h       *Hook
	cl      *mqtt.Client
	queue   []*pending
	ids     map[uint16]bool // packet ids waiting: a resend (DUP) of one is dropped
	running bool
}

// busy reports whether cl has publishes waiting in its pipeline. Only cl's
// own read goroutine adds to its pipeline, so for that goroutine the answer
// stays true until it queues no more.
func (h *Hook) busy(cl *mqtt.Client) bool {
	h.pipesMu.Lock()
	defer h.pipesMu.Unlock()
	p := h.pipes[cl.ID]
	return p != nil && p.cl == cl && p.running
}

// enqueue adds a publish to its client's pipeline, starting the pipeline's
// goroutine when it is idle. It returns false when the client already has
// that packet id waiting (it resent the publish before its PUBACK); pd is
// then dropped. Lookup and append happen under one lock, so a client never
// has two pipelines running at once (which could reorder its messages).
func (h *Hook) enqueue(cl *mqtt.Client, pd *pending) bool {
	h.pipesMu.Lock()
	defer h.pipesMu.Unlock()
	p := h.pipes[cl.ID]
	if p == nil || p.cl != cl {
		// A new connection, or a take-over: the old connection's pipeline,
		// if still running, finishes on its own.
		p = &pipeline{h: h, cl: cl, ids: map[uint16]bool{}}
		h.pipes[cl.ID] = p
	}
	if id := pd.pk.PacketID; id != 0 { // QoS 0 has no packet id
		if p.ids[id] {
			return false
		}
		p.ids[id] = true
	}
	// The topic is resolved already; handing the alias back too would let
	// this older packet re-bind an alias the client has since moved.
	pd.pk.Properties.TopicAlias, pd.pk.Properties.TopicAliasFlag = 0, false
	p.queue = append(p.queue, pd)
	if !p.running {
		p.running = true
		go p.run()
	}
	return true
}

func (p *pipeline) run() {
	h := p.h
	for {
		h.pipesMu.Lock()
		if len(p.queue) == 0 {
			p.running = false
			if h.pipes[p.cl.ID] == p {
				delete(h.pipes, p.cl.ID)
			}
			h.pipesMu.Unlock()
			return
		}
		pd := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		h.pipesMu.Unlock()

		err := <-pd.done
		if err != nil {
			h.release(pd.targets, pd.seq)
			h.committed.Store(pd.seq, err)
		} else {
			h.committed.Store(pd.seq, nil)
		}
		// The packet id is free again once the PUBACK is on its way: the
		// client may reuse it at once.
		h.pipesMu.Lock()
		delete(p.ids, pd.pk.PacketID)
		h.pipesMu.Unlock()
		// mochi acknowledges (or, on error, answers with the reason code)
		// and delivers the packet as if it had just been read.
		if ierr := h.o.Server.InjectPacket(p.cl, pd.pk); ierr != nil {
			h.o.Log.Debug("session: handing publish back", "client", p.cl.ID, "error", ierr)
		}
		h.committed.Delete(pd.seq)
		h.unplan(pd.seq)
	}
}
