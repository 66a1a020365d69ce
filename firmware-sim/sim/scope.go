package sim

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/storeedge/storeedge/device"
)

// newScope is a run's customer id prefix: "sim-", a run id, "-".
func newScope() string {
	return fmt.Sprintf("sim-%06x-", rand.Uint32()&0xffffff)
}

// validScope: a scope starts a customer id (1–64 of A-Z a-z 0-9 _ . -,
// first a letter or digit), with room left for the kiosk and a number.
func validScope(s string) bool {
	if len(s) == 0 || len(s) > 24 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '_' || r == '.' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// catalogueDevice is the device that reads the catalogue and cleans up: a
// staff tablet, else a kiosk (ok false: neither in the fleet).
func catalogueDevice(f *Fleet, roles ...string) (Device, bool) {
	for _, role := range roles {
		for _, d := range f.Devices {
			if d.Role == role {
				return d, true
			}
		}
	}
	return Device{}, false
}

// readCatalogue asks the store for its catalogue (svc/booking/services):
// the services the kiosks book and the store's time zone. A fleet without
// kiosks or staff books nothing and gets an empty catalogue.
func readCatalogue(ctx context.Context, addr string, f *Fleet) (device.Catalogue, error) {
	d, ok := catalogueDevice(f, "kiosk", "staff")
	if !ok {
		return device.Catalogue{}, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := device.Connect(cctx, device.Config{Brokers: []string{addr}, DeviceID: d.ID, ClientSuffix: "catalogue",
		Password: d.Password, NoPresence: true})
	if err != nil {
		return device.Catalogue{}, fmt.Errorf("sim: %s cannot connect to the store at %s: %w (the fleet must be in the store's registry: firmware-sim -write-registry, then reload the broker)", d.ID, addr, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	cat, err := c.Services(cctx)
	if err != nil {
		return device.Catalogue{}, fmt.Errorf("sim: the store's catalogue (svc/booking/services as %s): %w", d.ID, err)
	}
	return cat, nil
}

// describeScope says what the run will put in the store and how to
// recognise it, and what of the store's catalogue it uses.
func describeScope(o *Options, f *Fleet, cat device.Catalogue) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scope: the run's customers are %s…; its devices %s", o.Scope, deviceRanges(f))
	if o.Kiosks > 0 {
		ids := make([]string, 0, len(cat.Services))
		for _, s := range cat.Services {
			ids = append(ids, fmt.Sprintf("%s (%d min)", s.ID, s.Minutes))
		}
		fmt.Fprintf(&b, "\ncatalogue: the kiosks book the store's services in turn (%d): %s; time zone %s", len(ids), strings.Join(ids, ", "), cat.TimeZone)
	}
	return b.String()
}

// deviceRanges names the fleet's devices compactly: kiosk-sim-1…4, ….
func deviceRanges(f *Fleet) string {
	var parts []string
	for _, p := range []struct{ prefix, role string }{{"kiosk", "kiosk"}, {"tablet", "chat-tablet"}, {"cam", "camera"}, {"staff", "staff"}} {
		switch n := f.Count(p.role); n {
		case 0:
		case 1:
			parts = append(parts, p.prefix+"-sim-1")
		default:
			parts = append(parts, fmt.Sprintf("%s-sim-1…%d", p.prefix, n))
		}
	}
	return strings.Join(parts, ", ")
}

// refusals says how op was refused: "every book was refused: not_found
// (unknown_service) ×40", or the share refused and why.
func (s *store) refusals(op, verb string, attempts int) string {
	s.mu.Lock()
	m := maps.Clone(s.refused[op])
	s.mu.Unlock()
	total := 0
	keys := slices.Collect(maps.Keys(m))
	for _, k := range keys {
		total += m[k]
	}
	slices.Sort(keys)
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	var why []string
	rest := 0
	for i, k := range keys {
		if i < 4 {
			why = append(why, fmt.Sprintf("%s ×%d", k, m[k]))
		} else {
			rest += m[k]
		}
	}
	if rest > 0 {
		why = append(why, fmt.Sprintf("%d others", rest))
	}
	switch {
	case total == 0:
		return fmt.Sprintf("no %s was refused, none was acknowledged either", verb)
	case total >= attempts:
		return fmt.Sprintf("every %s was refused: %s", verb, strings.Join(why, ", "))
	default:
		return fmt.Sprintf("%d of %d were refused: %s", total, attempts, strings.Join(why, ", "))
	}
}

// exercised is what the run could not exercise of what its verdict claims
// to check, each with why: no bookings from the kiosks, no messages from
// the chat tablets, no stages from the cameras, a drill that did not reach
// the devices. Empty: the run did what it checks.
func exercised(o *Options, res *Result, st *store, cat device.Catalogue) []string {
	count := func(op string) (n, errs int) {
		for _, r := range res.Report.Ops {
			if r.Op == op {
				return r.Count, r.Errors
			}
		}
		return 0, 0
	}
	var p []string
	if o.Kiosks > 0 && res.Bookings == 0 {
		books, _ := count("booking.book")
		avail, availErrs := count("booking.availability")
		switch {
		case len(cat.Services) == 0:
			p = append(p, "0 bookings made: the store's catalogue (svc/booking/services) has no services")
		case books > 0:
			p = append(p, fmt.Sprintf("0 of %d bookings made: %s", books, st.refusals("booking.book", "book", books)))
		case avail > 0 && availErrs > 0:
			p = append(p, fmt.Sprintf("0 bookings made: %s", st.refusals("booking.availability", "availability request", avail)))
		case avail > 0:
			st.mu.Lock()
			none := slices.Sorted(maps.Keys(st.noSlot))
			st.mu.Unlock()
			p = append(p, fmt.Sprintf("0 bookings made: %d availability requests found no free slot today or tomorrow for the store's services (%s)", avail, strings.Join(none, ", ")))
		default:
			p = append(p, fmt.Sprintf("0 bookings made: the kiosks asked nothing in %v (%s)", o.Duration, connects(res)))
		}
	}
	if o.Tablets > 0 && res.Messages == 0 {
		sends, _ := count("chat.send")
		opens, _ := count("chat.open")
		switch {
		case sends > 0:
			p = append(p, fmt.Sprintf("0 of %d chat messages acknowledged: %s", sends, st.refusals("chat.send", "send", sends)))
		case opens > 0:
			p = append(p, fmt.Sprintf("0 chat messages sent: %s", st.refusals("chat.open", "open", opens)))
		default:
			p = append(p, fmt.Sprintf("0 chat messages sent: the chat tablets asked nothing in %v (%s)", o.Duration, connects(res)))
		}
	}
	if o.Cameras > 0 && o.Staff > 0 && res.Bookings > 0 && res.Stages == 0 {
		boards, boardErrs := count("booking.board")
		checkIns, checkInErrs := count("booking.check_in")
		posts, _ := count("booking.progress")
		switch {
		case boards > 0 && boardErrs == boards:
			p = append(p, "0 progress stages posted: staff could not read the board: "+st.refusals("booking.board", "board request", boards))
		case checkIns == 0:
			p = append(p, fmt.Sprintf("0 progress stages posted: staff checked in none of the %d bookings (they check in the run's bookings of the store's today that start within 3 h; the free slots the kiosks found were later)", res.Bookings))
		case checkIns == checkInErrs:
			p = append(p, "0 progress stages posted: "+st.refusals("booking.check_in", "check-in", checkIns))
		case posts > 0:
			p = append(p, fmt.Sprintf("0 of %d progress stages acknowledged: %s", posts, st.refusals("booking.progress", "progress post", posts)))
		default:
			p = append(p, fmt.Sprintf("0 progress stages posted: the cameras posted none for the %d checked-in bookings", checkIns-checkInErrs))
		}
	}
	switch o.Drill {
	case DrillBrokerRestart, DrillWifiFlap:
		if res.Reconnects == 0 {
			p = append(p, fmt.Sprintf("the %s drill made no device reconnect: its fault did not reach the devices", o.Drill))
		}
	case DrillUplinkOutage:
		if o.Kiosks == 0 {
			p = append(p, "the uplink-outage drill checks that HQ gets every booking change: it needs kiosks to book")
		}
	}
	return p
}

// connects says how the devices' connections went.
func connects(res *Result) string {
	for _, r := range res.Report.Ops {
		if r.Op == "connect" {
			return fmt.Sprintf("%d connections, %d failed", r.Count, r.Errors)
		}
	}
	return "no device connected"
}

// cleanup leaves a store that is not the simulator's own as clean as the
// ops allow, as a staff device: the run's bookings still booked are
// cancelled, those checked in completed; every conversation of its chat
// tablets leaves the waiting queue (a last staff message) and is marked
// read. It says what it did and what stays, and how to recognise it.
func cleanup(ctx context.Context, addr string, f *Fleet, st *store, scope string) []string {
	st.l.mu.Lock()
	bookings := slices.Sorted(maps.Keys(st.l.bookings))
	convs := slices.Sorted(maps.Keys(st.l.convs))
	st.l.mu.Unlock()
	devices := fmt.Sprintf("left: the devices %s stay in the store's registry: no op removes a device; when done simulating, delete the entries whose id has -sim- from devices.yaml and reload the broker (SIGHUP)", deviceRanges(f))
	d, ok := catalogueDevice(f, "staff")
	if !ok {
		var notes []string
		if len(bookings) > 0 {
			notes = append(notes, fmt.Sprintf("left: %d bookings of customers %s… (no staff device in the fleet to cancel them)", len(bookings), scope))
		}
		if len(convs) > 0 {
			notes = append(notes, fmt.Sprintf("left: %d conversations of the chat tablets, possibly waiting for staff (no staff device in the fleet to answer them)", len(convs)))
		}
		return append(notes, devices)
	}
	c, err := device.Connect(ctx, device.Config{Brokers: []string{addr}, DeviceID: d.ID, ClientSuffix: "cleanup",
		Password: d.Password, NoPresence: true})
	if err != nil {
		return []string{fmt.Sprintf("left: %d bookings of customers %s… and %d conversations: cleanup could not connect as %s: %v", len(bookings), scope, len(convs), d.ID, err), devices}
	}
	defer c.Close(context.WithoutCancel(ctx))

	var cancelled, completed, done int
	var failed []string
	for _, id := range bookings {
		b, err := c.GetBooking(ctx, id)
		if err == nil {
			switch b.Booking.Status {
			case device.StatusBooked:
				if _, err = c.Cancel(ctx, id, "simulated booking: end of the run"); err == nil {
					cancelled++
				}
			case device.StatusCheckedIn:
				if _, err = c.Complete(ctx, id); err == nil {
					completed++
				}
			default:
				done++
			}
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", id, err))
		}
	}
	var notes []string
	if len(bookings) > 0 {
		n := fmt.Sprintf("cleanup: %d of the run's %d bookings cancelled; %d visits checked in during the run completed, %d already completed; the completed ones stay in the store's history, and so does each customer's conversation of booking cards, named after her (ids start with %s)",
			cancelled, len(bookings), completed, done, scope)
		if len(failed) > 0 {
			n += fmt.Sprintf("; %d left as they were: %s", len(failed), strings.Join(failed[:min(len(failed), 3)], "; "))
		}
		notes = append(notes, n)
	}

	var closed, read int
	var convFailed []string
	for _, conv := range convs {
		v, err := c.ChatOpen(ctx, device.ChatOpenRequest{Conversation: conv})
		last := v.LastSeq
		if err == nil && v.Waiting != nil {
			text := "（模拟结束）Simulated conversation: the run has ended."
			var r device.SendResult
			r, err = c.ChatSend(ctx, device.ChatSendRequest{Conversation: conv, Kind: device.KindText, Text: &text})
			if err == nil {
				closed++
				last = r.Seq
			}
		}
		if err == nil && last > 0 {
			if _, err = c.ChatRead(ctx, conv, last); err == nil {
				read++
			}
		}
		if err != nil {
			convFailed = append(convFailed, fmt.Sprintf("%s: %v", conv, err))
		}
	}
	if len(convs) > 0 {
		n := fmt.Sprintf("cleanup: %d conversations of the chat tablets: %d taken out of the waiting queue with a last staff message, %d marked read by %s; they stay in the store: no op deletes a conversation (their members are tablet-sim-N and staff-sim-N)",
			len(convs), closed, read, d.ID)
		if len(convFailed) > 0 {
			n += fmt.Sprintf("; %d not cleaned: %s", len(convFailed), strings.Join(convFailed[:min(len(convFailed), 3)], "; "))
		}
		notes = append(notes, n)
	}
	return append(notes, devices)
}
