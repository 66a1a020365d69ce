package main

import (
	"context"
	"fmt"
	"time"
)

// memResult is one broker's RSS idle and with idle clients connected.
type memResult struct {
	Clients    int     `json:"clients"`
	RSSIdleMB  float64 `json:"rss_idle_mb"`
	RSSLoadMB  float64 `json:"rss_clients_mb"`
	PerClientK float64 `json:"per_client_kb"`
}

// runMemory measures VmRSS of a started, idle broker, then with n idle
// clients connected (keepalive 60 s, no subscriptions).
func runMemory(ctx context.Context, b *broker, n int) (*memResult, error) {
	idle, err := settledRSS(b)
	if err != nil {
		return nil, err
	}
	clients := make([]*mqttClient, n)
	defer func() { closeAll(clients) }()
	err = connectAll(n, 32, func(i int) error {
		c, err := connectClient(ctx, b.addr, clientCfg{
			id: fmt.Sprintf("bench-idle-%d", i), cleanStart: true, keepAlive: 60, receiveMax: 16,
		})
		clients[i] = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connect %d idle clients: %w", n, err)
	}
	loaded, err := settledRSS(b)
	if err != nil {
		return nil, err
	}
	return &memResult{
		Clients:    n,
		RSSIdleMB:  mb(idle),
		RSSLoadMB:  mb(loaded),
		PerClientK: float64(loaded-idle) / 1024 / float64(n),
	}, nil
}

// settledRSS samples VmRSS every 100 ms for a second and returns the last
// sample, so allocations still in progress (client set-up, a GC cycle) are
// included.
func settledRSS(b *broker) (int64, error) {
	var rss int64
	for range 10 {
		time.Sleep(100 * time.Millisecond) // sampling interval
		r, err := procRSS(b.pid())
		if err != nil {
			return 0, fmt.Errorf("%s RSS: %w", b.name, err)
		}
		rss = r
	}
	return rss, nil
}
