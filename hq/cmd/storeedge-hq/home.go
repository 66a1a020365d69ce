package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/hq/config"
	"github.com/storeedge/storeedge/hq/downlink"
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

// partStopTimeout bounds how long homeParts waits for the parts it made
// to stop when a later one cannot be made.
const partStopTimeout = 10 * time.Second

// homeParts makes the parts (bookings, live view, notifications); ctx
// bounds what they run in the background.
func homeParts(ctx context.Context, d homeDeps) ([]homePart, error) {
	var parts []homePart
	for _, f := range []func(context.Context, homeDeps) (homePart, error){bookPart, camPart, pushPart} {
		p, err := f(ctx, d)
		if err != nil {
			// The parts made so far run in the background (the bookings'
			// listener holds a connection of the replica's pool, which
			// would never close): stop them, within a bound.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), partStopTimeout)
			defer cancel()
			errs := []error{err}
			for _, p := range parts {
				if p.Stop != nil {
					errs = append(errs, p.Stop(sctx))
				}
			}
			return nil, errors.Join(errs...)
		}
		if p.Routes != nil || p.Stop != nil {
			parts = append(parts, p)
		}
	}
	return parts, nil
}

// startHome connects the page at home's own publisher to HQ's broker
// (client id {instance}-home), makes the other parts and hq/home's Server,
// and starts its listener. The returned function stops it all.
func startHome(ctx context.Context, cfg config.Config, rep *replica.Replica, keys *seal.Keyring, reg prometheus.Registerer,
	log *slog.Logger) (*home.Server, func(context.Context) error, error) {
	password, err := cfg.Password()
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, err := cfg.TLS()
	if err != nil {
		return nil, nil, err
	}
	pub, err := downlink.NewMQTTPublisher(ctx, downlink.MQTTOptions{URL: cfg.MQTT.URL, ClientID: cfg.ClientID() + "-home",
		Username: cfg.MQTT.Username, Password: string(password), TLS: tlsCfg, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	var srv *home.Server
	state := func(ctx context.Context, store string) (home.StoreState, error) { return srv.State(ctx, store) }
	runCtx, cancel := context.WithCancel(ctx)
	parts, err := homeParts(runCtx, homeDeps{Cfg: cfg, Replica: rep, Keys: keys, Pub: pub, State: state, Reg: reg, Log: log})
	if err != nil {
		cancel()
		_ = pub.Close(ctx)
		return nil, nil, fmt.Errorf("page at home: %w", err)
	}
	var routes []home.Routes
	for _, p := range parts {
		if p.Routes != nil {
			routes = append(routes, p.Routes)
		}
	}
	srv, err = home.New(home.Options{Pool: rep.Pool(), Keys: keys, Publisher: pub, Config: cfg.Home, Parts: routes,
		Logger: log, Registerer: reg})
	if err != nil {
		cancel()
		_ = pub.Close(ctx)
		return nil, nil, fmt.Errorf("page at home: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Run(runCtx); close(done) }()
	stop := func(ctx context.Context) error {
		cancel()
		var errs []error
		select {
		case <-done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("page at home: stop: %w", ctx.Err()))
		}
		for _, p := range parts {
			if p.Stop != nil {
				errs = append(errs, p.Stop(ctx))
			}
		}
		errs = append(errs, pub.Close(ctx))
		return errors.Join(errs...)
	}
	return srv, stop, nil
}
