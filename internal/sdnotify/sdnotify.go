// Package sdnotify tells systemd how the daemon is doing, over the socket
// systemd names in NOTIFY_SOCKET (sd_notify(3)): READY=1 once it serves,
// WATCHDOG=1 while it is healthy, STOPPING=1 when it shuts down. Without
// NOTIFY_SOCKET (not started by systemd, or not as Type=notify) every call
// does nothing.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Notifier sends state lines to systemd. The zero value and a nil *Notifier
// send nothing.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
}

// FromEnv reads NOTIFY_SOCKET, and WATCHDOG_USEC / WATCHDOG_PID for the
// watchdog. Without NOTIFY_SOCKET it returns a Notifier that sends nothing.
func FromEnv() (*Notifier, error) {
	return fromValues(os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID"), os.Getpid())
}

func fromValues(socket, usec, pid string, self int) (*Notifier, error) {
	n := &Notifier{}
	if socket == "" {
		return n, nil
	}
	// A path, or "@name" for the abstract namespace (Go maps a leading
	// '@' to the NUL byte the kernel expects).
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return n, fmt.Errorf("sdnotify: NOTIFY_SOCKET %q: only a socket path or an abstract name (@…) is supported", socket)
	}
	n.addr = &net.UnixAddr{Name: socket, Net: "unixgram"}
	if usec == "" {
		return n, nil
	}
	if pid != "" {
		// The watchdog is meant for another process (our parent's).
		if p, err := strconv.Atoi(pid); err != nil || p != self {
			return n, nil
		}
	}
	us, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || us == 0 {
		return n, fmt.Errorf("sdnotify: WATCHDOG_USEC %q is not a positive number of microseconds", usec)
	}
	n.watchdog = time.Duration(us) * time.Microsecond
	return n, nil
}

// Enabled says whether there is a socket to tell.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval is the interval systemd expects a WATCHDOG=1 within
// (WatchdogSec=), 0 when it does not watch this process.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil || n.addr == nil {
		return 0
	}
	return n.watchdog
}

// Notify sends state, one or more "KEY=value" lines.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send %q: %w", firstLine(state), err)
	}
	return nil
}

// Ready says the daemon serves; status, when not empty, is shown by
// `systemctl status`.
func (n *Notifier) Ready(status string) error {
	s := "READY=1"
	if status != "" {
		s += "\nSTATUS=" + oneLine(status)
	}
	return n.Notify(s)
}

// Stopping says the daemon is shutting down.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1\nSTATUS=shutting down") }

// Watchdog sends WATCHDOG=1 every half WatchdogInterval for as long as
// check answers nil within a quarter of it, and returns when ctx ends. A
// check that fails, or that has not answered in time, skips the ping and
// says why in STATUS=; a check that never returns (the broker wedged) is
// not started again until it does, so systemd, missing the pings, restarts
// the service. Without a watchdog it waits for ctx and returns nil.
//
// The first check runs at once, so the first ping follows READY=1 closely.
func (n *Notifier) Watchdog(ctx context.Context, check func(context.Context) error) error {
	iv := n.WatchdogInterval()
	if iv == 0 {
		<-ctx.Done()
		return nil
	}
	period, timeout := iv/2, iv/4
	tick := time.NewTicker(period)
	defer tick.Stop()
	var running chan error // the check in flight, nil when none
	unhealthy := false
	for {
		if running == nil {
			running = make(chan error, 1)
			go func(done chan<- error) {
				cctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				done <- check(cctx)
			}(running)
		}
		deadline := time.NewTimer(timeout)
		var err error
		select {
		case err = <-running:
			running = nil
		case <-deadline.C:
			err = fmt.Errorf("no answer within %v", timeout)
		case <-ctx.Done():
			deadline.Stop()
			return nil
		}
		deadline.Stop()
		if err == nil {
			msg := "WATCHDOG=1"
			if unhealthy {
				msg += "\nSTATUS=healthy again"
				unhealthy = false
			}
			if nerr := n.Notify(msg); nerr != nil && ctx.Err() == nil {
				return nerr
			}
		} else if ctx.Err() == nil {
			unhealthy = true
			_ = n.Notify("STATUS=unhealthy, not pinging the watchdog: " + oneLine(err.Error()))
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil
		}
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
