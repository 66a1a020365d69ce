package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/internal/timesync"
	"github.com/storeedge/storeedge/proto"
)

// ClockConfig is how the daemon watches the box's clock (internal/timesync):
// a box without a real-time clock boots in the past and jumps when NTP
// syncs.
type ClockConfig struct {
	// PollEvery is how often the kernel is asked whether the clock is set,
	// and the wall clock compared with the monotonic one.
	PollEvery time.Duration `yaml:"poll_every"`
	// JumpThreshold: a step of the wall clock larger than this either way
	// between two polls is logged and counted (storeedge_clock_jumps_total).
	JumpThreshold time.Duration `yaml:"jump_threshold"`
}

func (c ClockConfig) validate() []error {
	var errs []error
	if c.PollEvery < 100*time.Millisecond || c.PollEvery > time.Hour {
		errs = append(errs, fmt.Errorf("clock.poll_every %s: from 100ms to 1h", c.PollEvery))
	}
	if c.JumpThreshold < time.Second {
		errs = append(errs, fmt.Errorf("clock.jump_threshold %s: at least 1s", c.JumpThreshold))
	}
	return errs
}

// startClock makes the clock's watcher (Config.ClockSource, the kernel by
// default) before anything stamps a record, counts it in /metrics and
// polls it until Shutdown.
func (b *Broker) startClock() error {
	wall := b.cfg.Now
	if wall == nil {
		wall = time.Now
	}
	w, err := timesync.NewWatcher(timesync.WatcherOptions{
		Source: b.cfg.ClockSource, Interval: b.cfg.Clock.PollEvery, JumpThreshold: b.cfg.Clock.JumpThreshold,
		Wall: wall, Log: b.log,
	})
	if err != nil {
		return fmt.Errorf("clock: %w", err)
	}
	if err := b.metrics.Register(w.Collector()); err != nil {
		return fmt.Errorf("clock metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	b.clock, b.stopClock = w, func() { cancel(); <-done }
	return nil
}

// clockHealth is the clock's line of svc/store/health.
func (b *Broker) clockHealth() *proto.ClockHealth {
	if b.clock == nil {
		return nil
	}
	st, err := b.clock.Status()
	h := &proto.ClockHealth{Synced: st.Synced, Source: st.Source}
	if err != nil {
		h.Error = err.Error()
	}
	if j, n := b.clock.LastJump(); j != nil {
		at := j.At.UTC()
		h.Jumps, h.LastJumpAt, h.LastJumpSeconds = n, &at, j.By.Seconds()
	}
	return h
}

var descScheduleDropped = prometheus.NewDesc("storeedge_booking_schedule_dropped_total",
	"Reminders and survey invitations let go instead of sent late (a clock jump forward, a box that was off), by what.",
	[]string{"what"}, nil)

// scheduleCollector exposes the booking scheduler's drops to /metrics.
type scheduleCollector struct{ d *booking.Desk }

func (c scheduleCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descScheduleDropped }

func (c scheduleCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d.ScheduleDropped()
	for what, n := range map[string]uint64{"reminder_late": d.RemindersLate, "reminder_stale": d.RemindersStale, "survey_late": d.SurveysLate} {
		ch <- prometheus.MustNewConstMetric(descScheduleDropped, prometheus.CounterValue, float64(n), what)
	}
}
