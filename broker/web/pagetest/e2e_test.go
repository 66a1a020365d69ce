package pagetest

// The two pages together, as in the store: a customer on a phone scans the
// tablet's code and chats; a groomer at the staff console answers, checks
// the dog in and posts a stage with a snapshot from the room camera; the
// customer sees the reply, the read tick and the stage.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

func TestCustomerAndStaff(t *testing.T) {
	s := startConsoleStore(t) // cam-1 films table-1, WebSocket on
	startConsoleCamera(t, s, "cam-1")
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	kiosk := s.Connect(t, storetest.Device{ID: "kiosk-1", Role: "kiosk"}, "")

	phone := browsertest.New(t, browsertest.Phone())
	console := browsertest.New(t, browsertest.WindowSize(1024, 768))

	// The customer scans the code: text, photo, an automatic answer, then
	// asks for a person.
	browsertest.Navigate(t, phone, chatURL(t, s, tablet))
	browsertest.WaitJS(t, phone, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	customer := browsertest.Eval[string](t, phone, `chatView.customer`)
	typeAndSend(t, phone, "Hello, Dou has a red patch on her belly")
	run(t, phone, chromedp.SetUploadFiles(chromedp.ID("photo"), []string{testPhoto(t)}))
	browsertest.WaitJS(t, phone, `chatView.messages.some(m => m.from === chatView.customer && m.kind === 'image')`, 15*time.Second, showChat)
	typeAndSend(t, phone, "What time do you open?")
	browsertest.WaitJS(t, phone, `chatView.messages.some(m => m.from === 'assistant' && m.auto)`, 10*time.Second, showChat)
	run(t, phone, chromedp.Click(chromedp.ID("handoff")))
	browsertest.WaitJS(t, phone, `document.getElementById('confirm-handoff').open`, 5*time.Second)
	run(t, phone, chromedp.Click(chromedp.ID("handoff-yes")))
	browsertest.WaitJS(t, phone, `chatView.handoff === true`, 10*time.Second, showChat)
	shot(t, phone, "e2e-asked-for-person")

	// The groomer's console: the conversation waits, first; open, reply.
	browsertest.Navigate(t, console, "http://"+s.HTTP+"/console/")
	browsertest.WaitJS(t, console, `window.consoleView && document.getElementById('signin')`, 10*time.Second)
	consoleSignIn(t, console, "staff-anna", "pw-staff-anna")
	browsertest.WaitJS(t, console, `consoleView.state === 'ready'`, 10*time.Second, showConsole)
	browsertest.WaitJS(t, console, fmt.Sprintf(`consoleView.conversations.length > 0 &&
		consoleView.conversations[0].conversation === %q && consoleView.conversations[0].waiting && consoleView.conversations[0].unread > 0`, customer), 10*time.Second, showConsole)
	consoleShot(t, console, "e2e-waiting")
	consoleOpen(t, console, customer)
	browsertest.WaitJS(t, console, fmt.Sprintf(`consoleView.open && consoleView.open.conversation === %q &&
		consoleView.open.messages.some(m => m.kind === 'image')`, customer), 10*time.Second, showConsole)
	const reply = "Hi, this is Anna. A red patch can be a heat rash; bring her in and we will look."
	consoleRun(t, console, chromedp.SendKeys(chromedp.CSS("#reply"), reply+kb.Enter))

	// The customer sees the reply, and the read tick once the console has
	// read her messages.
	browsertest.WaitJS(t, phone, fmt.Sprintf(`chatView.messages.some(m => m.from === 'staff-anna' && m.text === %q)`, reply), 10*time.Second, showChat)
	browsertest.WaitJS(t, phone, `chatView.messages.filter(m => m.from === chatView.customer).every(m => m.ticks === 'read')`, 10*time.Second, showChat)
	shot(t, phone, "e2e-reply-read")

	// She is booked at the kiosk; at the visit the groomer checks Dou in
	// and posts "bathing" with a snapshot, the camera chosen by the store
	// from the booking's table.
	var av struct {
		Days []struct {
			Slots []struct {
				Start string `json:"start"`
			} `json:"slots"`
		} `json:"days"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "availability", fmt.Sprintf(`{"service":"dog-groom","date":%q}`, s.Now().Format(time.DateOnly)))).Decode(t, &av)
	if len(av.Days) == 0 || len(av.Days[0].Slots) == 0 {
		t.Fatalf("no slot today: %+v", av)
	}
	var bk struct {
		Booking struct {
			ID        string    `json:"id"`
			Start     time.Time `json:"start"`
			Resources []string  `json:"resources"`
		} `json:"booking"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "book", fmt.Sprintf(`{"service":"dog-groom","start":%q,"customer":%q}`, av.Days[0].Slots[0].Start, customer))).Decode(t, &bk)
	id := bk.Booking.ID
	if !strings.Contains(strings.Join(bk.Booking.Resources, ","), "table-1") {
		t.Fatalf("booked on %v; cam-1 films table-1", bk.Booking.Resources)
	}
	s.Set(bk.Booking.Start)
	consoleRun(t, console, chromedp.Click(chromedp.CSS("#tab-board")))
	browsertest.WaitJS(t, console, fmt.Sprintf(`consoleView.board.some(x => x.id === %q && x.status === 'booked')`, id), 10*time.Second, showConsole)
	consoleRun(t, console, chromedp.Click(chromedp.CSS("#bk-"+id+"-checkin")))
	browsertest.WaitJS(t, console, fmt.Sprintf(`consoleView.board.some(x => x.id === %q && x.status === 'checked_in')`, id), 10*time.Second, showConsole)
	browsertest.WaitJS(t, console, fmt.Sprintf(`document.getElementById('bk-%s-stage') && document.getElementById('bk-%s-stage').value === 'bathing'`, id, id), 5*time.Second)
	consoleRun(t, console, chromedp.Click(chromedp.CSS("#bk-"+id+"-snap")))
	browsertest.WaitJS(t, console, fmt.Sprintf(`!!document.getElementById('bk-%s-camera')`, id), 5*time.Second)
	consoleRun(t, console, chromedp.Click(chromedp.CSS("#bk-"+id+"-post")))
	browsertest.WaitJS(t, console, fmt.Sprintf(`consoleView.board.some(x => x.id === %q && x.stage === 'bathing')`, id), 20*time.Second, showConsole)
	consoleShot(t, console, "e2e-board")

	// The customer sees the stage in her bookings and the card with the
	// snapshot in her chat.
	run(t, phone, chromedp.Click(chromedp.ID("tab-bookings")))
	browsertest.WaitJS(t, phone, fmt.Sprintf(`chatView.bookings.some(x => x.id === %q && x.status === 'checked_in' && x.stage === 'bathing')`, id), 10*time.Second, showChat)
	shot(t, phone, "e2e-stage")

	// While Dou is being groomed, her owner watches the table's camera.
	run(t, phone, chromedp.Click(chromedp.CSS(`#booking-list button.watch[data-booking="`+id+`"]`)))
	browsertest.WaitJS(t, phone, `chatView.live && chatView.live.state === 'live'`, 15*time.Second, showChat)
	frames := browsertest.Eval[int](t, phone, `document.getElementById('live-video').getVideoPlaybackQuality().totalVideoFrames`)
	browsertest.WaitJS(t, phone, fmt.Sprintf(`document.getElementById('live-video').getVideoPlaybackQuality().totalVideoFrames >= %d`, frames+15), 10*time.Second, showChat)
	shot(t, phone, "e2e-live")
	history := consoleHistory(t, s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "check"), customer)
	var card, photo bool
	for _, m := range history {
		card = card || (m.Card != nil && m.Card.Type == "progress" && m.Card.Stage == "bathing" && m.Card.Photo != "")
		photo = photo || (m.From == "booking" && m.Media != nil && m.Media.Hash != "")
	}
	if !card || !photo {
		t.Fatalf("the customer's chat: progress card %v, snapshot %v", card, photo)
	}
}
