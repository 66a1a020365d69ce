package blob

import (
	"context"
	"fmt"
	"sync"
)

// keyedLock serialises work on one blob hash: a Complete writes a blob's
// pages over several transactions, and nothing may delete them meanwhile.
type keyedLock struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

// lock waits for key to be free, then holds it until the returned func runs.
func (l *keyedLock) lock(ctx context.Context, key string) (func(), error) {
	for {
		l.mu.Lock()
		ch, busy := l.held[key]
		if !busy {
			ch = make(chan struct{})
			l.held[key] = ch
			l.mu.Unlock()
			return func() { l.release(key, ch) }, nil
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("media: waiting for blob lock: %w", ctx.Err())
		}
	}
}

// tryLock takes key when it is free.
func (l *keyedLock) tryLock(key string) (func(), bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.held[key]; busy {
		return nil, false
	}
	ch := make(chan struct{})
	l.held[key] = ch
	return func() { l.release(key, ch) }, true
}

func (l *keyedLock) release(key string, ch chan struct{}) {
	l.mu.Lock()
	delete(l.held, key)
	l.mu.Unlock()
	close(ch)
}
