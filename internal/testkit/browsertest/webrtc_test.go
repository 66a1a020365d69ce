package browsertest_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
)

// The camera SDK's test clip: VP8, 320×240, 30 fps, a keyframe every 30
// frames. Read from its file rather than imported, so that this package's
// tests do not depend on the camera code.
func clip(t *testing.T) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "device", "camera", "clip", "clip.ivf"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// playerPage is the smallest WebRTC viewer: it offers one receive-only
// video transceiver to POST /offer and shows what comes back. Inline
// script and no CSP: this test is about the browser and the network, not
// about the broker's pages. It does not wait for its own ICE gathering
// (which takes 150–200 ms here): the pion peer learns the browser's address
// from its connectivity checks (a peer-reflexive candidate), as the relay
// does with browsers that hide their addresses behind mDNS names.
const playerPage = `<!doctype html>
<meta charset="utf-8">
<title>webrtc probe</title>
<video id="v" autoplay muted playsinline width="320" height="240"></video>
<button id="go">Play</button>
<script>
window.probe = {state: 'idle', frames: 0, error: ''};
const v = document.getElementById('v');
document.getElementById('go').addEventListener('click', async () => {
  const p = window.probe;
  p.tClick = performance.now();
  try {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', {direction: 'recvonly'});
    pc.ontrack = (e) => { v.srcObject = new MediaStream([e.track]); };
    pc.onconnectionstatechange = () => {
      p.state = pc.connectionState;
      if (pc.connectionState === 'connected') p.tConnected = performance.now();
    };
    const onFrame = () => {
      p.frames++;
      if (p.frames === 1) p.tFirstFrame = performance.now();
      if (p.frames === 30) p.tFrame30 = performance.now();
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
    await pc.setLocalDescription(await pc.createOffer());
    const r = await fetch('/offer', {method: 'POST', body: pc.localDescription.sdp});
    if (!r.ok) throw new Error('offer: ' + r.status + ' ' + await r.text());
    await pc.setRemoteDescription({type: 'answer', sdp: await r.text()});
  } catch (e) {
    p.state = 'error';
    p.error = String(e);
  }
});
</script>
`

// sender answers offers with a pion peer that sends the clip.
type sender struct {
	t    *testing.T
	clip []byte
	api  *webrtc.API
	ctx  context.Context

	mu       sync.Mutex
	pcs      []*webrtc.PeerConnection
	selected string // the ICE candidate pair, for the log
	wg       sync.WaitGroup
}

func newSender(t *testing.T, ctx context.Context, clip []byte) *sender {
	var se webrtc.SettingEngine
	// Loopback only, so the test does not depend on the machine's other
	// interfaces; Chromium is told to use loopback too (browsertest.Flags).
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	return &sender{t: t, clip: clip, ctx: ctx,
		api: webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))}
}

func (s *sender) close() {
	s.mu.Lock()
	pcs := s.pcs
	s.mu.Unlock()
	for _, pc := range pcs {
		_ = pc.Close()
	}
	s.wg.Wait()
}

func (s *sender) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	offer, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := s.answer(string(offer))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/sdp")
	_, _ = io.WriteString(w, answer)
}

// answer answers without trickle: the answer carries all of pion's
// candidates (loopback only, gathered at once).
func (s *sender) answer(offer string) (string, error) {
	pc, err := s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.pcs = append(s.pcs, pc)
	s.mu.Unlock()
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "probe")
	if err != nil {
		return "", err
	}
	rs, err := pc.AddTrack(track)
	if err != nil {
		return "", err
	}
	keyframe := make(chan struct{}, 1)
	s.wg.Add(1)
	go func() { // RTCP must be read for pion's interceptors (NACK) to work
		defer s.wg.Done()
		for {
			pkts, _, err := rs.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					select {
					case keyframe <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", err
	}
	<-gathered
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-connected:
		case <-s.ctx.Done():
			return
		}
		if p, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err == nil && p != nil {
			s.mu.Lock()
			s.selected = p.String()
			s.mu.Unlock()
		}
		s.play(track, keyframe)
	}()
	return pc.LocalDescription().SDP, nil
}

// play writes the clip's frames at 30 fps from connected on, from the
// start again at its end or when the browser asks for a keyframe (the clip
// starts with one), until the test ends.
func (s *sender) play(track *webrtc.TrackLocalStaticSample, keyframe <-chan struct{}) {
	const interval = time.Second / 30
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var r *ivfreader.IVFReader
	rewind := func() {
		var err error
		if r, _, err = ivfreader.NewWith(bytes.NewReader(s.clip)); err != nil {
			panic(err) // the same bytes parsed a moment ago
		}
	}
	rewind()
	// The first keyframe goes twice. pion's VP8 payloader leaves the
	// PictureID out of the frame whose id is 0, the first one it sends,
	// and puts it in every later frame; Chromium decodes that first
	// keyframe but then drops the delta frames that follow (they carry
	// picture ids that refer to no keyframe it knows) until the next
	// keyframe: the picture froze for one GOP (1 s with this clip) after
	// the first frame. The second copy has PictureID 1.
	first, _, err := r.ParseNextFrame()
	if err != nil {
		s.t.Error(err)
		return
	}
	_ = track.WriteSample(media.Sample{Data: first, Duration: interval})
	rewind()
	for {
		data, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			rewind()
			continue
		}
		if err != nil {
			s.t.Error(err)
			return
		}
		if err := track.WriteSample(media.Sample{Data: data, Duration: interval}); err != nil {
			return // closed
		}
		select {
		case <-tick.C:
		case <-keyframe:
			rewind()
		case <-s.ctx.Done():
			return
		}
	}
}

type probe struct {
	State       string  `json:"state"`
	Error       string  `json:"error"`
	Frames      int     `json:"frames"`
	TClick      float64 `json:"tClick"`
	TConnected  float64 `json:"tConnected"`
	TFirstFrame float64 `json:"tFirstFrame"`
	TFrame30    float64 `json:"tFrame30"`
}

// TestChromiumPlaysPionVideo proves the plumbing: headless Chromium with
// browsertest's flags receives VP8 from a pion peer over loopback UDP and
// its <video> advances. If this fails, so will every camera page test; the
// flags in browsertest.Flags say what each one is for.
func TestChromiumPlaysPionVideo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	snd := newSender(t, ctx, clip(t))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, playerPage)
	})
	mux.Handle("POST /offer", snd)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { cancel(); snd.close(); srv.Close() })

	b := browsertest.New(t)
	browsertest.Navigate(t, b, srv.URL+"/")
	browsertest.Eval[bool](t, b, `document.getElementById('go').click(), true`)
	// One second of video: 30 frames shown.
	browsertest.WaitJS(t, b, `window.probe.frames >= 30 || window.probe.state === 'failed' || window.probe.state === 'error'`,
		10*time.Second, `JSON.stringify(window.probe)`)
	p := browsertest.Eval[probe](t, b, `window.probe`)
	if p.Frames < 30 {
		t.Fatalf("video did not play: %+v", p)
	}
	snd.mu.Lock()
	pair := snd.selected
	snd.mu.Unlock()
	// First to 30th frame takes 0.97 s at 30 fps; about 2 s means the
	// picture froze after the first keyframe (see play).
	t.Logf("click → connected %.0f ms, → first frame %.0f ms, first → 30th frame %.0f ms; ICE pair %s",
		p.TConnected-p.TClick, p.TFirstFrame-p.TClick, p.TFrame30-p.TFirstFrame, pair)
	if dir := os.Getenv("BROWSERTEST_SCREENSHOTS"); dir != "" {
		t.Logf("screenshot %s", browsertest.Screenshot(t, b, dir, "playing"))
	}
}
