package main

import (
	"context"
	"fmt"

	"github.com/storeedge/storeedge/hq/webpush"
)

// pushPart makes the notifications of the page at home (hq/webpush): the
// subscription routes, and the sender that listens for staff replies
// until ctx ends or Stop.
func pushPart(ctx context.Context, d homeDeps) (homePart, error) {
	s, err := webpush.New(d.Cfg.Push, webpush.Options{Pool: d.Replica.Pool(), Keys: d.Keys, LoginTTL: d.Cfg.Home.WithDefaults().LoginTTL, Registerer: d.Reg, Logger: d.Log})
	if err != nil {
		return homePart{}, fmt.Errorf("push: %w", err)
	}
	s.Start(ctx)
	return homePart{Routes: s, Stop: s.Stop}, nil
}
