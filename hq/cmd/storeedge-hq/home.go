package main

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/hq/config"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
)

// homeDeps is what the parts of the page at home are made from.
type homeDeps struct {
	Cfg     config.Config
	Replica *replica.Replica
	Keys    *seal.Keyring
	// Pub publishes to the stores on HQ's broker.
	Pub home.Publisher
	// State tells a store's state (hq/home's Server.State).
	State home.StateFunc
	Reg   prometheus.Registerer
	Log   *slog.Logger
}

// homePart is one part of the page at home besides hq/home's own: the
// routes it serves under /home/api/v1/, and a function that stops what it
// runs in the background (nil: nothing).
type homePart struct {
	Routes home.Routes
	Stop   func(context.Context) error
}

// homePartHandlers are the uplink topics the parts apply in the replica's
// transaction (made before the replica opens: they need no more than the
// logger).
func homePartHandlers(log *slog.Logger) map[string]replica.TopicHandler {
	hs := map[string]replica.TopicHandler{}
	for _, f := range []func(*slog.Logger) map[string]replica.TopicHandler{bookHandlers, camHandlers} {
		for topic, h := range f(log) {
			hs[topic] = h
		}
	}
	return hs
}

// homeParts makes the parts (bookings, live view, notifications); ctx
// bounds what they run in the background.
func homeParts(ctx context.Context, d homeDeps) ([]homePart, error) {
	var parts []homePart
	for _, f := range []func(context.Context, homeDeps) (homePart, error){bookPart, camPart, pushPart} {
		p, err := f(ctx, d)
		if err != nil {
			return nil, err
		}
		if p.Routes != nil || p.Stop != nil {
			parts = append(parts, p)
		}
	}
	return parts, nil
}
