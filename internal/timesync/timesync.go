// Package timesync tells whether the box's clock has been set from a time
// source. A Raspberry Pi has no real-time clock: it boots at the time it
// last saved (or in 1970) and jumps when NTP syncs, so what the box stamps
// before then must not be trusted as wall time.
package timesync

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Status is what the kernel says of its clock.
type Status struct {
	// Synced: the clock has been set from a time source and is kept in step.
	Synced bool
	// Source names what said so ("kernel").
	Source string
}

// Kernel asks the kernel (adjtimex, read only): the clock is synced when
// the kernel's state is not TIME_ERROR and STA_UNSYNC is clear, which is
// what systemd-timesyncd, chrony and ntpd leave once they have set it.
func Kernel() (Status, error) {
	var t unix.Timex
	state, err := unix.Adjtimex(&t)
	if err != nil {
		return Status{Source: "kernel"}, fmt.Errorf("timesync: adjtimex: %w", err)
	}
	return Status{Synced: state != unix.TIME_ERROR && t.Status&unix.STA_UNSYNC == 0, Source: "kernel"}, nil
}
