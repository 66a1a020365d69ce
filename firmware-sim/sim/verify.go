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
func verify(ctx context.Context, addr string, auditor Device, l *ledger, hq *hqSide) error {
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
		after := 0
		for {
			var h struct {
				Messages []struct {
					Seq int    `json:"seq"`
					ID  string `json:"id"`
				} `json:"messages"`
				Next int  `json:"next"`
				More bool `json:"more"`
			}
			if err := c.Do(ctx, "chat", "history", map[string]any{"conversation": conv, "after": after}, &h); err != nil {
				return fmt.Errorf("verify: history of %s: %w", conv, err)
			}
			for _, m := range h.Messages {
				seen[m.ID]++
			}
			if !h.More || h.Next <= after {
				break
			}
			after = h.Next
		}
		for _, id := range ids {
			if seen[id] != 1 {
				problems = append(problems, fmt.Sprintf("message %s in %s found %d times", id, conv, seen[id]))
			}
		}
	}

	type view struct {
		ID       string `json:"id"`
		Customer string `json:"customer"`
		Progress []struct {
			Stage string `json:"stage"`
		} `json:"progress"`
	}
	perCustomer := map[string]int{}
	days := map[string]bool{}
	for id := range l.bookings {
		var g struct {
			Booking struct {
				view
				Start time.Time `json:"start"`
			} `json:"booking"`
		}
		if err := c.Do(ctx, "booking", "get", map[string]any{"booking": id}, &g); err != nil {
			problems = append(problems, fmt.Sprintf("booking %s: %v", id, err))
			continue
		}
		days[g.Booking.Start.Format(time.DateOnly)] = true
		stages := map[string]int{}
		for _, p := range g.Booking.Progress {
			stages[p.Stage]++
		}
		for st := range l.stages[id] {
			if stages[st] != 1 {
				problems = append(problems, fmt.Sprintf("booking %s: stage %s found %d times", id, st, stages[st]))
			}
		}
	}
	for day := range days {
		var b struct {
			Bookings []view `json:"bookings"`
		}
		if err := c.Do(ctx, "booking", "board", map[string]any{"date": day}, &b); err != nil {
			return fmt.Errorf("verify: board of %s: %w", day, err)
		}
		for _, v := range b.Bookings {
			if strings.HasPrefix(v.Customer, "cust-kiosk-sim-") {
				perCustomer[v.Customer]++
			}
		}
	}
	for _, cust := range l.bookings {
		if perCustomer[cust] != 1 {
			problems = append(problems, fmt.Sprintf("customer %s has %d bookings, made one", cust, perCustomer[cust]))
		}
	}

	if hq != nil {
		var ch struct {
			Last int `json:"last"`
		}
		if err := c.Do(ctx, "booking", "changes", map[string]any{"after": 0, "limit": 1}, &ch); err != nil {
			return fmt.Errorf("verify: changes: %w", err)
		}
		for {
			_, highest, missing := hq.seqs()
			if highest >= ch.Last && len(missing) == 0 {
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
