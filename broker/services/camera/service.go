package camera

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/strictjson"
	"github.com/storeedge/storeedge/proto"
)

// ServiceName is the service's topic level: requests go to svc/camera/{op}.
const ServiceName = proto.ServiceCamera

// Inline subscription ids of the service (distinct from the other services').
const (
	subSignals  = 0xca01
	subStatus   = 0xca02
	subBookings = 0xca03
)

var (
	signalFilter  = proto.SignalTopic("+", "+")
	statusFilter  = proto.DeviceStatusFilter
	bookingFilter = proto.BookingStaffTopic
)

// Service is the camera relay and its svc/camera ops.
type Service struct {
	o   Options
	log *slog.Logger
	api *webrtc.API

	inbox   chan packets.Packet
	recheck chan struct{} // coalesced requests to check owners' grants again

	mu       sync.Mutex
	feeds    map[string]*feed   // registered cameras by device id
	sessions map[string]*viewer // viewer sessions by id
	stopped  bool

	stats stats
	wg    sync.WaitGroup // goroutines of peer connections (forwarders, RTCP readers)
}

// stats are the service's counters.
type stats struct {
	watches, denied, ended, keyframeRequests, packets, snapshots atomic.Uint64
	hqAnswered, hqRefused, hqExpired                             atomic.Uint64
}

// Stats is a snapshot of the service's state and counters.
type Stats struct {
	Cameras, Upstreams, Viewers int
	// Watches counts sessions granted, Denied requests refused.
	Watches, Denied, Ended uint64
	KeyframeRequests       uint64 // PLIs sent to cameras
	Packets                uint64 // RTP packets received from cameras
	Snapshots              uint64
	// Viewers at home (HandleHQ): watches answered with a session,
	// refused with a code, and dropped unanswered past their expires.
	HQAnswered, HQRefused, HQExpired uint64
}

// New validates the options and builds the WebRTC stack; call Register
// before the router starts and Run after.
func New(o Options) (*Service, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	api, err := newAPI(o)
	if err != nil {
		return nil, err
	}
	return &Service{
		o: o, log: o.Log, api: api,
		inbox:    make(chan packets.Packet, o.InboxSize),
		recheck:  make(chan struct{}, 1),
		feeds:    map[string]*feed{},
		sessions: map[string]*viewer{},
	}, nil
}

// newAPI makes the pion stack every peer connection of the relay shares:
// the default codecs and interceptors (NACK, RTCP reports), UDP over IPv4
// only, and ICE timeouts for a LAN, where a peer that stopped answering
// for 2 s is gone rather than slow.
func newAPI(o Options) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("camera: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("camera: interceptors: %w", err)
	}
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICETimeouts(2*time.Second, 5*time.Second, 500*time.Millisecond)
	// Browsers hide their host addresses behind mDNS names; the relay does
	// not resolve them (that needs multicast on the LAN) but learns the
	// address from the browser's connectivity checks (peer-reflexive).
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(o.Loopback)
	if o.UDPPortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(o.UDPPortMin, o.UDPPortMax); err != nil {
			return nil, fmt.Errorf("camera: udp ports: %w", err)
		}
	}
	if len(o.Interfaces) > 0 {
		allowed := slices.Clone(o.Interfaces)
		se.SetInterfaceFilter(func(name string) bool { return slices.Contains(allowed, name) })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// pcConfig is the configuration of every peer connection of the relay.
func (s *Service) pcConfig() webrtc.Configuration {
	var c webrtc.Configuration
	for _, is := range s.o.ICEServers {
		c.ICEServers = append(c.ICEServers, webrtc.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	return c
}

// Register adds the service's ops to the router.
func (s *Service) Register() error {
	err := s.o.Router.HandleService(ServiceName, map[string]svc.Handler{
		"register":   s.register,
		"unregister": s.unregister,
		"watch":      s.watch,
		"snapshot":   s.snapshot,
	}, map[string][]svc.OpOption{
		"register":   {svc.Roles("camera")},
		"unregister": {svc.Roles("camera")},
		"snapshot":   {svc.Roles(s.o.StaffRoles...)},
	})
	if err != nil {
		return fmt.Errorf("camera: %w", err)
	}
	return nil
}

// Run subscribes to signaling, device status and booking events and handles
// them until ctx ends; then it ends every session (bye "shutdown") and
// closes every peer connection.
func (s *Service) Run(ctx context.Context) error {
	srv := s.o.Server
	subs := []struct {
		filter string
		id     int
		fn     func(packets.Packet)
	}{
		{signalFilter, subSignals, s.onSignal},
		{statusFilter, subStatus, s.onStatus},
		{bookingFilter, subBookings, func(packets.Packet) { s.askRecheck() }},
	}
	for _, sub := range subs {
		fn := sub.fn
		if err := srv.Subscribe(sub.filter, sub.id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) { fn(pk) }); err != nil {
			return fmt.Errorf("camera: subscribe %s: %w", sub.filter, err)
		}
		defer func() { _ = srv.Unsubscribe(sub.filter, sub.id) }() // fails only for a bad filter
	}
	tick := time.NewTicker(s.o.Recheck)
	defer tick.Stop()
	defer s.shutdown()
	for {
		select {
		case <-ctx.Done():
			return nil
		case pk := <-s.inbox:
			s.handleSignal(pk)
		case <-s.recheck:
			s.recheckGrants()
		case <-tick.C:
			s.recheckGrants()
		}
	}
}

// onSignal runs on the publisher's goroutine (mochi's inline delivery): it
// only queues. The relay's own signals come back here too and are skipped.
func (s *Service) onSignal(pk packets.Packet) {
	if pk.Origin == "" || pk.Origin == mqtt.InlineClientId {
		return
	}
	select {
	case s.inbox <- pk.Copy(false):
	default:
		s.log.Warn("camera: signal dropped: inbox full", "topic", pk.TopicName, "from", pk.Origin)
	}
}

// askRecheck asks Run to check owners' grants again (coalesced).
func (s *Service) askRecheck() {
	select {
	case s.recheck <- struct{}{}:
	default:
	}
}

// send publishes a signal of the relay on a session's topic.
func (s *Service) send(camera, session string, sig Signal) {
	sig.V, sig.From = 1, RelayFrom
	if err := s.o.Router.Emit(SignalTopic(camera, session), sig); err != nil {
		s.log.Warn("camera: signal not sent", "camera", camera, "session", session, "type", sig.Type, "err", err)
	}
}

// handleSignal handles one signaling message, in order per topic (Run is
// the only caller).
func (s *Service) handleSignal(pk packets.Packet) {
	camera, session, sig, err := parseSignal(pk.TopicName, pk.Payload)
	if err != nil {
		s.log.Debug("camera: signal ignored", "topic", pk.TopicName, "from", pk.Origin, "err", err)
		return
	}
	switch {
	case sig.From == RelayFrom:
		// Only the relay speaks as the relay: a client claiming to be it
		// is ignored here (cameras check "from" on their side too).
	case strings.HasPrefix(session, upstreamPrefix):
		s.upstreamSignal(camera, session, pk.Origin, sig)
	case strings.HasPrefix(session, viewerPrefix):
		s.viewerSignal(camera, session, pk.Origin, sig)
	}
}

// parseSignal reads a signaling message: camera/{camera}/signal/{session}
// and its JSON payload, at most maxSignalBytes.
func parseSignal(topic string, payload []byte) (camera, session string, sig Signal, err error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0] != "camera" || parts[2] != "signal" || parts[1] == "" || parts[3] == "" {
		return "", "", Signal{}, fmt.Errorf("camera: %q is not a signaling topic", topic)
	}
	if len(payload) > maxSignalBytes {
		return "", "", Signal{}, fmt.Errorf("camera: signal of %d bytes (at most %d)", len(payload), maxSignalBytes)
	}
	if err := json.Unmarshal(payload, &sig); err != nil {
		return "", "", Signal{}, fmt.Errorf("camera: signal: %w", err)
	}
	switch sig.Type {
	case SignalOffer, SignalAnswer:
		if sig.SDP == "" {
			return "", "", Signal{}, fmt.Errorf("camera: %s without sdp", sig.Type)
		}
	case SignalCandidate, SignalBye:
	default:
		return "", "", Signal{}, fmt.Errorf("camera: signal type %q", sig.Type)
	}
	return parts[1], parts[3], sig, nil
}

// shutdown ends every session and upstream.
func (s *Service) shutdown() {
	s.mu.Lock()
	s.stopped = true
	vs := make([]*viewer, 0, len(s.sessions))
	for _, v := range s.sessions {
		vs = append(vs, v)
	}
	fs := make([]*feed, 0, len(s.feeds))
	for _, f := range s.feeds {
		fs = append(fs, f)
	}
	s.mu.Unlock()
	for _, v := range vs {
		s.endViewer(v, ReasonShutdown, true)
	}
	for _, f := range fs {
		s.dropFeed(f, ReasonShutdown)
	}
	s.wg.Wait()
}

// Member decides the ACL's camera/+/signal/%m grant: session is a live
// viewer session of this very client.
func (s *Service) Member(id auth.Identity, session string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.sessions[session]
	return v != nil && v.owner.ClientID == id.ClientID
}

// Stats returns the service's state and counters.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	st := Stats{Cameras: len(s.feeds), Viewers: len(s.sessions)}
	for _, f := range s.feeds {
		if f.up != nil {
			st.Upstreams++
		}
	}
	s.mu.Unlock()
	st.Watches, st.Denied, st.Ended = s.stats.watches.Load(), s.stats.denied.Load(), s.stats.ended.Load()
	st.KeyframeRequests, st.Packets, st.Snapshots = s.stats.keyframeRequests.Load(), s.stats.packets.Load(), s.stats.snapshots.Load()
	st.HQAnswered, st.HQRefused, st.HQExpired = s.stats.hqAnswered.Load(), s.stats.hqRefused.Load(), s.stats.hqExpired.Load()
	return st
}

func (s *Service) staff(role string) bool { return slices.Contains(s.o.StaffRoles, role) }

var idEnc = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID makes a session id: prefix and 128 random bits, one topic level.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + idEnc.EncodeToString(b[:])
}

// errStopped answers requests arriving while the service stops.
var errStopped = errors.New("camera: service stopped")

// decode reads a request body strictly (internal/strictjson: case-sensitive
// names, each once, no unknown fields), answering bad_request.
func decode(body json.RawMessage, v any) error {
	if err := strictjson.Decode(body, v); err != nil {
		return svc.Errorf(svc.CodeBadRequest, "bad request body: %v", err)
	}
	return nil
}
