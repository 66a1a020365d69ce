package pagetest

import (
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// At the kiosk the customer scans its presence code with the phone that
// holds her chat: the page confirms it as her, and the kiosk then knows
// who is in front of it (and nobody before that).
func TestChatPagePresence(t *testing.T) {
	s := startWebStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	kiosk := s.Connect(t, storetest.Device{ID: "kiosk-1", Role: "kiosk"}, "")
	b := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	customer := browsertest.Eval[string](t, b, `chatView.customer`)

	var who struct {
		Customer string `json:"customer"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "presence_get", `{}`)).Decode(t, &who)
	if who.Customer != "" {
		t.Fatalf("someone at the kiosk before any scan: %q", who.Customer)
	}
	var code struct {
		URL string `json:"url"`
	}
	storetest.OK(t, kiosk.Call(t, "booking", "presence_start", `{}`)).Decode(t, &code)
	i := strings.Index(code.URL, "/chat?present=")
	if i < 0 {
		t.Fatalf("presence url %q: want …/chat?present=…", code.URL)
	}
	browsertest.Navigate(t, b, "http://"+s.HTTP+code.URL[i:])
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.notice === 'presentOK' && chatView.present === 'kiosk-1'`, 10*time.Second, showChat)
	if loc := browsertest.Eval[string](t, b, `location.pathname + location.search`); loc != "/chat/" {
		t.Errorf("address after confirming %q: the code must leave the address bar", loc)
	}
	if msg := browsertest.Eval[string](t, b, `document.getElementById('notice').textContent`); !strings.Contains(msg, "kiosk-1 can now show your details") {
		t.Errorf("notice %q", msg)
	}
	storetest.OK(t, kiosk.Call(t, "booking", "presence_get", `{}`)).Decode(t, &who)
	if who.Customer != customer {
		t.Fatalf("at the kiosk: %q, want %q", who.Customer, customer)
	}
}
