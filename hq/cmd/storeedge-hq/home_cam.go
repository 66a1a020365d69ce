package main

import (
	"context"
	"log/slog"

	"github.com/storeedge/storeedge/hq/homecam"
	"github.com/storeedge/storeedge/hq/replica"
)

// camHandlers are the uplink topics the live view applies: the stores'
// answers to watches from home (camera/hq/answer).
func camHandlers(log *slog.Logger) map[string]replica.TopicHandler { return homecam.Handlers(log) }

// camPart makes the live view at home: its routes (/ice, /cameras, /watch)
// and the listener that wakes watches when their answer lands.
func camPart(ctx context.Context, d homeDeps) (homePart, error) {
	s, err := homecam.New(homecam.Options{Config: d.Cfg.HomeCamera, Pool: d.Replica.Pool(), Pub: d.Pub, State: d.State, Log: d.Log})
	if err != nil {
		return homePart{}, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(rctx) // returns only when rctx ends
	}()
	return homePart{Routes: s, Stop: func(sctx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-sctx.Done():
			return sctx.Err()
		}
	}}, nil
}
