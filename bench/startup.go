package main

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// startupResult is one broker's start-up measurement.
type startupResult struct {
	Messages       int     `json:"messages"`
	Subscribers    int     `json:"subscribers"`
	Queued         int64   `json:"queued_deliveries"`
	PreloadSeconds float64 `json:"preload_s"`
	StopSignal     string  `json:"stop_signal"`
	ConnackMs      float64 `json:"exec_to_connack_ms"`
	RSSAfterMB     float64 `json:"rss_after_start_mb"`
	Recovered      int64   `json:"recovered_by_subscriber_0"`
	RecoverMs      float64 `json:"recover_subscriber_0_ms"`
}

const (
	startupSubs    = 100
	startupPubs    = 10
	startupTopic   = "queue/x"
	startupFilter  = "queue/#"
	startupTimeout = 10 * time.Minute
)

// runStartup fills persistent sessions, stops the broker hard, restarts it
// and times exec → first CONNACK.
func runStartup(ctx context.Context, b *broker, opt options) (*startupResult, error) {
	res := &startupResult{Messages: opt.startupMsgs, Subscribers: startupSubs}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()

	// 1. Persistent sessions subscribed to queue/#, then offline.
	subs := make([]*mqttClient, startupSubs)
	err := connectAll(startupSubs, 16, func(k int) error {
		c, err := connectClient(ctx, b.addr, startupSubCfg(k, nil))
		if err != nil {
			return err
		}
		subs[k] = c
		return c.subscribe(ctx, 1, startupFilter)
	})
	closeAll(subs)
	if err != nil {
		return nil, fmt.Errorf("persistent subscribers: %w", err)
	}

	// 2. Queue the messages: startupPubs publishers, QoS 1, window each.
	t := time.Now()
	acked, err := preload(ctx, b, opt)
	if err != nil {
		return nil, err
	}
	res.PreloadSeconds = time.Since(t).Seconds()
	res.Queued = acked * startupSubs

	// 3. Stop. mosquitto writes its database only on exit (or every 30
	// minutes), so a SIGKILL would restart it empty; it gets SIGTERM.
	if b.kind == kindStoreedge {
		res.StopSignal = "SIGKILL"
		err = b.kill()
	} else {
		res.StopSignal = "SIGTERM"
		err = b.stop()
	}
	if err != nil {
		return nil, err
	}

	// 4. Restart and poll with MQTT CONNECTs until one is accepted.
	execAt := clock()
	if err := b.launch(); err != nil {
		return nil, err
	}
	connackAt, err := pollConnack(ctx, b, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	res.ConnackMs = ms(time.Duration(connackAt - execAt))
	rss, err := procRSS(b.pid())
	if err != nil {
		return nil, err
	}
	res.RSSAfterMB = mb(rss)

	// 5. Check that the queue survived: subscriber 0 resumes its session.
	t = time.Now()
	s := newSubscriber(startupPubs, measureWindow{})
	c, err := connectClient(ctx, b.addr, startupSubCfg(0, s.onPublish))
	if err != nil {
		return nil, fmt.Errorf("resume subscriber 0: %w", err)
	}
	s.expected.Store(acked)
	drain(nil, []*subscriber{s}, 2*time.Minute, 5*time.Second)
	c.close()
	res.Recovered = s.delivered.Load()
	res.RecoverMs = ms(time.Since(t))
	return res, b.unexpectedExit()
}

func startupSubCfg(k int, onPublish func(*paho.Publish)) clientCfg {
	return clientCfg{
		id:            fmt.Sprintf("bench-queue-%d", k),
		cleanStart:    false,
		sessionExpiry: sessionExpiry1d,
		receiveMax:    subReceiveMax,
		onPublish:     onPublish,
	}
}

// preload publishes opt.startupMsgs QoS 1 messages to startupTopic and
// returns how many were acknowledged.
func preload(ctx context.Context, b *broker, opt options) (int64, error) {
	n := min(startupPubs, opt.startupMsgs)
	pubs := make([]*publisher, n)
	clients := make([]*mqttClient, n)
	defer func() { closeAll(clients) }()
	for i := range pubs {
		pubs[i] = newPublisher(i, startupTopic, 1, opt.window, measureWindow{})
		pubs[i].limit = uint64(opt.startupMsgs / n)
		if i < opt.startupMsgs%n {
			pubs[i].limit++
		}
	}
	err := connectAll(n, n, func(i int) error {
		c, err := connectClient(ctx, b.addr, pubs[i].clientCfg(fmt.Sprintf("bench-preload-%d", i)))
		clients[i], pubs[i].cl = c, c
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("preload publishers: %w", err)
	}
	ackDone := make(chan struct{})
	var wg, ackers sync.WaitGroup
	for _, p := range pubs {
		ackers.Add(1)
		go func() { defer ackers.Done(); p.runAcker(ackDone) }()
		wg.Add(1)
		go func() { defer wg.Done(); p.run(ctx, math.MaxInt64) }()
	}
	wg.Wait()
	drain(pubs, nil, time.Minute, 10*time.Second)
	close(ackDone)
	ackers.Wait()
	var acked, errs, nacks int64
	for _, p := range pubs {
		acked += p.ackCount
		errs += p.errors.Load()
		nacks += p.nacks
	}
	if acked != int64(opt.startupMsgs) {
		return acked, fmt.Errorf("preload: %d of %d messages acknowledged (%d refused, %d errors)", acked, opt.startupMsgs, nacks, errs)
	}
	return acked, nil
}

// pollConnack connects with a fresh clean session until the broker answers
// with a successful CONNACK, and returns the bench clock at that moment.
func pollConnack(ctx context.Context, b *broker, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := connectClient(actx, b.addr, clientCfg{id: "bench-probe", cleanStart: true})
		cancel()
		if err == nil {
			at := clock()
			c.close()
			return at, nil
		}
		select {
		case <-b.exited:
			return 0, fmt.Errorf("%s exited during restart (%v); log %s:\n%s", b.name, b.waitErr, b.logPath, b.logTail(20))
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: no CONNACK within %v of restart (%d attempts, last: %v)", b.name, timeout, attempt+1, err)
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}
