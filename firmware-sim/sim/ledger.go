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
}

func newLedger() *ledger {
	return &ledger{messages: map[string][]string{}, bookings: map[string]string{}, stages: map[string]map[string]bool{}}
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
