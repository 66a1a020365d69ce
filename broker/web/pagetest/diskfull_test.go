package pagetest

// The staff console on a full disk: a reply that cannot be saved says the
// store's storage is full, the health page says the disk is full and what
// to do, in English and Chinese, on a phone and a desk; once there is room
// the same reply goes in and the health page is clear again.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/internal/testkit/tmpfstest"
)

func TestConsoleFullDisk(t *testing.T) {
	disk, ok := tmpfstest.Mount(t, 32<<20)
	if !ok {
		return
	}
	const floor = 6 << 20
	s := storetest.Start(t, storetest.Options{Devices: consoleFleet, Config: func(c *broker.Config) {
		c.DataDir = filepath.Join(disk, "data")
		c.Persistence.MinFreeDiskBytes = floor
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	cust := s.CustomerLogin(t, tablet, "", "phone", false)
	var opened struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &opened)
	conv := opened.Conversation
	storetest.OK(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Is Dou ready?"}`, conv)))

	for _, size := range []struct {
		name string
		w, h int
	}{{"phone", 390, 844}, {"desk", 1024, 768}} {
		t.Run(size.name, func(t *testing.T) {
			b := browsertest.New(t, browsertest.WindowSize(size.w, size.h))
			consoleSignedIn(t, b, s)
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.conversations.some(c => c.conversation === %q)`, conv), 10*time.Second, showConsole)
			consoleOpen(t, b, conv)

			filler := filepath.Join(disk, "filler")
			tmpfstest.Fill(t, filler, tmpfstest.Free(t, disk)-floor+1<<20)
			reply := "Dou is ready, come at five (" + size.name + ")"
			consoleType(t, b, "#reply", reply)
			consoleClick(t, b, "#send")
			const errJS = `document.getElementById('chat-error').textContent`
			browsertest.WaitJS(t, b, `document.getElementById('chat-error').textContent.includes('storage is full')`, 10*time.Second, errJS)
			consoleShot(t, b, size.name+"-full-send")

			consoleClick(t, b, "#tab-health")
			const diskJS = `document.getElementById('disk').textContent`
			browsertest.WaitJS(t, b, `(() => { const r = document.getElementById('disk-refused');
				return !!r && r.classList.contains('bad') && r.textContent.includes('disk is full') && r.textContent.includes('6.0 MB'); })()`, 10*time.Second, diskJS)
			if got := browsertest.Eval[string](t, b, diskJS); !strings.Contains(got, "Kept free for the system") {
				t.Errorf("the disk line does not say what is kept free: %s", got)
			}
			consoleShot(t, b, size.name+"-full-health")
			consoleClick(t, b, "#lang")
			browsertest.WaitJS(t, b, `(() => { const r = document.getElementById('disk-refused');
				return !!r && r.textContent.includes('磁盘已满') && r.textContent.includes('6.0 MB'); })()`, 10*time.Second, diskJS)
			consoleShot(t, b, size.name+"-full-health-zh")
			consoleClick(t, b, "#tab-chats")
			if got := browsertest.Eval[string](t, b, errJS); !strings.Contains(got, "存储空间已满") && !strings.Contains(got, "storage is full") {
				t.Errorf("the failed reply's words are gone: %q", got)
			}
			consoleClick(t, b, "#lang")

			// Room again: the same reply goes in, the health page is clear.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			consoleClick(t, b, "#send")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open.messages.some(m => m.from === 'staff-anna' && m.text === %q) &&
				document.getElementById('chat-error').textContent === ''`, reply), 10*time.Second, errJS)
			n := 0
			for _, m := range consoleHistory(t, cust, conv) {
				if m.Text == reply {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("the reply is in the customer's history %d times, want once", n)
			}
			consoleClick(t, b, "#tab-health")
			browsertest.WaitJS(t, b, `!!consoleView.health && !consoleView.health.writes_refused && !document.getElementById('disk-refused')`, 10*time.Second, diskJS)
			consoleClick(t, b, "#tab-chats")
		})
	}
}
