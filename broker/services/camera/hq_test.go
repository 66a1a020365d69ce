package camera_test

// A customer at home watches through HQ: HQ (a real mosquitto here) sends
// her complete offer down on hq/camera/watch; the relay files its complete
// answer, or a refusal, on camera/hq/answer; the video then flows through
// a real TURN server (coturn).

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/pion/webrtc/v4"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/internal/testkit/turntest"
	"github.com/storeedge/storeedge/proto"
)

// hqBroker is HQ's broker as the store sees it, with a client that sends
// down and hears what the store sends up.
type hqBroker struct {
	t     *testing.T
	addr  string
	store string
	c     *paho.Client

	mu  sync.Mutex
	ups map[string][][]byte // by local topic
}

func startHQBroker(t *testing.T) *hqBroker {
	t.Helper()
	b := mosquittotest.Start(t, mosquittotest.Options{})
	h := &hqBroker{t: t, addr: b.Addr, ups: map[string][][]byte{}}
	conn, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	h.c = paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: "hq-test", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			parts := strings.SplitN(pr.Packet.Topic, "/", 4) // stores/{store}/up/{local}
			if len(parts) == 4 && parts[2] == "up" {
				h.mu.Lock()
				h.ups[parts[3]] = append(h.ups[parts[3]], pr.Packet.Payload)
				h.mu.Unlock()
			}
			return true, nil
		}}})
	ctx := ctxFor(t, 10*time.Second)
	if _, err := h.c.Connect(ctx, &paho.Connect{KeepAlive: 30, ClientID: "hq-test", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "stores/+/up/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.c.Disconnect(&paho.Disconnect{}) })
	return h
}

func (h *hqBroker) config(c *broker.Config) {
	c.Cloud.URL = "mqtt://" + h.addr
	c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	h.store = c.StoreID
}

// send publishes v down to the store's hq/{local}, again until the store's
// link has subscribed (PUBACK 0x10), up to 20 s.
func (h *hqBroker) send(local, id string, v any) {
	h.t.Helper()
	payload, err := json.Marshal(v)
	if err != nil {
		h.t.Fatal(err)
	}
	topic := "stores/" + h.store + "/down/" + strings.TrimPrefix(local, "hq/")
	for deadline := time.Now().Add(20 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pr, err := h.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload,
			Properties: &paho.PublishProperties{User: paho.UserProperties{{Key: cloudsync.PropID, Value: id}}}})
		cancel()
		if err != nil {
			h.t.Fatalf("HQ publish %s: %v", topic, err)
		}
		if pr == nil || pr.ReasonCode != 0x10 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("HQ publish %s: the store's link never subscribed", topic)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// answer waits for the store's answer to session.
func (h *hqBroker) answer(session string) proto.HQCameraAnswer {
	h.t.Helper()
	var a proto.HQCameraAnswer
	waitFor(h.t, 20*time.Second, "camera/hq/answer for "+session, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, p := range h.ups[proto.TopicCameraAnswer] {
			if json.Unmarshal(p, &a) == nil && a.Session == session {
				return true
			}
		}
		return false
	})
	return a
}

func (h *hqBroker) answers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ups[proto.TopicCameraAnswer])
}

// homeViewer is a viewer at home: relay candidates only (TURN), complete
// offer, counts the RTP packets it receives.
type homeViewer struct {
	pc      *webrtc.PeerConnection
	packets atomic.Int64
}

func newHomeViewer(t *testing.T, ice []proto.ICEServer) (*homeViewer, string) {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m))
	cfg := webrtc.Configuration{ICETransportPolicy: webrtc.ICETransportPolicyRelay}
	for _, s := range ice {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := api.NewPeerConnection(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	v := &homeViewer{pc: pc}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			v.packets.Add(1)
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("viewer: ICE gathering not complete in 10 s")
	}
	if !strings.Contains(pc.LocalDescription().SDP, "typ relay") {
		t.Fatalf("viewer's offer has no relay candidate (TURN):\n%s", pc.LocalDescription().SDP)
	}
	return v, pc.LocalDescription().SDP
}

// TestHomeWatchThroughHQ: the owner of the checked-in booking on table-1
// watches from home: the relay answers through HQ with a complete SDP and
// the video arrives through TURN; a stranger's booking, another
// customer's claim, a late watch and a bad one get no session.
func TestHomeWatchThroughHQ(t *testing.T) {
	turn := turntest.Start(t, turntest.Options{})
	h := startHQBroker(t)
	s := startStore(t, h.config)
	ctx := ctxFor(t, 2*time.Minute)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	owner, _ := s.CustomerCredentials(t, tablet, "")
	stranger, _ := s.CustomerCredentials(t, tablet, "")
	staff := connect(t, s, "staff-anna", "pw-staff-anna")
	startCamera(t, s, "cam-1")
	bk := bookTable1(t, ctx, s, staff, owner)
	checkInNow(t, ctx, s, staff, bk)

	user, pass := turn.Credentials("hc-0123456789abcdef", time.Hour)
	ice := []proto.ICEServer{{URLs: []string{turn.URL()}, Username: user, Credential: pass}}
	expires := func() time.Time { return s.Now().Add(8 * time.Second) }

	// Someone else claiming her booking: forbidden, in words, no session.
	_, offer := newHomeViewer(t, ice)
	h.send(proto.HQCameraWatchTopic, "w-stranger", proto.HQCameraWatch{V: 1, ID: "w-stranger", Customer: stranger,
		Booking: bk.ID, Offer: offer, ICEServers: ice, Expires: expires()})
	if a := h.answer("w-stranger"); a.OK || a.Code != "forbidden" || a.Message == "" || a.Answer != "" {
		t.Errorf("stranger's watch: %+v", a)
	}

	// Hers: a complete answer (the relay's candidates in the SDP), and video.
	v, offer := newHomeViewer(t, ice)
	h.send(proto.HQCameraWatchTopic, "w-owner", proto.HQCameraWatch{V: 1, ID: "w-owner", Customer: owner,
		Booking: bk.ID, Offer: offer, ICEServers: ice, Expires: expires()})
	a := h.answer("w-owner")
	if !a.OK || a.Camera != "cam-1" || !strings.Contains(a.Answer, "a=candidate:") {
		t.Fatalf("owner's watch: %+v", a)
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.Answer}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "video from the relay through TURN", func() bool { return v.packets.Load() > 50 })
	if typ := selectedLocalType(v.pc); typ != "relay" {
		t.Errorf("the viewer's selected candidate pair: local candidate %q, want relay (through TURN)", typ)
	}
	if m := scrape(t, s); !strings.Contains(m, "\nstoreedge_camera_viewers 1\n") {
		t.Errorf("metrics: want one viewer:\n%s", m)
	}

	// The same watch again (HQ's broker delivered it twice): nothing new.
	n := h.answers()
	h.send(proto.HQCameraWatchTopic, "w-owner-again", proto.HQCameraWatch{V: 1, ID: "w-owner", Customer: owner,
		Booking: bk.ID, Offer: offer, ICEServers: ice, Expires: expires()})

	// A watch that arrives after HQ stopped waiting: dropped unanswered, counted.
	h.send(proto.HQCameraWatchTopic, "w-late", proto.HQCameraWatch{V: 1, ID: "w-late", Customer: owner,
		Booking: bk.ID, Offer: offer, ICEServers: ice, Expires: s.Now().Add(-time.Second)})
	// A watch without an offer: invalid, dropped.
	h.send(proto.HQCameraWatchTopic, "w-bad", proto.HQCameraWatch{V: 1, ID: "w-bad", Customer: owner, Booking: bk.ID})
	waitFor(t, 10*time.Second, "the late watch counted", func() bool {
		return strings.Contains(scrape(t, s), `storeedge_camera_home_watches_total{result="expired"} 1`)
	})
	if got := h.answers(); got != n {
		t.Errorf("answers %d after the replay, the late and the bad watch, want %d", got, n)
	}
	m := scrape(t, s)
	for _, want := range []string{`storeedge_camera_home_watches_total{result="answered"} 1`, `storeedge_camera_home_watches_total{result="refused"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Bye from home ends the session at the relay.
	h.send(proto.HQCameraByeTopic, "w-owner.bye", proto.HQCameraBye{V: 1, ID: "w-owner.bye", Session: "w-owner"})
	waitFor(t, 10*time.Second, "the session ended by bye", func() bool {
		return strings.Contains(scrape(t, s), "\nstoreedge_camera_viewers 0\n")
	})
}

// selectedLocalType is the type of the local candidate of the viewer's
// succeeded, nominated candidate pair ("" when there is none).
func selectedLocalType(pc *webrtc.PeerConnection) string {
	stats := pc.GetStats()
	for _, st := range stats {
		p, ok := st.(webrtc.ICECandidatePairStats)
		if !ok || !p.Nominated || p.State != webrtc.StatsICECandidatePairStateSucceeded {
			continue
		}
		if c, ok := stats[p.LocalCandidateID].(webrtc.ICECandidateStats); ok {
			return c.CandidateType.String()
		}
	}
	return ""
}
