package camera_test

// The viewer page in headless Chromium against the real relay: MQTT over
// WebSocket to the broker, WebRTC from the relay, video that plays.

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// startWebStore is startStore with MQTT over WebSocket on, as the camera
// page needs; only the page's own origin may open it.
func startWebStore(t *testing.T) *storetest.Store {
	t.Helper()
	return startStore(t, func(c *broker.Config) {
		c.Camera.Linger = 50 * time.Millisecond // the camera stops soon after the last viewer
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	})
}

// pageURL is the viewer page for user, started at once. The password goes
// in the fragment, which the browser never sends to the server.
func pageURL(s *storetest.Store, camera, user, password string) string {
	q := url.Values{"camera": {camera}, "u": {user}, "autostart": {"1"}}
	return fmt.Sprintf("http://%s/camera/?%s#%s", s.HTTP, q.Encode(), url.Values{"p": {password}}.Encode())
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

// TestBrowserStaffWatches: staff open the viewer page in Chromium; the
// camera's video plays through the relay, and Stop hangs up.
func TestBrowserStaffWatches(t *testing.T) {
	s := startWebStore(t)
	pub := startCamera(t, s, "cam-1")
	b := browsertest.New(t, browsertest.Phone())
	shots := browsertest.ScreenshotDir(t)

	browsertest.Navigate(t, b, pageURL(s, "cam-1", "staff-anna", "pw-staff-anna"))
	browsertest.WaitJS(t, b, `cameraView.state === 'watching' && cameraView.framesDecoded >= 1`, 20*time.Second, showView)
	v := browsertest.Eval[cameraView](t, b, `cameraView`)
	t.Logf("click → connected %.0f ms, → first frame %.0f ms", *v.TConnected-*v.TClick, *v.TFirstFrame-*v.TClick)

	// The picture moves: one more second of frames. About 2 s here instead
	// of 1 means Chromium froze after the first keyframe (see
	// internal/testkit/browsertest's webrtc_test.go on pion's first PictureID).
	d := browsertest.WaitJS(t, b, fmt.Sprintf(`cameraView.framesDecoded >= %d`, v.FramesDecoded+30), 10*time.Second, showView)
	t.Logf("30 more frames in %v", d)
	browsertest.Screenshot(t, b, shots, "staff-watching")

	if err := chromedp.Do(b, chromedp.Click(chromedp.ID("stop"))); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, b, `cameraView.state === 'ended' && cameraView.reason === 'stopped'`, 10*time.Second, showView)
	// The relay dropped the page's session: with nobody left it hangs up
	// on the camera after camera.linger.
	waitFor(t, 5*time.Second, "camera released after Stop", func() bool { return pub.Stats().Session == "" })
}

// TestBrowserOwnerUntilSlotEnds: the owner of the booking on table-1 watches
// in the browser during the visit; when the slot ends the page says so.
func TestBrowserOwnerUntilSlotEnds(t *testing.T) {
	s := startWebStore(t)
	ctx := ctxFor(t, time.Minute)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	ownerID, ownerPW := s.CustomerCredentials(t, tablet, "")
	strangerID, strangerPW := s.CustomerCredentials(t, tablet, "")
	staff := connect(t, s, "staff-anna", "pw-staff-anna")
	startCamera(t, s, "cam-1")

	bk := bookTable1(t, ctx, s, staff, ownerID)
	checkInNow(t, ctx, s, staff, bk)

	b := browsertest.New(t, browsertest.Phone())
	shots := browsertest.ScreenshotDir(t)

	// Someone else's visit: refused, in words.
	browsertest.Navigate(t, b, pageURL(s, "cam-1", strangerID, strangerPW))
	browsertest.WaitJS(t, b, `cameraView.state === 'error'`, 10*time.Second, showView)
	if e := browsertest.Eval[string](t, b, `cameraView.error + ' / ' + document.getElementById('error').textContent`); e != "forbidden / This camera is not yours to watch right now." {
		t.Errorf("stranger: %s", e)
	}

	browsertest.Navigate(t, b, pageURL(s, "cam-1", ownerID, ownerPW))
	browsertest.WaitJS(t, b, `cameraView.state === 'watching' && cameraView.framesDecoded >= 30`, 20*time.Second, showView)
	v := browsertest.Eval[cameraView](t, b, `cameraView`)
	t.Logf("owner: click → connected %.0f ms, → first frame %.0f ms", *v.TConnected-*v.TClick, *v.TFirstFrame-*v.TClick)
	// An owner's session shows until when it lasts (the page's clock zone).
	if st := browsertest.Eval[string](t, b, `document.getElementById('status').textContent`); len(st) < len("Live until ") || st[:len("Live until ")] != "Live until " {
		t.Errorf("owner's status %q, want Live until …", st)
	}
	browsertest.Screenshot(t, b, shots, "owner-watching")

	s.Set(bk.End) // the slot is over: the relay's periodic check ends the grant
	browsertest.WaitJS(t, b, `cameraView.state === 'ended'`, 10*time.Second, showView)
	got := browsertest.Eval[string](t, b, `cameraView.reason + ' / ' + document.getElementById('status').textContent`)
	if got != "grant_ended / The visit is over — the live view has ended." {
		t.Errorf("after the slot: %s", got)
	}
	browsertest.Screenshot(t, b, shots, "owner-ended")
}
