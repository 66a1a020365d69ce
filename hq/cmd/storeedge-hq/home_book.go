package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/homebook"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/proto"
)

// bookHandlers are the uplink topics the book part applies: the stores'
// live answers about free times.
func bookHandlers(log *slog.Logger) map[string]replica.TopicHandler {
	return map[string]replica.TopicHandler{proto.TopicAvailabilityAnswer: homebook.AvailabilityHandler{Log: log}}
}

// bookPart makes the book part of the page at home; it listens for the
// live answers until ctx ends or its Stop.
func bookPart(ctx context.Context, d homeDeps) (homePart, error) {
	state := d.State
	if state == nil {
		state = onlineState(d.Replica)
	}
	b, err := homebook.New(homebook.Options{Pool: d.Replica.Pool(), Publisher: d.Pub, State: state,
		Config: d.Cfg.HomeBooking, Logger: d.Log})
	if err != nil {
		return homePart{}, err
	}
	b.Start(ctx)
	return homePart{Routes: b, Stop: b.Stop}, nil
}

// onlineState is a store's presence alone, from the replica: what the
// bookings need when no fuller StateFunc is given.
func onlineState(r *replica.Replica) home.StateFunc {
	return func(ctx context.Context, store string) (home.StoreState, error) {
		s := home.StoreState{Store: store}
		err := r.Pool().QueryRow(ctx, `SELECT name, online, time_zone FROM stores WHERE store = $1`, store).Scan(&s.Name, &s.Online, &s.Zone)
		if errors.Is(err, pgx.ErrNoRows) {
			return s, nil
		}
		if err != nil {
			return s, fmt.Errorf("store state: %w", err)
		}
		return s, nil
	}
}
