package web_test

// The camera viewer page in headless Chromium, against a stand-in for the
// broker's camera service and relay: a mochi server with the broker's
// WebSocket listener, and a paho client that answers svc/camera/watch and
// sends the test clip over WebRTC (pion) as the relay would. This tests
// the page's side of the protocol (PROTOCOL.md, "Cameras") on its own;
// broker/services/camera's browser test runs the page against the real relay.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/storeedge/storeedge/broker/mqtt/listener"
	"github.com/storeedge/storeedge/broker/web"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
)

// passwords lets a client in when its password is "pw-" + its username,
// as storetest's devices, and allows every topic.
type passwords struct{ mqtt.HookBase }

func (h *passwords) ID() string { return "test-passwords" }
func (h *passwords) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (h *passwords) OnConnectAuthenticate(_ *mqtt.Client, pk packets.Packet) bool {
	return string(pk.Connect.Password) == "pw-"+string(pk.Connect.Username)
}
func (h *passwords) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

// signal is a message on a signaling topic.
type signal struct {
	V         int                      `json:"v"`
	Type      string                   `json:"type"`
	From      string                   `json:"from"`
	SDP       string                   `json:"sdp,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Reason    string                   `json:"reason,omitempty"`
}

// watchRequest is a svc/camera/watch request as the relay got it.
type watchRequest struct {
	ID, Camera, ResponseTopic, Correlation, Client string
	V                                              int
}

// relay stands in for the broker's camera service and relay.
type relay struct {
	t      *testing.T
	ctx    context.Context
	c      *paho.Client
	api    *webrtc.API
	clip   []byte
	errors map[string]string // camera → watch error code
	until  string            // the watch answer's until, "" for staff

	in chan *paho.Publish
	wg sync.WaitGroup

	mu       sync.Mutex
	n        int
	watches  []watchRequest
	signals  []signal // from viewers, in order
	sessions map[string]*webrtc.PeerConnection
	more     chan struct{} // closed and replaced at each viewer signal
}

func testClip(t *testing.T) []byte {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "device", "camera", "clip", "clip.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startStore runs the stand-in broker and the web handler with the
// embedded pages, and returns the page server's base URL.
func startStore(t *testing.T) (string, *relay) {
	t.Helper()
	ws := listener.NewWebsocket("ws", "127.0.0.1:0", "/mqtt", []string{"*"}, nil)
	srv := mqtttest.Start(t, mqtttest.Options{Hooks: []mqtt.Hook{new(passwords)}, Listeners: []listeners.Listener{ws}})
	_, portText, _ := net.SplitHostPort(ws.Address())
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatal(err)
	}

	pages := httptest.NewServer(web.New(web.Options{
		Assets: web.Assets(),
		Client: &web.ClientConfig{MQTT: web.ClientMQTT{WSPort: port, WSPath: "/mqtt"}, Store: "test-store"},
	}))
	t.Cleanup(pages.Close)
	return pages.URL, newRelay(t, srv.Addr)
}

func newRelay(t *testing.T, addr string) *relay {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &relay{t: t, ctx: ctx, clip: testClip(t), errors: map[string]string{},
		api:      webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me)),
		in:       make(chan *paho.Publish, 256),
		sessions: map[string]*webrtc.PeerConnection{}, more: make(chan struct{})}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.c = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			r.in <- pr.Packet // never block paho's goroutine on pion
			return true, nil
		}},
		OnClientError: func(error) {},
	})
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if _, err := r.c.Connect(cctx, &paho.Connect{ClientID: "relay", KeepAlive: 30, CleanStart: true,
		Username: "relay", UsernameFlag: true, Password: []byte("pw-relay"), PasswordFlag: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Subscribe(cctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "svc/camera/watch", QoS: 1}, {Topic: "camera/+/signal/+", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	r.wg.Add(1)
	go r.loop()
	t.Cleanup(func() {
		cancel()
		r.mu.Lock()
		for _, pc := range r.sessions {
			_ = pc.Close()
		}
		r.mu.Unlock()
		_ = r.c.Disconnect(&paho.Disconnect{})
		r.wg.Wait()
	})
	return r
}

func (r *relay) loop() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case p := <-r.in:
			if p.Topic == "svc/camera/watch" {
				r.watch(p)
			} else {
				r.signal(p)
			}
		}
	}
}

func (r *relay) publish(topic string, v any, props *paho.PublishProperties) {
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
	defer cancel()
	if _, err := r.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: b, Properties: props}); err != nil && r.ctx.Err() == nil {
		r.t.Errorf("relay: publish %s: %v", topic, err)
	}
}

func (r *relay) watch(p *paho.Publish) {
	var req struct {
		V      int    `json:"v"`
		ID     string `json:"id"`
		Camera string `json:"camera"`
	}
	_ = json.Unmarshal(p.Payload, &req)
	w := watchRequest{ID: req.ID, V: req.V, Camera: req.Camera}
	if p.Properties != nil {
		w.ResponseTopic, w.Correlation = p.Properties.ResponseTopic, string(p.Properties.CorrelationData)
	}
	w.Client = strings.TrimSuffix(strings.TrimPrefix(w.ResponseTopic, "reply/"), "/camera")
	r.mu.Lock()
	r.watches = append(r.watches, w)
	r.n++
	session := "w-" + string(rune('a'+r.n))
	code := r.errors[req.Camera]
	until := r.until
	r.mu.Unlock()

	ans := map[string]any{"v": 1, "id": req.ID}
	if code != "" {
		ans["ok"] = false
		ans["error"] = map[string]any{"code": code, "message": "refused by the test"}
	} else {
		ans["ok"] = true
		ans["session"] = session
		ans["topic"] = "camera/" + req.Camera + "/signal/" + session
		ans["camera"] = req.Camera
		ans["resource"] = "table-1"
		ans["ice_servers"] = []any{}
		ans["expires_in_ms"] = 15000
		if until != "" {
			ans["booking"], ans["until"] = "bk-1", until
		}
	}
	r.publish(w.ResponseTopic, ans, &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData})
}

func (r *relay) signal(p *paho.Publish) {
	var s signal
	if err := json.Unmarshal(p.Payload, &s); err != nil || s.From == "relay" {
		return
	}
	r.mu.Lock()
	r.signals = append(r.signals, s)
	close(r.more)
	r.more = make(chan struct{})
	pc := r.sessions[p.Topic]
	r.mu.Unlock()
	switch s.Type {
	case "offer":
		r.answer(p.Topic, s.SDP)
	case "candidate":
		if pc != nil && s.Candidate != nil {
			_ = pc.AddICECandidate(*s.Candidate)
		}
	case "bye":
		if pc != nil {
			_ = pc.Close()
		}
	}
}

// answer answers a viewer's offer, trickles the relay's candidates (which
// may reach the page before the answer: it must buffer them) and streams
// the clip once connected.
func (r *relay) answer(topic, offer string) {
	pc, err := r.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		r.t.Error(err)
		return
	}
	r.mu.Lock()
	r.sessions[topic] = pc
	r.mu.Unlock()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "relay")
	if err != nil {
		r.t.Error(err)
		return
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		r.t.Error(err)
		return
	}
	keyframe := make(chan struct{}, 1)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			pkts, _, err := sender.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					select {
					case keyframe <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			init := c.ToJSON()
			go r.publish(topic, signal{V: 1, Type: "candidate", From: "relay", Candidate: &init}, nil)
		}
	})
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		r.t.Errorf("relay: offer: %v", err)
		return
	}
	ans, err := pc.CreateAnswer(nil)
	if err == nil {
		err = pc.SetLocalDescription(ans)
	}
	if err != nil {
		r.t.Errorf("relay: answer: %v", err)
		return
	}
	r.publish(topic, signal{V: 1, Type: "answer", From: "relay", SDP: ans.SDP}, nil)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case <-connected:
			r.play(track, keyframe)
		case <-r.ctx.Done():
		}
	}()
}

// play sends the clip at 30 fps, looping, until the test ends or the
// connection closes. As internal/testkit/browsertest's test explains, the first
// keyframe goes twice so that Chromium does not freeze on pion's missing
// first PictureID.
func (r *relay) play(track *webrtc.TrackLocalStaticSample, keyframe <-chan struct{}) {
	const interval = time.Second / 30
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var rd *ivfreader.IVFReader
	rewind := func() { rd, _, _ = ivfreader.NewWith(bytes.NewReader(r.clip)) }
	rewind()
	if first, _, err := rd.ParseNextFrame(); err == nil {
		_ = track.WriteSample(media.Sample{Data: first, Duration: interval})
	}
	rewind()
	for {
		data, _, err := rd.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			rewind()
			continue
		}
		if err != nil || track.WriteSample(media.Sample{Data: data, Duration: interval}) != nil {
			return
		}
		select {
		case <-tick.C:
		case <-keyframe:
			rewind()
		case <-r.ctx.Done():
			return
		}
	}
}

// bye ends every session as the relay would, with reason.
func (r *relay) bye(reason string) {
	r.mu.Lock()
	topics := make([]string, 0, len(r.sessions))
	for topic := range r.sessions {
		topics = append(topics, topic)
	}
	r.mu.Unlock()
	for _, topic := range topics {
		r.publish(topic, signal{V: 1, Type: "bye", From: "relay", Reason: reason}, nil)
	}
}

// waitSignal waits until a viewer sent a signal that matches.
func (r *relay) waitSignal(t *testing.T, what string, match func(signal) bool) signal {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		more := r.more
		for _, s := range r.signals {
			if match(s) {
				r.mu.Unlock()
				return s
			}
		}
		r.mu.Unlock()
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("relay: no %s from the viewer within 10 s", what)
		}
	}
}

func (r *relay) lastWatch(t *testing.T) watchRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.watches) == 0 {
		t.Fatal("relay: no watch request")
	}
	return r.watches[len(r.watches)-1]
}

type cameraView struct {
	State         string   `json:"state"`
	Error         *string  `json:"error"`
	Reason        *string  `json:"reason"`
	FramesDecoded int      `json:"framesDecoded"`
	TClick        *float64 `json:"tClick"`
	TConnected    *float64 `json:"tConnected"`
	TFirstFrame   *float64 `json:"tFirstFrame"`
}

const showView = `JSON.stringify(window.cameraView)`

func text(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	return browsertest.Eval[string](t, ctx, `document.getElementById(`+jsString(id)+`).textContent`)
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

var ulidRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

func TestCameraPage(t *testing.T) {
	base, rl := startStore(t)
	// Phone-sized: the page is laid out for phones first.
	b := browsertest.New(t, browsertest.Phone())
	shots := browsertest.ScreenshotDir(t)
	page := base + "/camera/?camera=cam-1&u=staff-anna"

	t.Run("watch until the visit ends", func(t *testing.T) {
		browsertest.Navigate(t, b, page+"&autostart=1#p=pw-staff-anna")
		browsertest.WaitJS(t, b, `cameraView.state === 'watching' && cameraView.framesDecoded >= 30`, 15*time.Second, showView)
		v := browsertest.Eval[cameraView](t, b, `cameraView`)
		t.Logf("click → connected %.0f ms, → first frame %.0f ms", *v.TConnected-*v.TClick, *v.TFirstFrame-*v.TClick)
		browsertest.Screenshot(t, b, shots, "watching")

		w := rl.lastWatch(t)
		if !strings.HasPrefix(w.Client, "staff-anna:web-") || w.ResponseTopic != "reply/"+w.Client+"/camera" ||
			w.Correlation == "" || w.V != 1 || !ulidRE.MatchString(w.ID) || w.Camera != "cam-1" {
			t.Errorf("watch request %+v", w)
		}
		offer := rl.waitSignal(t, "offer", func(s signal) bool { return s.Type == "offer" })
		if offer.From != w.Client || offer.V != 1 || !strings.Contains(offer.SDP, "m=video") || !strings.Contains(offer.SDP, "a=recvonly") {
			t.Errorf("offer from %q v%d:\n%s", offer.From, offer.V, offer.SDP)
		}
		if h := browsertest.Eval[string](t, b, `location.hash`); h != "" {
			t.Errorf("the password stayed in the URL: %q", h)
		}
		if s := text(t, b, "status"); s != "Live" {
			t.Errorf("status %q, want Live", s)
		}
		if c := text(t, b, "caption"); c != "Camera cam-1 · table-1" {
			t.Errorf("caption %q", c)
		}

		rl.bye("grant_ended")
		browsertest.WaitJS(t, b, `cameraView.state === 'ended'`, 10*time.Second, showView)
		v = browsertest.Eval[cameraView](t, b, `cameraView`)
		if v.Reason == nil || *v.Reason != "grant_ended" {
			t.Errorf("reason %v, want grant_ended", v.Reason)
		}
		if s := text(t, b, "status"); s != "The visit is over — the live view has ended." {
			t.Errorf("status after bye %q", s)
		}
		browsertest.Screenshot(t, b, shots, "ended")
	})

	t.Run("stop with the keyboard", func(t *testing.T) {
		// No autostart: the form is filled but for the password, which
		// has the focus; Enter submits and the Stop button takes the focus.
		browsertest.Navigate(t, b, page)
		if f := browsertest.Eval[string](t, b, `document.activeElement.id`); f != "pass" {
			t.Fatalf("focus on %q, want the password", f)
		}
		if err := chromedp.Do(b, chromedp.KeyEvent("pw-staff-anna"), chromedp.KeyEvent(kb.Enter)); err != nil {
			t.Fatal(err)
		}
		browsertest.WaitJS(t, b, `cameraView.state === 'watching' && cameraView.framesDecoded >= 5`, 15*time.Second, showView)
		if f := browsertest.Eval[string](t, b, `document.activeElement.id`); f != "stop" {
			t.Fatalf("focus on %q while watching, want the Stop button", f)
		}
		client := rl.lastWatch(t).Client
		if err := chromedp.Do(b, chromedp.KeyEvent(kb.Enter)); err != nil {
			t.Fatal(err)
		}
		browsertest.WaitJS(t, b, `cameraView.state === 'ended' && cameraView.reason === 'stopped'`, 10*time.Second, showView)
		rl.waitSignal(t, "bye", func(s signal) bool { return s.Type == "bye" && s.From == client })
		if s := text(t, b, "status"); s != "You stopped the live view." {
			t.Errorf("status %q", s)
		}
	})

	t.Run("watch errors", func(t *testing.T) {
		rl.mu.Lock()
		rl.errors = map[string]string{"cam-forbidden": "forbidden", "cam-none": "not_found",
			"cam-off": "unavailable", "cam-full": "quota_exceeded", "cam-odd": "conflict"}
		rl.mu.Unlock()
		for _, tc := range []struct{ camera, code, msg string }{
			{"cam-forbidden", "forbidden", "This camera is not yours to watch right now."},
			{"cam-none", "not_found", "There is no camera called “cam-none”."},
			{"cam-off", "unavailable", "The camera is offline at the moment. Please try again in a little while."},
			{"cam-full", "quota_exceeded", "Too many people are watching this camera. Please try again later."},
			{"cam-odd", "generic", "Something went wrong (conflict)."},
		} {
			browsertest.Navigate(t, b, base+"/camera/?camera="+tc.camera+"&u=staff-anna&autostart=1#p=pw-staff-anna")
			browsertest.WaitJS(t, b, `cameraView.state === 'error'`, 10*time.Second, showView)
			if v := browsertest.Eval[cameraView](t, b, `cameraView`); v.Error == nil || *v.Error != tc.code {
				t.Errorf("%s: error %v, want %s", tc.camera, v.Error, tc.code)
			}
			if s := text(t, b, "error"); s != tc.msg {
				t.Errorf("%s: error text %q, want %q", tc.camera, s, tc.msg)
			}
		}
		browsertest.Screenshot(t, b, shots, "error")

		// The language switch redraws what is on screen.
		browsertest.Eval[bool](t, b, `document.getElementById('lang').click(), true`)
		if s := text(t, b, "error"); s != "出现错误（conflict）。" {
			t.Errorf("error text in Chinese %q", s)
		}
		if l := browsertest.Eval[string](t, b, `document.documentElement.lang`); l != "zh-CN" {
			t.Errorf("html lang %q after the switch", l)
		}
		browsertest.Screenshot(t, b, shots, "error-zh")
		browsertest.Eval[bool](t, b, `document.getElementById('lang').click(), true`)
		if s := text(t, b, "start"); s != "Watch again" {
			t.Errorf("start button %q after switching back", s)
		}
	})

	t.Run("no websocket listener", func(t *testing.T) {
		off := httptest.NewServer(web.New(web.Options{Assets: web.Assets(), Client: &web.ClientConfig{Store: "test-store"}}))
		defer off.Close()
		browsertest.Navigate(t, b, off.URL+"/camera/?camera=cam-1&u=staff-anna&autostart=1#p=pw-staff-anna")
		browsertest.WaitJS(t, b, `cameraView.state === 'error'`, 10*time.Second, showView)
		if s := text(t, b, "error"); s != "Live view is not turned on for this store." {
			t.Errorf("error text %q", s)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		browsertest.Navigate(t, b, page+"&autostart=1#p=wrong")
		browsertest.WaitJS(t, b, `cameraView.state === 'error'`, 10*time.Second, showView)
		if v := browsertest.Eval[cameraView](t, b, `cameraView`); v.Error == nil || *v.Error != "login" {
			t.Errorf("error %v, want login", v.Error)
		}
		if s := text(t, b, "error"); s != "Wrong username or password." {
			t.Errorf("error text %q", s)
		}
	})
}
