// Package badactor checks that a misbehaving client cannot hurt the store
// broker: it sends garbage and malformed packets, logs in with wrong
// credentials and client ids, publishes and subscribes beyond its role,
// sends broken and oversized service requests and requests whose answer
// would go to someone else, and a packet over the broker's size limit; then
// it checks that an honest device is still served. The expected outcome of
// each check is the broker's documented behaviour (PROTOCOL.md,
// "Connecting" and "Request / answer envelope").
//
// Every check opens its own connections (raw TCP for malformed bytes, a
// paho MQTT 5 client for the rest) and runs under its own deadline, so one
// that goes wrong neither hangs nor disturbs the others. Client ids are the
// device id with a suffix ("kiosk-1:bad-pub"), except where a check is
// about the client id itself; no check takes over the session of the
// device id alone. A run opens 19 connections; the 14 that send a complete
// CONNECT count towards the broker's limits.connect_rate_per_minute for the
// source address (60 by default).
//
// The broker's service request limit is larger than the 64 KiB the request
// envelope names: the broker raises it so that a media chunk request fits
// (Target.MaxRequestBytes, DefaultMaxRequestBytes).
package badactor

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// DefaultMaxPacketSize is the broker's default limits.max_packet_size.
const DefaultMaxPacketSize = 1 << 20

// DefaultMaxRequestBytes is the largest service request a broker with the
// default configuration runs: 64 KiB at least, raised so that a media
// chunk request fits (media.chunk_bytes 256 KiB as base64, plus 4 KiB).
const DefaultMaxRequestBytes = 353_624

// Target is the broker under test and an honest device's login.
type Target struct {
	Addr          string // host:port of the MQTT TCP listener
	DeviceID      string // an honest device of role kiosk
	Password      string // its password
	MaxPacketSize int    // the broker's limits.max_packet_size (0: DefaultMaxPacketSize)
	// MaxRequestBytes is the broker's service request limit (0:
	// DefaultMaxRequestBytes); a larger request is answered too_large.
	MaxRequestBytes int
}

// Result is the outcome of one check.
type Result struct {
	Name   string
	Pass   bool
	Detail string // what was seen, or why the check failed
}

func (r Result) String() string {
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s  %s: %s", verdict, r.Name, r.Detail)
}

// timing holds how long the checks wait.
type timing struct {
	check  time.Duration // one check, in all
	closed time.Duration // for the broker to close a connection
	quiet  time.Duration // for an answer that must not come
	answer time.Duration // for an answer that must come
}

var defaultTiming = timing{check: 20 * time.Second, closed: 5 * time.Second, quiet: time.Second, answer: 10 * time.Second}

// check is one misbehaviour: run returns what it saw, or an error when the
// broker did not behave as documented.
type check struct {
	name string
	run  func(ctx context.Context, r *runner) (string, error)
}

// runner carries a run's target and settings to the checks.
type runner struct {
	t   Target
	tm  timing
	seq atomic.Int64 // makes request ids and correlation data unique
}

func (r *runner) maxRequest() int {
	if r.t.MaxRequestBytes > 0 {
		return r.t.MaxRequestBytes
	}
	return DefaultMaxRequestBytes
}

func (r *runner) maxPacket() int {
	if r.t.MaxPacketSize > 0 {
		return r.t.MaxPacketSize
	}
	return DefaultMaxPacketSize
}

// clientID is the honest device's id with a suffix ("kiosk-1:bad3").
func (r *runner) clientID(suffix string) string { return r.t.DeviceID + ":" + suffix }

// Run runs every check against t, in order, and returns their results. The
// last one connects as the honest device and must be served. It returns
// when all are done or ctx ends (the checks not run then fail).
func Run(ctx context.Context, t Target) []Result {
	return run(ctx, t, defaultTiming, checks())
}

func run(ctx context.Context, t Target, tm timing, cs []check) []Result {
	r := &runner{t: t, tm: tm}
	out := make([]Result, 0, len(cs))
	for _, c := range cs {
		out = append(out, r.one(ctx, c))
	}
	return out
}

func (r *runner) one(ctx context.Context, c check) Result {
	if err := ctx.Err(); err != nil {
		return Result{Name: c.name, Detail: fmt.Sprintf("not run: %v", err)}
	}
	if r.t.Addr == "" || r.t.DeviceID == "" {
		return Result{Name: c.name, Detail: "not run: the target needs Addr and DeviceID"}
	}
	cctx, cancel := context.WithTimeout(ctx, r.tm.check)
	defer cancel()
	detail, err := c.run(cctx, r)
	if err != nil {
		if cctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w (%w)", err, cctx.Err())
		}
		return Result{Name: c.name, Detail: err.Error()}
	}
	return Result{Name: c.name, Pass: true, Detail: detail}
}

// checks are the misbehaviours, in the order Run tries them.
func checks() []check {
	return []check{
		{"http request instead of CONNECT", checkGarbageHTTP},
		{"random bytes instead of CONNECT", checkGarbageRandom},
		{"CONNECT with a malformed remaining length", checkMalformedLength},
		{"CONNECT shorter than its fields", checkShortConnect},
		{"CONNECT cut off mid-packet", checkCutConnect},
		{"wrong password", checkWrongPassword},
		{"unknown device", checkUnknownDevice},
		{"client id of another device", checkForeignClientID},
		{"client id with / or +", checkWildcardClientID},
		{"publish to forbidden topics", checkForbiddenPublish},
		{"subscribe beyond the role", checkForbiddenSubscribe},
		{"request with malformed JSON", checkGarbageJSON},
		{"request without id", checkNoID},
		{"request over the request limit", checkTooLarge},
		{"request answered to someone else", checkForeignReply},
		{"packet over the maximum packet size", checkOversizePacket},
		{"honest device still served", checkHonest},
	}
}
