package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/storeedge/storeedge/firmware-sim/fleet"
)

// fleetFlags are the many-stores mode's flags.
type fleetFlags struct {
	stores      int
	hq, user    string
	prefix      string
	rate        float64
	backlog     int
	span        time.Duration
	statusEvery time.Duration
	duration    time.Duration
}

// runFleet runs the stores for the duration, printing progress, then
// waits (up to a minute) until HQ's broker has acknowledged everything
// they filed, and prints the totals.
func runFleet(fo fleetFlags) error {
	u, err := url.Parse(fo.hq)
	if err != nil || u.Scheme != "mqtt" || u.Host == "" {
		return fmt.Errorf("-hq %q: want mqtt://host:port", fo.hq)
	}
	if fo.backlog < 0 || fo.span < 0 {
		return fmt.Errorf("-backlog and -backlog-span cannot be negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := fleet.Options{Broker: u.Host, Username: fo.user, Password: os.Getenv("HQ_PASSWORD"), Stores: fo.stores,
		Prefix: fo.prefix, Rate: fo.rate, Manual: fo.rate == 0, StatusEvery: fo.statusEvery}
	if fo.backlog > 0 {
		// The backlog is filed before the stores connect: hold them back.
		o.Ramp = time.Duration(fo.stores) * time.Second / 500
	}
	f, err := fleet.Start(ctx, o)
	if err != nil {
		return err
	}
	defer f.Stop()
	if fo.backlog > 0 {
		for _, s := range f.Stores() {
			s.Cut()
			if err := s.FileSpan(fo.backlog, fo.span); err != nil {
				return err
			}
			s.Restore()
		}
	}
	fmt.Fprintf(os.Stderr, "%d stores → %s at %.3g entries/min each for %v\n", fo.stores, fo.hq, fo.rate, fo.duration)
	start := time.Now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	end := time.After(fo.duration)
	last := f.Totals()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
			t := f.Totals()
			fmt.Fprintf(os.Stderr, "%6s  connected %d/%d  filed %d  acknowledged %d (%.0f/s)  waiting %d\n",
				time.Since(start).Round(time.Second), t.Connected, fo.stores, t.Filed, t.Acked,
				float64(t.Acked-last.Acked)/5, t.Backlog)
			last = t
		}
	}
	f.StopFiling()
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	derr := f.WaitDrained(dctx)
	t := f.Totals()
	var resyncs int64
	for _, s := range f.Stores() {
		resyncs += s.Resyncs()
	}
	fmt.Printf("stores %d: filed %d entries, acknowledged %d, publishes %d, connections %d, resync requests answered %d\n",
		fo.stores, t.Filed, t.Acked, t.Sends, t.Connects, resyncs)
	return derr
}
