// Package fleet simulates many stores' uplinks to HQ's broker at once: each
// store is a lean publisher that sends exactly what a store's cloudsync
// sends (topics stores/{store}/up/{local}, the user properties of
// proto/hqlink.go, QoS 1, its presence retained on stores/{store}/status
// with the same Last Will) with realistic payloads (chat messages, booking
// changes, device telemetry), and keeps what it filed so that a test can
// compare HQ's replica with it.
//
// Like cloudsync, a store keeps every entry until HQ's broker acknowledges
// it and, after a cut link, sends again from the first unacknowledged one:
// delivery is at least once, and HQ removes the repeats by (store, origin).
// A store sends one entry at a time (a window of one), so its entries
// leave in sequence order.
package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sync"
	"syscall"
	"time"
)

// Options configure a fleet.
type Options struct {
	// Broker is HQ's broker, host:port (MQTT 5 over TCP).
	Broker string
	// Username and Password log every store in, when HQ's broker wants it.
	Username, Password string
	// Stores is how many stores run; their ids are Prefix + a number.
	Stores int
	// Prefix of the store ids (default "sim-").
	Prefix string
	// Rate is entries per minute per store (default 4: a store's chat,
	// bookings and telemetry in a working hour). 0 with Manual: the test
	// files entries itself with Store.File.
	Rate float64
	// Manual leaves the filing to the caller (Rate is ignored).
	Manual bool
	// Ramp spreads the stores' first connections over this long (default
	// one second per 500 stores).
	Ramp time.Duration
	// StatusEvery is how often a connected store publishes its presence
	// (cloudsync's uplink.status_every; default 30 s).
	StatusEvery time.Duration
	// Conversations per store the chat messages are spread over (default 3).
	Conversations int
	// Clock is the stores' clock (default time.Now): the stored time of
	// each entry and the presence's ts.
	Clock func() time.Time
	// Version is the software version the presence reports.
	Version string
	// Log gets connection trouble (default: discarded).
	Log *slog.Logger
}

func (o *Options) defaults() error {
	if o.Broker == "" {
		return errors.New("fleet: no broker address")
	}
	if o.Stores <= 0 {
		return fmt.Errorf("fleet: %d stores", o.Stores)
	}
	if o.Prefix == "" {
		o.Prefix = "sim-"
	}
	if o.Rate == 0 && !o.Manual {
		o.Rate = 4
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return fmt.Errorf("fleet: rate %v", o.Rate)
	}
	if o.Ramp == 0 {
		o.Ramp = time.Duration(o.Stores) * time.Second / 500
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = 30 * time.Second
	}
	if o.Conversations <= 0 {
		o.Conversations = 3
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Version == "" {
		o.Version = "firmware-sim"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Fleet is a running set of simulated stores.
type Fleet struct {
	o      Options
	stores []*Store
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// quiet ends the stores' own filing (their links stay up).
	quiet  context.CancelFunc
	workWG sync.WaitGroup
}

// RaiseFileLimit raises the process's soft limit of open files to its hard
// limit (a thousand stores are a thousand sockets) and returns the limit
// now in force.
func RaiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("fleet: file limit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("fleet: raise file limit: %w", err)
		}
	}
	return l.Cur, nil
}

// Start makes the stores and starts their uplinks; they run until ctx ends
// or Stop. A store that cannot reach the broker keeps trying, as cloudsync
// does.
func Start(ctx context.Context, o Options) (*Fleet, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	limit, err := RaiseFileLimit()
	if err != nil {
		return nil, err
	}
	if need := uint64(o.Stores) + 64; limit < need {
		return nil, fmt.Errorf("fleet: %d stores need %d open files, the limit is %d (ulimit -n)", o.Stores, need, limit)
	}
	ctx, cancel := context.WithCancel(ctx)
	workCtx, quiet := context.WithCancel(ctx)
	f := &Fleet{o: o, cancel: cancel, quiet: quiet}
	for i := range o.Stores {
		s, err := newStore(fmt.Sprintf("%s%04d", o.Prefix, i+1), &f.o)
		if err != nil {
			cancel()
			return nil, err
		}
		f.stores = append(f.stores, s)
	}
	for i, s := range f.stores {
		delay := time.Duration(0)
		if o.Stores > 1 {
			delay = o.Ramp * time.Duration(i) / time.Duration(o.Stores)
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			s.run(ctx, delay)
		}()
		if o.Rate > 0 && !o.Manual {
			f.workWG.Add(1)
			go func() {
				defer f.workWG.Done()
				s.work(workCtx, delay)
			}()
		}
	}
	return f, nil
}

// Stores are the fleet's stores, in id order.
func (f *Fleet) Stores() []*Store { return f.stores }

// Store is the store with id, or nil.
func (f *Fleet) Store(id string) *Store {
	for _, s := range f.stores {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// Stop ends every store's work and disconnects it (a clean DISCONNECT:
// the Will is not sent).
func (f *Fleet) Stop() {
	f.StopFiling()
	f.cancel()
	f.wg.Wait()
}

// StopFiling ends the stores' filing at Rate; they stay linked and send
// what they hold (and what the caller files).
func (f *Fleet) StopFiling() {
	f.quiet()
	f.workWG.Wait()
}

// Totals are the fleet's counts.
type Totals struct {
	Filed, Acked, Sends, Backlog int64
	Connected                    int
	Connects                     int64
}

// Totals adds up the stores' counts.
func (f *Fleet) Totals() Totals {
	var t Totals
	for _, s := range f.stores {
		s.mu.Lock()
		t.Filed += int64(len(s.entries))
		t.Acked += int64(s.acked)
		t.Backlog += int64(len(s.entries) - s.acked + len(s.resend))
		s.mu.Unlock()
		t.Sends += s.sends.Load()
		t.Connects += s.connects.Load()
		if s.connected.Load() {
			t.Connected++
		}
	}
	return t
}

// WaitDrained waits until every store is connected and HQ's broker has
// acknowledged every entry filed so far.
func (f *Fleet) WaitDrained(ctx context.Context) error {
	for {
		t := f.Totals()
		if t.Backlog == 0 && t.Connected == len(f.stores) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fleet: not drained (%d unacknowledged, %d of %d connected): %w", t.Backlog, t.Connected, len(f.stores), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// newEpoch is 16 lowercase hex chars, as the outbox makes one.
func newEpoch() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("fleet: epoch: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// jitter is d ± 50 %.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(mrand.Int64N(int64(d)+1))
}
