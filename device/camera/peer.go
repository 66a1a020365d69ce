package camera

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/storeedge/storeedge/device"
)

// PeerOptions are the WebRTC settings the camera and the viewer share.
type PeerOptions struct {
	// ICEServers are STUN and TURN servers; none are needed on the store
	// LAN, where host candidates reach the relay. A viewer given none
	// uses those of its watch session.
	ICEServers []device.ICEServer
	// Loopback gathers loopback candidates too, which pion leaves out by
	// default: for tests with both peers on one machine.
	Loopback bool
	// Interfaces, when set, keeps only the candidates of the network
	// interfaces it accepts (by name), e.g. the store LAN's.
	Interfaces func(name string) bool
	// DisconnectedTimeout, FailedTimeout and KeepAlive are the ICE
	// timeouts (pion's defaults are 5 s, 25 s and 2 s, made for the
	// Internet): default 2 s, 5 s and 0.5 s, so that a camera unplugged
	// from the LAN is given up within seconds.
	DisconnectedTimeout, FailedTimeout, KeepAlive time.Duration
	// Log receives the log lines, pion's included (default: discarded).
	Log *slog.Logger
}

func (o PeerOptions) withDefaults() PeerOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DisconnectedTimeout, 2*time.Second)
	def(&o.FailedTimeout, 5*time.Second)
	def(&o.KeepAlive, 500*time.Millisecond)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// newAPI builds the pion API for o: default codecs and interceptors (NACK
// and RTCP reports), and the settings above.
func newAPI(o PeerOptions) (*webrtc.API, error) {
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(o.Loopback)
	if o.Interfaces != nil {
		se.SetInterfaceFilter(o.Interfaces)
	}
	se.SetICETimeouts(o.DisconnectedTimeout, o.FailedTimeout, o.KeepAlive)
	// Both ends of these connections are pion (the relay and a camera or a
	// Go viewer): none sends mDNS candidates, and querying would open a
	// multicast socket per connection for nothing.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.LoggerFactory = pionLogs{o.Log}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("camera: codecs: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m)), nil
}

func configuration(servers []device.ICEServer) webrtc.Configuration {
	var cfg webrtc.Configuration
	for _, s := range servers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return cfg
}

// toWire and fromWire convert trickled candidates between pion's and the
// signaling's (the browser's) shape, which have the same fields.
func toWire(c webrtc.ICECandidateInit) *device.ICECandidate { return (*device.ICECandidate)(&c) }

func fromWire(w *device.ICECandidate) webrtc.ICECandidateInit { return webrtc.ICECandidateInit(*w) }

// usable reports whether a trickled candidate is worth adding: the end of
// candidates (an empty string) is sent by browsers and means nothing to
// pion.
func usable(w *device.ICECandidate) bool { return w != nil && w.Candidate != "" }

// inbox hands values from callbacks that must not block (paho's receiving
// goroutine, pion's) to one goroutine, in order and without a bound: a
// signal dropped for want of room would break the negotiation.
type inbox[T any] struct {
	mu     sync.Mutex
	q      []T
	closed bool
	ready  chan struct{}
}

func newInbox[T any]() *inbox[T] { return &inbox[T]{ready: make(chan struct{}, 1)} }

func (b *inbox[T]) push(v T) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.q = append(b.q, v)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// take empties the inbox.
func (b *inbox[T]) take() []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.q
	b.q = nil
	return q
}

// close drops what is queued and what comes later.
func (b *inbox[T]) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed, b.q = true, nil
}

// outbox publishes one peer connection's signals in order from its own
// goroutine, so that the pion callbacks that produce candidates never wait
// for a PUBACK.
type outbox struct {
	c               *device.Client
	camera, session string
	log             *slog.Logger
	in              *inbox[device.Signal]
}

func newOutbox(c *device.Client, camera, session string, log *slog.Logger) *outbox {
	return &outbox{c: c, camera: camera, session: session, log: log, in: newInbox[device.Signal]()}
}

func (o *outbox) push(s device.Signal) { o.in.push(s) }

// run sends until ctx ends.
func (o *outbox) run(ctx context.Context) {
	defer o.in.close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.in.ready:
		}
		for _, s := range o.in.take() {
			if err := o.c.SendSignal(ctx, o.camera, o.session, s); err != nil {
				if ctx.Err() != nil {
					return
				}
				o.log.Warn("camera: signal not sent", "session", o.session, "type", s.Type, "err", err)
			}
		}
	}
}

// byeTimeout bounds sending a bye while hanging up, also when the caller's
// context has ended already.
const byeTimeout = 2 * time.Second

// sendBye tells the other side of session that this side hung up; best
// effort, since the other side notices a dead connection anyway.
func sendBye(ctx context.Context, c *device.Client, camera, session string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), byeTimeout)
	defer cancel()
	if err := c.SendSignal(ctx, camera, session, device.Signal{Type: device.SignalBye, Reason: device.ByeClosed}); err != nil {
		log.Debug("camera: bye not sent", "session", session, "err", err)
	}
}

// pionLogs routes pion's log lines to slog. pion's info lines are
// per-state-change chatter: they go out at debug level; trace is dropped.
type pionLogs struct{ log *slog.Logger }

func (p pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLog{p.log.With("pion", scope)}
}

type pionLog struct{ log *slog.Logger }

func (l pionLog) at(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, args...))
}

func (pionLog) Trace(string)          {}
func (pionLog) Tracef(string, ...any) {}
func (l pionLog) Debug(m string)      { l.at(slog.LevelDebug, "%s", m) }
func (l pionLog) Debugf(f string, a ...any) {
	l.at(slog.LevelDebug, f, a...)
}
func (l pionLog) Info(m string)             { l.at(slog.LevelDebug, "%s", m) }
func (l pionLog) Infof(f string, a ...any)  { l.at(slog.LevelDebug, f, a...) }
func (l pionLog) Warn(m string)             { l.at(slog.LevelWarn, "%s", m) }
func (l pionLog) Warnf(f string, a ...any)  { l.at(slog.LevelWarn, f, a...) }
func (l pionLog) Error(m string)            { l.at(slog.LevelError, "%s", m) }
func (l pionLog) Errorf(f string, a ...any) { l.at(slog.LevelError, f, a...) }
