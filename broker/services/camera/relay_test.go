package camera_test

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/device"
	devcam "github.com/storeedge/storeedge/device/camera"
	"github.com/storeedge/storeedge/device/camera/clip"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

func TestMain(m *testing.M) {
	storetest.Main()
	os.Exit(m.Run())
}

var fleet = []storetest.Device{
	{ID: "cam-1", Role: "camera"},
	{ID: "cam-2", Role: "camera"},
	{ID: "staff-anna", Role: "staff"},
	{ID: "kiosk-1", Role: "kiosk"},
	{ID: "tablet-1", Role: "chat-tablet"},
}

// peer is what every test peer needs on one machine: loopback candidates.
var peer = devcam.PeerOptions{Loopback: true, Log: testLog}

var testLog = func() *slog.Logger {
	if os.Getenv("DEVICE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}()

// startStore starts a store whose cam-1 films table-1, with the relay on
// loopback.
func startStore(t testing.TB, adjust func(*broker.Config)) *storetest.Store {
	t.Helper()
	return storetest.Start(t, storetest.Options{Devices: fleet, Config: func(c *broker.Config) {
		c.Camera.Rooms = map[string]string{"cam-1": "table-1"}
		c.Camera.Loopback = true
		c.Camera.Recheck = 200 * time.Millisecond
		if adjust != nil {
			adjust(c)
		}
	}})
}

func connect(t testing.TB, s *storetest.Store, id, password string) *device.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := device.Connect(ctx, device.Config{Brokers: []string{"mqtt://" + s.Addr}, DeviceID: id, Password: password,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, NoPresence: true, Log: testLog})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// startCamera connects cam and streams the test clip until the test ends.
func startCamera(t testing.TB, s *storetest.Store, cam string) *devcam.Publisher {
	t.Helper()
	c := connect(t, s, cam, "pw-"+cam)
	src, err := clip.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	p := devcam.New(c, src, devcam.Options{PeerOptions: peer})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("camera %s: %v", cam, err)
		}
	})
	waitFor(t, 10*time.Second, cam+" registered", func() bool { _, ok := p.Registration(); return ok })
	return p
}

// scrape reads the store's /metrics.
func scrape(t testing.TB, s *storetest.Store) string {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bookTable1 books the first free dog-groom slot today for customer, by
// c; the test store's cam-1 films table-1, where the first booking lands.
func bookTable1(t testing.TB, ctx context.Context, s *storetest.Store, c *device.Client, customer string) device.Booking {
	t.Helper()
	av, err := c.Availability(ctx, device.AvailabilityRequest{Service: "dog-groom", Date: s.Now().Format(time.DateOnly)})
	if err != nil || len(av.Days) == 0 || len(av.Days[0].Slots) == 0 {
		t.Fatalf("availability: %+v %v", av, err)
	}
	b, err := c.Book(ctx, device.BookRequest{Service: "dog-groom", Start: av.Days[0].Slots[0].Start, Customer: customer})
	if err != nil || !slices.Contains(b.Resources, "table-1") {
		t.Fatalf("book: %+v %v (the test needs table-1)", b, err)
	}
	return b
}

// checkInNow moves the clock to the booking's start and checks it in.
func checkInNow(t testing.TB, ctx context.Context, s *storetest.Store, staff *device.Client, b device.Booking) {
	t.Helper()
	s.Set(b.Start)
	if _, err := staff.CheckIn(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// watch opens a session and waits for its first picture.
func watch(t testing.TB, c *device.Client, cam string) *devcam.Viewer {
	t.Helper()
	v, err := devcam.Watch(ctxFor(t, 30*time.Second), c, cam, devcam.ViewerOptions{PeerOptions: peer})
	if err != nil {
		t.Fatalf("%s watches %s: %v", c.ClientID(), cam, err)
	}
	t.Cleanup(v.Close)
	select {
	case <-v.FirstFrame():
	case <-v.Done():
		t.Fatalf("%s: session ended before the first frame: %s", c.ClientID(), v.Reason())
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no frame within 10 s", c.ClientID())
	}
	return v
}

// framesAdvance checks that v keeps receiving frames.
func framesAdvance(t testing.TB, v *devcam.Viewer, who string) {
	t.Helper()
	n := v.Frames()
	waitFor(t, 5*time.Second, who+"'s frames advance", func() bool { return v.Frames() >= n+10 })
}

// TestWhoWatches is the scenario: a camera, the relay and three
// viewers. The owner gets frames during their booking, another customer is
// refused, the owner is cut off at checkout, staff always get frames.
func TestWhoWatches(t *testing.T) {
	s := startStore(t, nil)
	ctx := ctxFor(t, 2*time.Minute)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	ownerID, ownerPW := s.CustomerCredentials(t, tablet, "")
	strangerID, strangerPW := s.CustomerCredentials(t, tablet, "")

	staff := connect(t, s, "staff-anna", "pw-staff-anna")
	kiosk := connect(t, s, "kiosk-1", "pw-kiosk-1")
	pub := startCamera(t, s, "cam-1")
	if reg, _ := pub.Registration(); reg.Camera != "cam-1" || reg.Resource != "table-1" {
		t.Fatalf("registration: %+v", reg)
	}

	// The owner books at the kiosk: the first free slot, on table-1.
	b := bookTable1(t, ctx, s, kiosk, ownerID)
	owner := connect(t, s, ownerID, ownerPW)
	stranger := connect(t, s, strangerID, strangerPW)

	// Before the visit: booked, not checked in, not yet its slot.
	if _, err := owner.CameraWatch(ctx, "cam-1"); !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("owner before check-in: %v, want forbidden", err)
	}
	s.Set(b.Start.Add(time.Minute))
	if _, err := staff.CheckIn(ctx, b.ID); err != nil {
		t.Fatal(err)
	}

	staffView := watch(t, staff, "cam-1")
	// The owner asks by booking: customers do not know camera ids.
	ws, err := owner.CameraWatchBooking(ctx, b.ID)
	if err != nil || ws.Camera != "cam-1" {
		t.Fatalf("owner watches booking %s: %+v %v", b.ID, ws, err)
	}
	ownerView, err := devcam.Join(ctx, owner, ws, devcam.ViewerOptions{PeerOptions: peer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ownerView.Close)
	select {
	case <-ownerView.FirstFrame():
	case <-time.After(10 * time.Second):
		t.Fatalf("owner: no frame within 10 s (%s)", ownerView.Reason())
	}
	if ws := ownerView.Session(); ws.Booking != b.ID || ws.Until.IsZero() || !ws.Until.Equal(b.End) {
		t.Fatalf("owner's session: %+v, want booking %s until %v", ws, b.ID, b.End)
	}
	framesAdvance(t, ownerView, "owner")
	framesAdvance(t, staffView, "staff")

	// Another customer: refused, and cannot listen in on the owner's session.
	if _, err := stranger.CameraWatch(ctx, "cam-1"); !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("stranger: %v, want forbidden", err)
	}
	if err := stranger.Subscribe(ctx, ownerView.Session().Topic, func(device.Message) {}); err == nil {
		t.Fatal("stranger subscribed to the owner's signaling topic")
	}
	// Nor may a kiosk watch.
	if _, err := kiosk.CameraWatch(ctx, "cam-1"); !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("kiosk: %v, want forbidden", err)
	}

	// One camera stream for both viewers, as the store's metrics say too.
	if st := pub.Stats(); st.Sessions != 1 {
		t.Fatalf("camera answered %d upstream sessions, want 1", st.Sessions)
	}
	m := scrape(t, s)
	for _, want := range []string{"storeedge_camera_viewers 2", "storeedge_camera_streams 1", "storeedge_camera_registered 1"} {
		if !strings.Contains(m, "\n"+want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Checkout: the owner is cut off, staff keep watching.
	if _, err := staff.Complete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ownerView.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("owner still watching 5 s after checkout")
	}
	if r := ownerView.Reason(); r != "grant_ended" {
		t.Fatalf("owner's session ended with %q, want grant_ended", r)
	}
	cut := ownerView.Frames()
	framesAdvance(t, staffView, "staff after checkout")
	if n := ownerView.Frames(); n != cut {
		t.Fatalf("owner got %d frames after being cut off", n-cut)
	}
	if _, err := owner.CameraWatch(ctx, "cam-1"); !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("owner after checkout: %v, want forbidden", err)
	}
	if _, err := owner.CameraWatchBooking(ctx, b.ID); !errors.Is(err, device.ErrNotFound) {
		t.Fatalf("owner's booking after checkout: %v, want not_found (no camera films it)", err)
	}
}

// TestSlotEndCutsOwner: the grant ends with the slot even when nobody
// checks the pet out.
func TestSlotEndCutsOwner(t *testing.T) {
	s := startStore(t, nil)
	ctx := ctxFor(t, time.Minute)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	ownerID, ownerPW := s.CustomerCredentials(t, tablet, "")
	staff := connect(t, s, "staff-anna", "pw-staff-anna")
	startCamera(t, s, "cam-1")

	b := bookTable1(t, ctx, s, staff, ownerID)
	checkInNow(t, ctx, s, staff, b)
	owner := connect(t, s, ownerID, ownerPW)
	v := watch(t, owner, "cam-1")
	s.Set(b.End) // the slot is over: the periodic check sees it
	select {
	case <-v.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("owner still watching after the slot ended")
	}
	if v.Reason() != "grant_ended" {
		t.Fatalf("reason %q", v.Reason())
	}
}

// TestSnapshotToProgressCard: staff grab a still of the live picture; posted
// as a progress stage it reaches the owner's chat as a card with the photo.
func TestSnapshotToProgressCard(t *testing.T) {
	s := startStore(t, nil)
	ctx := ctxFor(t, time.Minute)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	ownerID, ownerPW := s.CustomerCredentials(t, tablet, "")
	staff := connect(t, s, "staff-anna", "pw-staff-anna")
	startCamera(t, s, "cam-1")

	b := bookTable1(t, ctx, s, staff, ownerID)
	checkInNow(t, ctx, s, staff, b)

	// Nobody is watching: the snapshot starts the camera's stream itself.
	// The console names the booking; the relay finds the camera of its room.
	still, err := staff.CameraSnapshotBooking(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if still.Type != "image/jpeg" || still.Width != 320 || still.Height != 240 || still.Hash == "" {
		t.Fatalf("snapshot: %+v", still)
	}
	data, err := staff.Download(ctx, still.Hash)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != 320 || img.Bounds().Dy() != 240 {
		t.Fatalf("the snapshot is no 320x240 JPEG: %v", err)
	}

	if _, err := staff.Progress(ctx, device.ProgressRequest{Booking: b.ID, Stage: "drying", Photo: still.Hash}); err != nil {
		t.Fatal(err)
	}
	owner := connect(t, s, ownerID, ownerPW)
	h, err := owner.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: ownerID})
	if err != nil {
		t.Fatal(err)
	}
	var card, photo bool
	for _, m := range h.Messages {
		if m.From != "booking" {
			continue
		}
		var c device.Card
		switch {
		case m.Kind == device.KindImage && m.Media != nil && m.Media.Hash == still.Hash:
			photo = true
		case m.DecodeCard(&c) == nil && c.Type == "progress":
			card = true
		}
	}
	if !card || !photo {
		t.Fatalf("owner's chat: progress card %v, snapshot photo %v; messages %+v", card, photo, h.Messages)
	}

	// A customer may not take snapshots; a camera that is not connected
	// gives a clear answer.
	owner2 := owner
	if _, err := owner2.CameraSnapshot(ctx, "cam-1"); !errors.Is(err, device.ErrForbidden) {
		t.Fatalf("customer snapshot: %v, want forbidden", err)
	}
	if _, err := staff.CameraSnapshot(ctx, "cam-2"); !errors.Is(err, device.ErrUnavailable) {
		t.Fatalf("snapshot of an absent camera: %v, want unavailable", err)
	}
}

// TestCameraReconnectKeepsViewers: the camera's MQTT connection drops and
// comes back (Wi-Fi); its viewer keeps the session and the picture resumes
// on a fresh stream. Then the camera goes away for good: the viewer is told.
func TestCameraReconnectKeepsViewers(t *testing.T) {
	s := startStore(t, nil)
	staff := connect(t, s, "staff-anna", "pw-staff-anna")

	var mu sync.Mutex
	var conns []net.Conn
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	camClient, err := device.Connect(ctx, device.Config{Brokers: []string{"mqtt://" + s.Addr}, DeviceID: "cam-1", Password: "pw-cam-1",
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond, Log: testLog,
		Dial: func(ctx context.Context, u *url.URL) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
			if err == nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
			return c, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	src, err := clip.NewSource()
	if err != nil {
		t.Fatal(err)
	}
	pub := devcam.New(camClient, src, devcam.Options{PeerOptions: peer})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pub.Run(runCtx) }()
	waitFor(t, 10*time.Second, "registered", func() bool { _, ok := pub.Registration(); return ok })

	v := watch(t, staff, "cam-1")
	framesAdvance(t, v, "staff")

	// The Wi-Fi drops the camera's MQTT connection; the SDK reconnects and
	// registers again, and the relay gives the viewer a fresh stream.
	mu.Lock()
	_ = conns[len(conns)-1].Close()
	mu.Unlock()
	waitFor(t, 10*time.Second, "second upstream", func() bool { return pub.Stats().Sessions >= 2 })
	framesAdvance(t, v, "staff after the camera's reconnect")
	select {
	case <-v.Done():
		t.Fatalf("the viewer's session ended: %s", v.Reason())
	default:
	}

	// Unplugged for good: the camera says offline, the viewer learns why.
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	if err := camClient.Close(cctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-v.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("viewer still in session 10 s after the camera left")
	}
	if r := v.Reason(); r != "camera_offline" {
		t.Fatalf("reason %q, want camera_offline", r)
	}
	if _, err := staff.CameraWatch(ctxFor(t, 10*time.Second), "cam-1"); !errors.Is(err, device.ErrUnavailable) {
		t.Fatalf("watching an absent camera: %v, want unavailable", err)
	}
}

// TestBadInput: each wrong request gets its documented code and changes
// nothing.
func TestBadInput(t *testing.T) {
	s := startStore(t, func(c *broker.Config) { c.Camera.MaxViewers = 1 })
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "")
	cam := s.Connect(t, storetest.Device{ID: "cam-2", Role: "camera"}, "")
	for _, tt := range []struct {
		c        *storetest.Client
		op, body string
		code     string
	}{
		{staff, "watch", `{}`, "bad_request"},
		{staff, "watch", `{"camera":5}`, "bad_request"},
		{staff, "watch", `{"camera":"cam-2","booking":"bk-1"}`, "bad_request"},
		{staff, "watch", `{"booking":"bk-nowhere"}`, "not_found"},
		{staff, "watch", `{"camera":"cam-9"}`, "unavailable"},     // not registered
		{cam, "watch", `{"camera":"cam-2"}`, "forbidden"},         // a camera watches nobody
		{staff, "register", `{"codec":"video/VP8"}`, "forbidden"}, // cameras register
		{cam, "register", `{"codec":"video/MJPEG"}`, "bad_request"},
		{cam, "register", `{"Codec":"video/H264"}`, "bad_request"},                       // names are case-sensitive
		{cam, "register", `{"codec":"video/MJPEG","codec":"video/H264"}`, "bad_request"}, // and appear once
		{cam, "register", `{"codec":"video/H264","extra":1}`, "bad_request"},
		{staff, "watch", `{"camera":"cam-2","Camera":"cam-2"}`, "bad_request"},
		{cam, "snapshot", `{"camera":"cam-2"}`, "forbidden"},
		{staff, "snapshot", `{}`, "bad_request"},
		{staff, "snapshot", `{"camera":"cam-2"}`, "unavailable"},
	} {
		a := tt.c.Call(t, "camera", tt.op, tt.body)
		storetest.Fails(t, a, tt.code, "")
	}
	// The refused registration registered nothing.
	storetest.Fails(t, staff.Call(t, "camera", "watch", `{"camera":"cam-2"}`), "unavailable", "")
	// H.264 cameras register, but cannot give snapshots.
	storetest.OK(t, cam.Call(t, "camera", "register", `{"codec":"video/H264"}`))
	storetest.Fails(t, staff.Call(t, "camera", "snapshot", `{"camera":"cam-2"}`), "bad_request", "")
	// camera.max_viewers (1 here): the second viewer is turned away.
	storetest.OK(t, staff.Call(t, "camera", "watch", `{"camera":"cam-2"}`))
	storetest.Fails(t, staff.Call(t, "camera", "watch", `{"camera":"cam-2"}`), "quota_exceeded", "")
}
