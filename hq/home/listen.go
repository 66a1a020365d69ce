package home

import (
	"context"
	"encoding/json"
	"time"
)

// subscribe returns a channel that receives a signal whenever store's
// conversation changes, and the function that ends the subscription.
func (s *Server) subscribe(store, conversation string) (<-chan struct{}, func()) {
	key := store + "\x00" + conversation
	ch := make(chan struct{}, 1)
	s.waitMu.Lock()
	if s.waiters[key] == nil {
		s.waiters[key] = map[chan struct{}]struct{}{}
	}
	s.waiters[key][ch] = struct{}{}
	s.waitMu.Unlock()
	return ch, func() {
		s.waitMu.Lock()
		delete(s.waiters[key], ch)
		if len(s.waiters[key]) == 0 {
			delete(s.waiters, key)
		}
		s.waitMu.Unlock()
	}
}

// wake signals the waiters of a conversation.
func (s *Server) wake(store, conversation string) {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	for ch := range s.waiters[store+"\x00"+conversation] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// wakeAll signals every waiter (notifications may have been missed).
func (s *Server) wakeAll() {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	for _, set := range s.waiters {
		for ch := range set {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Listening tells whether Run is listening for the replica's
// notifications now.
func (s *Server) Listening() bool { return s.listening.Load() }

// resendLoop sends again, every resend_every, what HQ's broker did not
// take.
func (s *Server) resendLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.ResendEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.resend(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("page at home: messages still wait for HQ's broker", "err", err)
			}
		}
	}
}

// Run listens on channel hq_messages (every change of a conversation in
// the replica, whichever instance applied it) and wakes the long-polls
// waiting for it, and sends again what HQ's broker did not take, until
// ctx ends. It reconnects after a lost connection.
// When it returns, waiting long-polls answer at once (so that the HTTP
// server's shutdown does not wait for them).
func (s *Server) Run(ctx context.Context) error {
	defer s.stopOnce.Do(func() { close(s.stopped) })
	resendDone := make(chan struct{})
	go func() { defer close(resendDone); s.resendLoop(ctx) }()
	defer func() { <-resendDone }()
	backoff := 100 * time.Millisecond
	for {
		err := s.listen(ctx)
		s.listening.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("page at home: lost the database's notifications; listening again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Server) listen(ctx context.Context) error {
	conn, err := s.o.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection leaves the pool: it is closed, never reused, after
	// a wait is broken off.
	pc := conn.Hijack()
	defer pc.Close(context.WithoutCancel(ctx))
	if _, err := pc.Exec(ctx, "LISTEN hq_messages"); err != nil {
		return err
	}
	s.listening.Store(true)
	s.wakeAll() // anything missed while not listening
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var p struct {
			Store        string `json:"store"`
			Conversation string `json:"conversation"`
		}
		if err := json.Unmarshal([]byte(n.Payload), &p); err != nil {
			s.log.Warn("page at home: a notification that does not decode", "payload", n.Payload, "err", err)
			continue
		}
		s.wake(p.Store, p.Conversation)
	}
}
