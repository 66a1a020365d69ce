package sim

import (
	"sync"
)

// ledger records every operation the broker acknowledged, so a drill can
// check at the end that each is on the broker exactly once.
type ledger struct {
	mu       sync.Mutex
	messages map[string][]string        // conversation → acknowledged message ids
	bookings map[string]string          // booking id → customer
	stages   map[string]map[string]bool // booking id → stages posted
	convs    map[string]bool            // conversations the chat tablets opened
}

func newLedger() *ledger {
	return &ledger{messages: map[string][]string{}, bookings: map[string]string{}, stages: map[string]map[string]bool{}, convs: map[string]bool{}}
}

func (l *ledger) message(conv, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.messages[conv] = append(l.messages[conv], id)
}

func (l *ledger) booking(id, customer string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bookings[id] = customer
}

func (l *ledger) conv(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.convs[id] = true
}

// ours reports whether booking is one the simulator made: the only ones
// its staff check in and complete, in a real store too.
func (l *ledger) ours(booking string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.bookings[booking]
	return ok
}

// oursConv reports whether conversation is one of the simulator's chat
// tablets': the only ones its staff answer.
func (l *ledger) oursConv(conv string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.convs[conv]
}

func (l *ledger) stage(booking, stage string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stages[booking] == nil {
		l.stages[booking] = map[string]bool{}
	}
	l.stages[booking][stage] = true
}

// counts are the acknowledged operations of each kind.
func (l *ledger) counts() (messages, bookings, stages int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ids := range l.messages {
		messages += len(ids)
	}
	for _, s := range l.stages {
		stages += len(s)
	}
	return messages, len(l.bookings), stages
}
