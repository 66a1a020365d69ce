package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/storeedge/storeedge/device"
)

// verify reads back, as a staff member, every operation the ledger holds
// and checks that each is on the broker exactly once: each acknowledged
// chat message once in its conversation, each booking once (one per
// customer: a retried booking made twice would show as a second), each
// progress stage once; with HQ, that HQ has every booking change.
func verify(ctx context.Context, addr string, auditor Device, l *ledger, hq *hqSide, scope string) error {
	c, err := device.Connect(ctx, device.Config{Brokers: []string{addr}, DeviceID: auditor.ID, ClientSuffix: "audit",
		Password: auditor.Password, NoPresence: true})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var problems []string
	l.mu.Lock()
	defer l.mu.Unlock()

	for conv, ids := range l.messages {
		seen := map[string]int{}
		for after := uint64(0); ; {
			page, err := c.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: conv, After: after})
			if err != nil {
				return fmt.Errorf("verify: history of %s: %w", conv, err)
			}
			for _, m := range page.Messages {
				seen[m.ID]++
			}
			if !page.More || page.Next <= after {
				break
			}
			after = page.Next
		}
		for _, id := range ids {
			if seen[id] != 1 {
				problems = append(problems, fmt.Sprintf("message %s in %s found %d times", id, conv, seen[id]))
			}
		}
	}

	days := map[string]bool{}
	for id := range l.bookings {
		d, err := c.GetBooking(ctx, id)
		if err != nil {
			problems = append(problems, fmt.Sprintf("booking %s: %v", id, err))
			continue
		}
		days[d.Booking.Start.Format(time.DateOnly)] = true
		stages := map[string]int{}
		for _, p := range d.Booking.Progress {
			stages[p.Stage]++
		}
		for st := range l.stages[id] {
			if stages[st] != 1 {
				problems = append(problems, fmt.Sprintf("booking %s: stage %s found %d times", id, st, stages[st]))
			}
		}
	}
	perCustomer := map[string]int{}
	for day := range days {
		board, err := c.Board(ctx, day)
		if err != nil {
			return fmt.Errorf("verify: board of %s: %w", day, err)
		}
		for _, b := range board.Bookings {
			if strings.HasPrefix(b.Customer, scope) {
				perCustomer[b.Customer]++
			}
		}
	}
	for _, cust := range l.bookings {
		if perCustomer[cust] != 1 {
			problems = append(problems, fmt.Sprintf("customer %s has %d bookings, made one", cust, perCustomer[cust]))
		}
	}

	if hq != nil {
		ch, err := c.Changes(ctx, 0, 1)
		if err != nil {
			return fmt.Errorf("verify: changes: %w", err)
		}
		for {
			highest, missing := hq.seqs()
			if uint64(highest) >= ch.Last && len(missing) == 0 {
				break
			}
			select {
			case <-ctx.Done():
				problems = append(problems, fmt.Sprintf("HQ has booking changes up to %d of %d, missing %s", highest, ch.Last, joinInts(missing)))
			case <-time.After(200 * time.Millisecond): // polls HQ's consumer until the deadline
				continue
			}
			break
		}
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = append(problems[:10], fmt.Sprintf("… %d more", len(problems)-10))
		}
		return errors.New("verify: " + strings.Join(problems, "; "))
	}
	return nil
}
