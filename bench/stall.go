package main

// The stalled-subscriber scenario: what a subscriber that stops reading its
// socket does to the healthy subscribers of the same messages and to the
// publishers, and what it gets itself. See the package comment for the
// method; this file has the passes, their counts and their report.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

const (
	scenarioStall = "stalled-subscriber"
	stallPubs     = 100
	stallHealthy  = 2
	stallFilter   = "bench/stall/+"
	// stallRate is the publishers' aggregate rate (publishes/s) when -rate
	// is 0. The publishers are paced, not closed-loop: 5 000 publishes/s is
	// 15 000 QoS 1 deliveries/s with the stalled subscriber, far below what
	// either broker carries on 2 cores (qos1-fanin, qos1-fanout), so a
	// publish or delivery rate below it means the broker did not keep up
	// with a load it carries easily, not that one broker is faster than the
	// other. Unpaced, both passes would run at saturation and the ratio
	// would mix the stall's cost with the broker's speed.
	stallRate = 5000
	// maxStall keeps the stall below the stalled subscriber's keepalive
	// (60 s): longer, and paho's pinger or the broker's keepalive check
	// could end the connection for the silence, not the broker's handling
	// of a full socket.
	maxStall = 60 * time.Second
	// stallTarget is the least healthy-subscriber rate, as a fraction of
	// the rate without a stalled subscriber, that counts as kept (issue 16).
	stallTarget = 0.8
	// selfCheckStall is -stall's default with -self-check.
	selfCheckStall = 3 * time.Second
)

func stallTopic(i int) string { return fmt.Sprintf("bench/stall/%d", i) }

// stallPassSpec is one pass of a stalled-subscriber rep.
type stallPassSpec struct {
	name       string // in the JSON
	label      string // in the report
	stalled    bool   // a third subscriber stops reading for -stall
	persistent bool   // its session: Clean Start 0, expiry 1 day
}

// stallPassSpecs are the passes of every rep, in order, each on a fresh
// broker.
var stallPassSpecs = []stallPassSpec{
	{name: "none", label: "a: no stalled subscriber"},
	{name: "clean", label: "b: stalled, clean session", stalled: true},
	{name: "persistent", label: "c: stalled, persistent session", stalled: true, persistent: true},
}

// stallResult is one rep of the stalled-subscriber scenario.
type stallResult struct {
	Passes []*stallPass `json:"passes"`
}

// stallPass is one pass: the publishers', the healthy subscribers' and the
// stalled subscriber's figures.
type stallPass struct {
	Pass      string  `json:"pass"`
	Rate      float64 `json:"paced_publishes_per_s"`
	WindowS   float64 `json:"window_s"` // -duration + -stall
	PubRate   float64 `json:"publish_rate_msgs_per_s"`
	Counted   int64   `json:"healthy_counted"`         // deliveries to the healthy subscribers inside the window
	Healthy   float64 `json:"healthy_rate_msgs_per_s"` // per healthy subscriber
	P50Ms     float64 `json:"healthy_p50_ms"`
	P99Ms     float64 `json:"healthy_p99_ms"`
	Sent      int64   `json:"sent"`
	Acked     int64   `json:"acked"`
	Nacked    int64   `json:"refused"`
	Lost      int64   `json:"healthy_lost"` // acknowledged and not delivered, both healthy subscribers
	Dup       int64   `json:"healthy_duplicates"`
	OOO       int64   `json:"healthy_out_of_order"`
	Foreign   int64   `json:"foreign"`
	Errors    int64   `json:"errors"`
	Dropped   int     `json:"healthy_connections_lost"` // healthy subscribers the broker or the network disconnected
	Drained   bool    `json:"drained"`
	RSSMB     float64 `json:"broker_rss_end_of_window_mb"`
	BrokerCPU float64 `json:"broker_cpu_s"`
	BenchCPU  float64 `json:"bench_cpu_s"`
	OtherCPU  float64 `json:"other_cpu_s"`

	Stalled *stalledResult     `json:"stalled,omitempty"`
	Profile string             `json:"cpu_profile,omitempty"`
	Metrics map[string]float64 `json:"broker_metrics,omitempty"`
}

// stalledResult is what the stalled subscriber got. Published is the
// acknowledged messages published while it was subscribed: all of them,
// unless its clean session's connection ended, then those sent until the
// client noticed the end, which it can only do once it reads again (after
// the stall). Received + Lost = Published.
type stalledResult struct {
	Persistent  bool    `json:"persistent_session"`
	StallS      float64 `json:"stall_s"`
	DuringStall int64   `json:"received_during_stall"` // handled while reads were held: what paho's reader had taken before
	Published   int64   `json:"published"`
	Received    int64   `json:"received"`
	Lost        int64   `json:"lost"`
	Skipped     int64   `json:"lost_skipped"`    // missing before a later message of the same publisher that arrived
	CutOff      int64   `json:"lost_after_last"` // missing after the last message of the same publisher that arrived
	Dup         int64   `json:"duplicates"`
	OOO         int64   `json:"out_of_order"`
	// Ended is "connected", "disconnected" (the broker sent DISCONNECT,
	// Reason) or "closed" (the connection ended without one, ClientError).
	Ended        string  `json:"ended"`
	Reason       string  `json:"disconnect_reason,omitempty"` // "0x97"
	ReasonString string  `json:"disconnect_reason_string,omitempty"`
	ClientError  string  `json:"client_error,omitempty"`
	EndedAfterS  float64 `json:"noticed_after_resume_s,omitempty"`
	// With the persistent session the subscriber reconnects (Clean Start 0)
	// after its drain, whether the broker ended the connection or not, and
	// collects what the broker kept for it.
	Reconnected    bool  `json:"reconnected"`
	AfterReconnect int64 `json:"after_reconnect"` // new distinct messages on the second connection
}

// connEnd records how a connection ended when the broker or the network
// ended it, before the bench closed it itself.
type connEnd struct {
	mu           sync.Mutex
	closing      bool // the bench is closing it: what paho reports now is ours
	ended        bool
	at           int64 // bench clock when paho reported the end
	reason       int   // DISCONNECT reason code; -1: none came
	reasonString string
	err          string
	mark         []uint64        // markFn() at the end
	markFn       func() []uint64 // may be nil
}

func newConnEnd(markFn func() []uint64) *connEnd { return &connEnd{reason: -1, markFn: markFn} }

func (e *connEnd) serverDisconnect(d *paho.Disconnect) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	// A DISCONNECT explains an error paho reported first.
	e.record()
	e.reason, e.err = int(d.ReasonCode), ""
	if d.Properties != nil {
		e.reasonString = d.Properties.ReasonString
	}
}

func (e *connEnd) clientError(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing || e.ended {
		return
	}
	e.record()
	e.err = err.Error()
}

// record notes the first end; e.mu is held.
func (e *connEnd) record() {
	if e.ended {
		return
	}
	e.ended, e.at = true, clock()
	if e.markFn != nil {
		e.mark = e.markFn()
	}
}

// close tells e that the bench closes the connection now; it returns
// whether the connection had ended before.
func (e *connEnd) close() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closing = true
	return e.ended
}

func (e *connEnd) hasEnded() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ended
}

// sentSoFar returns every publisher's sent count.
func sentSoFar(pubs []*publisher) []uint64 {
	out := make([]uint64, len(pubs))
	for i, p := range pubs {
		out[i] = p.sent.Load()
	}
	return out
}

// stallRateFor returns the publishers' aggregate rate: -rate, or stallRate.
func stallRateFor(opt options) float64 {
	if opt.rate > 0 {
		return opt.rate
	}
	return stallRate
}

// runStall runs the passes of one rep, each on a fresh broker: b (started)
// for the first, then new instances of side sd in subdirectories of dir.
// A failed pass ends the rep; the passes so far stay in the result.
func runStall(ctx context.Context, b *broker, sd side, dir string, opt options, rep int) (*stallResult, error) {
	res := &stallResult{}
	for i, ps := range stallPassSpecs {
		pb := b
		if i > 0 {
			_ = b.kill() // one broker at a time
			var err error
			if pb, err = newBroker(sd, filepath.Join(dir, "pass-"+ps.name), brokerOpts{svcWorkers: opt.svcWorkers}); err != nil {
				return res, err
			}
			if err := pb.start(ctx); err != nil {
				return res, fmt.Errorf("pass %s: %w", ps.name, err)
			}
		}
		p, err := runStallPass(ctx, pb, ps, opt, rep)
		if p != nil {
			p.Metrics = pb.scrapeMetrics()
			res.Passes = append(res.Passes, p)
		}
		_ = pb.kill()
		if err != nil {
			return res, fmt.Errorf("pass %s: %w", ps.name, err)
		}
	}
	return res, nil
}

// runStallPass runs one pass against a started broker: 100 paced QoS 1
// publishers, stallHealthy subscribers and, if ps.stalled, the stalled one;
// a window of -duration + -stall after -warmup, the stall in its middle.
func runStallPass(ctx context.Context, b *broker, ps stallPassSpec, opt options, rep int) (*stallPass, error) {
	rate := stallRateFor(opt)
	winLen := opt.duration + opt.stall
	res := &stallPass{Pass: ps.name, Rate: rate, WindowS: winLen.Seconds()}

	pubs := make([]*publisher, stallPubs)
	for i := range pubs {
		p := newPublisher(i, stallTopic(i), 1, opt.window, measureWindow{})
		p.interval = int64(float64(time.Second) * stallPubs / rate)
		pubs[i] = p
	}
	healthy := make([]*subscriber, stallHealthy)
	ends := make([]*connEnd, stallHealthy)
	clients := make([]*mqttClient, stallHealthy+stallPubs)
	defer func() {
		for _, e := range ends {
			if e != nil {
				e.close()
			}
		}
		closeAll(clients)
	}()

	// Subscribers first, so that nothing is published before they listen.
	for k := range healthy {
		healthy[k] = newSubscriber(stallPubs, measureWindow{t0: math.MaxInt64})
		ends[k] = newConnEnd(nil)
	}
	err := connectAll(stallHealthy, stallHealthy, func(k int) error {
		c, err := connectClient(ctx, b.addr, clientCfg{
			id: fmt.Sprintf("bench-stall-sub-%d", k), cleanStart: true, receiveMax: subReceiveMax,
			onPublish: healthy[k].onPublish, onServerDisconnect: ends[k].serverDisconnect, onClientError: ends[k].clientError,
		})
		if err != nil {
			return err
		}
		clients[k] = c
		healthy[k].cl = c
		return c.subscribe(ctx, 1, stallFilter)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribers: %w", err)
	}
	var (
		stalled    *subscriber
		stalledCfg clientCfg
		stalledCl  *mqttClient
		stalledEnd *connEnd
		gate       *readGate
	)
	if ps.stalled {
		stalled = newSubscriber(stallPubs, measureWindow{t0: math.MaxInt64})
		stalledEnd = newConnEnd(func() []uint64 { return sentSoFar(pubs) })
		gate = newReadGate()
		stalledCfg = clientCfg{
			id: "bench-stall-stalled", cleanStart: !ps.persistent, receiveMax: subReceiveMax, onPublish: stalled.onPublish,
			readGate: gate, onServerDisconnect: stalledEnd.serverDisconnect, onClientError: stalledEnd.clientError,
		}
		if ps.persistent {
			stalledCfg.sessionExpiry = sessionExpiry1d
		}
		if stalledCl, err = connectClient(ctx, b.addr, stalledCfg); err != nil {
			return nil, fmt.Errorf("stalled subscriber: %w", err)
		}
		defer func() {
			stalledEnd.close()
			closeAll([]*mqttClient{stalledCl})
		}()
		if err := stalledCl.subscribe(ctx, 1, stallFilter); err != nil {
			return nil, fmt.Errorf("stalled subscriber: %w", err)
		}
	}
	// Every publisher feeds every subscriber (expected counts, for the
	// drain), with no gate: the gate would hold the publishers while the
	// stalled subscriber is behind, which is what must not happen, and
	// gating on the healthy ones only would turn a slow delivery into a
	// slow publisher and mix the two figures.
	for _, p := range pubs {
		p.subs = append(p.subs, healthy...)
		if stalled != nil {
			p.subs = append(p.subs, stalled)
		}
	}
	err = connectAll(stallPubs, 16, func(i int) error {
		c, err := connectClient(ctx, b.addr, pubs[i].clientCfg(fmt.Sprintf("bench-stall-pub-%d", i)))
		if err != nil {
			return err
		}
		clients[stallHealthy+i] = c
		pubs[i].cl = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("publishers: %w", err)
	}

	// Schedule: warm-up, then the window; the stall starts -duration/2 into
	// it and lasts -stall; publishers stop at t1.
	start := clock()
	win := measureWindow{t0: start + int64(opt.warmup), t1: start + int64(opt.warmup+winLen)}
	stallAt := win.t0 + int64(opt.duration/2)
	resumeAt := stallAt + int64(opt.stall)
	for _, s := range healthy {
		s.mu.Lock()
		s.win = win
		s.mu.Unlock()
	}
	if stalled != nil {
		stalled.mu.Lock()
		stalled.win = measureWindow{t0: stallAt, t1: resumeAt}
		stalled.mu.Unlock()
	}
	runCtx, cancelRun := context.WithTimeout(ctx, opt.warmup+winLen+opt.drain+time.Minute)
	defer cancelRun()
	pubCtx, stopPubs := context.WithCancel(runCtx)
	defer stopPubs()

	run := startPublishers(pubCtx, pubs, win)
	stallDone := make(chan struct{})
	if gate != nil {
		go func() {
			defer close(stallDone)
			sleepUntil(runCtx, stallAt)
			gate.shut()
			sleepUntil(runCtx, resumeAt)
			gate.reopen()
		}()
	} else {
		close(stallDone)
	}
	if opt.verbose {
		tlDone := make(chan struct{})
		defer close(tlDone)
		subs := healthy
		if stalled != nil {
			subs = append(subs[:len(subs):len(subs)], stalled)
		}
		go timeline(scenarioStall+"/"+ps.name, b.name, start, tlDone, pubs, subs)
	}

	sleepUntil(ctx, win.t0)
	profile := profilePath(b, opt, scenarioStall+"-"+ps.name, rep)
	var waitProfile func() error
	if profile != "" {
		waitProfile = b.cpuProfile(int(math.Ceil(winLen.Seconds())), profile)
	}
	cpu0 := markCPU(b.pid())
	sleepUntil(ctx, win.t1)
	cpu1 := markCPU(b.pid())
	rss, err2 := procRSS(b.pid())
	stopPubs()
	run.publishers.Wait()
	<-stallDone
	fail := func(err error) (*stallPass, error) {
		close(run.ackDone)
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("interrupted: %w", err))
	}
	if err := b.unexpectedExit(); err != nil {
		return fail(err)
	}
	if err := errors.Join(cpu0.err, cpu1.err, err2); err != nil {
		return fail(fmt.Errorf("broker CPU or RSS: %w", err))
	}

	res.Drained = drain(pubs, healthy, opt.drain, opt.drain)
	close(run.ackDone)
	run.ackers.Wait()
	if waitProfile != nil {
		if err := waitProfile(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s %s: %v\n", scenarioStall, ps.name, err)
			profile = ""
		}
	}
	res.Profile = profile
	res.RSSMB = mb(rss)
	res.BrokerCPU, res.BenchCPU, res.OtherCPU = cpuBetween(cpu0, cpu1)

	if stalled != nil {
		st, err := finishStalled(ctx, b, stalled, stalledCl, stalledEnd, stalledCfg, pubs, resumeAt, opt)
		stalledCl = nil // closed
		if err != nil {
			return nil, err
		}
		res.Stalled = st
	}

	var pubWin int64
	for _, p := range pubs {
		res.Sent += int64(p.sent.Load())
		res.Acked += p.ackCount
		res.Nacked += p.nacks
		res.Errors += p.errors.Load()
		pubWin += p.inWindow
	}
	var lat []int64
	for _, s := range healthy {
		s.mu.Lock()
		res.Counted += s.inWindow
		lat = append(lat, s.lat...)
		res.Foreign += s.foreign
		for i, p := range pubs {
			t := &s.tracks[i]
			res.Dup += t.dup
			res.OOO += t.ooo
			res.Lost += t.lost(p.sent.Load(), &p.acked)
		}
		s.mu.Unlock()
	}
	for _, e := range ends {
		if e.hasEnded() {
			res.Dropped++
		}
	}
	res.PubRate = float64(pubWin) / winLen.Seconds()
	res.Healthy = float64(res.Counted) / stallHealthy / winLen.Seconds()
	p50, p99 := latencySummary(lat)
	res.P50Ms, res.P99Ms = ms(p50), ms(p99)
	return res, b.unexpectedExit()
}

// finishStalled lets the stalled subscriber catch up if it is still
// connected, closes it, with the persistent session reconnects it to
// collect what the broker kept, and counts. Each catch-up is a drain: it
// ends when everything sent towards the subscriber arrived, or after
// -drain without a new message (a broker may hold messages back for a
// while; what has not come by then counts as lost). The publishers have stopped
// and their PUBACKs are in; its reads resumed at resumeAt (bench clock). cl
// is closed on return.
func finishStalled(ctx context.Context, b *broker, s *subscriber, cl *mqttClient, end *connEnd, cfg clientCfg, pubs []*publisher, resumeAt int64, opt options) (*stalledResult, error) {
	res := &stalledResult{Persistent: cfg.sessionExpiry > 0, StallS: opt.stall.Seconds()}
	if !end.hasEnded() {
		drain(nil, []*subscriber{s}, opt.drain, opt.drain)
	}
	ended := end.close()
	cl.close()
	end.mu.Lock()
	mark, at := end.mark, end.at
	switch {
	case !ended:
		res.Ended = "connected"
	case end.reason >= 0:
		res.Ended = "disconnected"
		res.Reason = fmt.Sprintf("0x%02x", end.reason)
		res.ReasonString = end.reasonString
	default:
		res.Ended = "closed"
		res.ClientError = end.err
	}
	end.mu.Unlock()
	if ended {
		res.EndedAfterS = max(0, float64(at-resumeAt)/1e9)
	}

	if res.Persistent {
		before := s.delivered.Load()
		c := cfg
		c.readGate, c.onServerDisconnect, c.onClientError = nil, nil, nil
		c2, err := connectClient(ctx, b.addr, c)
		if err != nil {
			return nil, fmt.Errorf("stalled subscriber: reconnect: %w", err)
		}
		drain(nil, []*subscriber{s}, opt.drain, opt.drain)
		c2.close()
		res.Reconnected = true
		res.AfterReconnect = s.delivered.Load() - before
	}

	// What was published while it was subscribed: everything, but with a
	// clean session that ended, what was sent until the client noticed.
	if res.Persistent || !ended || mark == nil {
		mark = sentSoFar(pubs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res.DuringStall = s.inWindow
	for i, p := range pubs {
		t := &s.tracks[i]
		got, skipped, cut := t.split(mark[i], &p.acked)
		res.Received += got
		res.Skipped += skipped
		res.CutOff += cut
		res.Dup += t.dup
		res.OOO += t.ooo
	}
	res.Lost = res.Skipped + res.CutOff
	res.Published = res.Received + res.Lost
	return res, nil
}

// stallPassSummary is one pass over a broker's reps: medians of the rates,
// sums of the counts.
type stallPassSummary struct {
	Pass         string  `json:"pass"`
	Runs         int     `json:"runs"`
	PubRate      float64 `json:"publish_rate_msgs_per_s"`
	PubRatio     float64 `json:"publish_ratio"` // this pass's median / pass none's
	Healthy      float64 `json:"healthy_rate_msgs_per_s"`
	HealthyRatio float64 `json:"healthy_ratio"` // target >= stallTarget
	P99Ms        float64 `json:"healthy_p99_ms"`
	Lost         int64   `json:"healthy_lost"`
	Dropped      int     `json:"healthy_connections_lost"`

	Stalled        bool           `json:"stalled"`
	Published      int64          `json:"stalled_published"`
	Received       int64          `json:"stalled_received"`
	StalledLost    int64          `json:"stalled_lost"`
	Skipped        int64          `json:"stalled_lost_skipped"`
	CutOff         int64          `json:"stalled_lost_after_last"`
	Endings        map[string]int `json:"stalled_ended,omitempty"` // ending label → reps
	Reconnected    int            `json:"stalled_reconnected"`
	AfterReconnect int64          `json:"stalled_after_reconnect"`
}

// summarizeStall summarises the reps of one broker, pass by pass.
func summarizeStall(rs []*stallResult) []stallPassSummary {
	var out []stallPassSummary
	for _, spec := range stallPassSpecs {
		s := stallPassSummary{Pass: spec.name, Stalled: spec.stalled}
		var pub, healthy, p99 []float64
		for _, r := range rs {
			for _, p := range r.Passes {
				if p.Pass != spec.name {
					continue
				}
				s.Runs++
				pub, healthy, p99 = append(pub, p.PubRate), append(healthy, p.Healthy), append(p99, p.P99Ms)
				s.Lost += p.Lost
				s.Dropped += p.Dropped
				if st := p.Stalled; st != nil {
					s.Published += st.Published
					s.Received += st.Received
					s.StalledLost += st.Lost
					s.Skipped += st.Skipped
					s.CutOff += st.CutOff
					if s.Endings == nil {
						s.Endings = map[string]int{}
					}
					s.Endings[endingLabel(st)]++
					if st.Reconnected {
						s.Reconnected++
						s.AfterReconnect += st.AfterReconnect
					}
				}
			}
		}
		s.PubRate, s.Healthy, s.P99Ms = median(pub), median(healthy), median(p99)
		out = append(out, s)
	}
	for i := range out {
		out[i].PubRatio, out[i].HealthyRatio = math.NaN(), math.NaN()
		if out[i].Pass != stallPassSpecs[0].name {
			out[i].PubRatio = ratio(out[i].PubRate, out[0].PubRate)
			out[i].HealthyRatio = ratio(out[i].Healthy, out[0].Healthy)
		}
	}
	return out
}

// stallHealthyRate returns a pass's median healthy rate (NaN if none).
func stallHealthyRate(ss []stallPassSummary, pass string) float64 {
	for _, s := range ss {
		if s.Pass == pass {
			return s.Healthy
		}
	}
	return math.NaN()
}

// disconnectReasons names the MQTT 5 DISCONNECT reason codes a broker sends.
var disconnectReasons = map[string]string{
	"0x00": "normal", "0x80": "unspecified error", "0x81": "malformed packet", "0x82": "protocol error",
	"0x83": "implementation specific error", "0x87": "not authorized", "0x89": "server busy",
	"0x8b": "server shutting down", "0x8d": "keep alive timeout", "0x8e": "session taken over",
	"0x93": "receive maximum exceeded", "0x95": "packet too large", "0x96": "message rate too high",
	"0x97": "quota exceeded", "0x98": "administrative action", "0x9f": "connection rate exceeded",
}

// endingLabel says how the stalled subscriber's connection ended.
func endingLabel(st *stalledResult) string {
	switch st.Ended {
	case "disconnected":
		l := "DISCONNECT " + st.Reason
		if n := disconnectReasons[st.Reason]; n != "" {
			l += " " + n
		}
		if st.ReasonString != "" {
			l += fmt.Sprintf(" %q", st.ReasonString)
		}
		return l
	case "closed":
		why := "error"
		switch e := st.ClientError; {
		case strings.Contains(e, io.EOF.Error()):
			why = "EOF"
		case strings.Contains(e, syscall.ECONNRESET.Error()):
			why = "reset"
		}
		return "closed without DISCONNECT (" + why + ")"
	}
	return st.Ended
}

// endings lists the endings of a pass's reps, the most frequent first.
func endings(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	type kv struct {
		k string
		n int
	}
	var l []kv
	for k, n := range m {
		l = append(l, kv{k, n})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].n > l[j].n || l[i].n == l[j].n && l[i].k < l[j].k })
	if len(l) == 1 && l[0].n == 1 {
		return l[0].k
	}
	var parts []string
	for _, x := range l {
		parts = append(parts, fmt.Sprintf("%s x%d", x.k, x.n))
	}
	return strings.Join(parts, ", ")
}

// stallProgress is the stderr line of a finished rep.
func stallProgress(r *stallResult) string {
	var parts []string
	for _, p := range r.Passes {
		s := fmt.Sprintf("%s: publish %.0f, healthy %.0f msg/s (p99 %.1f ms, lost %d)", p.Pass, p.PubRate, p.Healthy, p.P99Ms, p.Lost)
		if st := p.Stalled; st != nil {
			s += fmt.Sprintf(", stalled got %d/%d, %s", st.Received, st.Published, endingLabel(st))
			if st.Reconnected {
				s += fmt.Sprintf(", %d after reconnect", st.AfterReconnect)
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// printStall writes the stalled-subscriber table: both brokers, pass by
// pass.
func printStall(w io.Writer, s scenarioSummary, opt options) {
	fmt.Fprintf(w, "\n%s: QoS 1, %d publishers paced at %.0f publishes/s in all, publisher i on bench/stall/<i>; %d healthy subscribers on %s;\n",
		s.Scenario, stallPubs, stallRateFor(opt), stallHealthy, stallFilter)
	fmt.Fprintf(w, "in passes b and c a third on %s stops reading its socket for %v, %v into the %v window; a fresh broker per pass\n",
		stallFilter, opt.stall, opt.duration/2, opt.duration+opt.stall)
	fmt.Fprintf(w, "rates: medians over reps, healthy = deliveries/s per healthy subscriber; ratio = this pass / pass a (healthy: target >= %.1f); counts: sums over reps\n", stallTarget)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "broker\tpass\tpublish msg/s\tratio\thealthy msg/s\tratio\ttarget\thealthy p99 ms\thealthy lost\tstalled got/published\tlost skipped/after last\tstalled ended\tafter reconnect\n")
	for _, x := range s.Sides {
		for i, p := range x.Stall {
			label := p.Pass
			if i < len(stallPassSpecs) {
				label = stallPassSpecs[i].label
			}
			verdict, got, lost, after := "-", "-", "-", "-"
			if p.Stalled {
				if !math.IsNaN(p.HealthyRatio) {
					verdict = "MISSED"
					if p.HealthyRatio >= stallTarget {
						verdict = "met"
					}
				}
				if p.Runs > 0 {
					got = fmt.Sprintf("%d/%d", p.Received, p.Published)
					lost = fmt.Sprintf("%d/%d", p.Skipped, p.CutOff)
				}
				if p.Reconnected > 0 {
					after = fmt.Sprintf("%d", p.AfterReconnect)
				}
			}
			healthyLost := "-"
			if p.Runs > 0 {
				healthyLost = fmt.Sprintf("%d", p.Lost)
				if p.Dropped > 0 {
					healthyLost += fmt.Sprintf(" (%d disconnected)", p.Dropped)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n", x.Broker, label,
				num(p.PubRate, 0), num(p.PubRatio, 2), num(p.Healthy, 0), num(p.HealthyRatio, 2), verdict,
				num(p.P99Ms, 1), healthyLost, got, lost, endings(p.Endings), after, failed(x))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "stalled: of the acknowledged messages published while it was subscribed (a clean session: until the client noticed the end\n")
	fmt.Fprintf(w, "of its connection, after the stall), those it received on either connection and those missing, before or after the last that\n")
	fmt.Fprintf(w, "arrived from the same publisher; after reconnect: new messages once the persistent session resumed (Clean Start 0)\n")
	fmt.Fprintf(w, "ratio (%s/%s, healthy msg/s in pass b): %s\n", s.Sides[0].Broker, s.Sides[1].Broker, num(s.Ratio, 2))
}

// fixStallFloats replaces NaN in the summaries (see nanSafe); it returns a
// copy.
func fixStallFloats(ss []stallPassSummary, fix func(*float64)) []stallPassSummary {
	if ss == nil {
		return nil
	}
	out := make([]stallPassSummary, len(ss))
	copy(out, ss)
	for i := range out {
		for _, f := range []*float64{&out[i].PubRate, &out[i].PubRatio, &out[i].Healthy, &out[i].HealthyRatio, &out[i].P99Ms} {
			fix(f)
		}
	}
	return out
}
