package pagetest

// Search, labels and internal notes in the console: staff search every
// conversation and one, see the words found highlighted, open a hit in
// its conversation, label a conversation and filter the list by it, and
// write notes; the customer's chat page never shows a note or a label.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

const showSearch = `JSON.stringify({search: consoleView.search, open: consoleView.open && consoleView.open.conversation, list: consoleView.conversations})`

func TestConsoleSearchAndNotes(t *testing.T) {
	s := startConsoleStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "api")

	// Mei writes from her phone's chat page; another customer wrote before.
	page := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, page, chatURL(t, s, tablet))
	browsertest.WaitJS(t, page, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)
	mei := browsertest.Eval[string](t, page, `chatView.conversation`)
	other := s.CustomerLogin(t, tablet, "", "other", false)
	var o struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, other.Call(t, "chat", "open", `{}`)).Decode(t, &o)
	storetest.OK(t, other.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"宝宝的小推车忘在店里了"}`, o.Conversation)))
	s.Advance(time.Hour)
	typeAndSend(t, page, "我家宝宝今天有点发烧，可以来店里吗？")
	browsertest.WaitJS(t, page, `chatView.messages.some(m => m.text && m.text.startsWith('我家宝宝'))`, 10*time.Second, showChat)
	s.Advance(time.Minute)
	typeAndSend(t, page, "Also: can I book a bath for Dou on Saturday?")
	browsertest.WaitJS(t, page, `chatView.messages.some(m => m.text && m.text.startsWith('Also'))`, 10*time.Second, showChat)
	// Staff answer her, so the conversation is Anna's.
	storetest.OK(t, staff.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, mei)))
	storetest.OK(t, staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"Of course, come at 3pm"}`, mei)))

	const note = "Dou is allergic to chicken shampoo — use the oat one"
	for _, size := range []struct {
		name string
		opts []browsertest.Option
		w    int
	}{
		{"tablet", []browsertest.Option{browsertest.WindowSize(1024, 768)}, 1024},
		{"phone", []browsertest.Option{browsertest.Phone()}, 390},
	} {
		t.Run(size.name, func(t *testing.T) {
			b := browsertest.New(t, size.opts...)
			consoleSignedIn(t, b, s)
			browsertest.WaitJS(t, b, `document.getElementById('filter-vip') !== null`, 10*time.Second, showSearch)

			// Search every conversation: Mei's message first (the newest),
			// the other customer's too, the words marked.
			consoleType(t, b, "#search-q", "宝宝")
			consoleClick(t, b, "#search-go")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.search.hits.length >= 2 && consoleView.search.hits[0].conversation === %q && consoleView.search.hits.some(h => h.conversation === %q && h.text === '宝宝的小推车忘在店里了')`, mei, o.Conversation), 10*time.Second, showSearch)
			n := browsertest.Eval[int](t, b, `consoleView.search.hits.length`)
			if marks := browsertest.Eval[[]string](t, b, `[...document.querySelectorAll('#search-results mark')].map(m => m.textContent)`); len(marks) < n || marks[0] != "宝宝" {
				t.Errorf("marked words %q for %d hits", marks, n)
			}
			if st := browsertest.Eval[string](t, b, `document.getElementById('hit-status').textContent`); !strings.Contains(st, fmt.Sprint(n)) || !strings.Contains(st, "everything") {
				t.Errorf("search status %q", st)
			}
			checkLayout(t, b, size.w, "search results")
			consoleShot(t, b, "search-"+size.name)

			// Tapping a hit opens the message in its conversation, marked.
			consoleClick(t, b, "#hit-0")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.open && consoleView.open.conversation === %q && document.querySelector('#messages li.hit-focus mark') !== null`, mei), 10*time.Second, showSearch)
			if got := browsertest.Eval[string](t, b, `document.querySelector('#messages li.hit-focus').textContent`); !strings.Contains(got, "发烧") {
				t.Errorf("the highlighted message: %q", got)
			}
			consoleShot(t, b, "search-open-"+size.name)

			// Find in this conversation.
			consoleClick(t, b, "#find-open")
			consoleType(t, b, "#find-q", "SATURDAY")
			consoleClick(t, b, "#find-go")
			browsertest.WaitJS(t, b, `consoleView.search.convHits.length === 1 && consoleView.search.convHits[0].text.includes('Saturday')`, 10*time.Second, showSearch)
			if n := browsertest.Eval[int](t, b, `document.querySelectorAll('#find-results mark').length`); n != 1 {
				t.Errorf("marks in the conversation's hits: %d", n)
			}
			consoleClick(t, b, "#find-close")

			// The side panel: a note and a label; the list shows the label
			// and filters by it.
			if size.name == "tablet" {
				scrollTo(t, b, "note-text-conv")
				consoleType(t, b, "#note-text-conv", note)
				consoleClick(t, b, "#note-add-conv")
				browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.search.notes.length === 1 && consoleView.search.notes[0].text === %q && consoleView.search.notes[0].author === 'staff-anna'`, note), 10*time.Second, showSearch)
				consoleClick(t, b, "#label-conv-vip")
				browsertest.WaitJS(t, b, `consoleView.search.labels.includes('vip')`, 10*time.Second, showSearch)
				consoleClick(t, b, "#label-cust-allergy")
				browsertest.WaitJS(t, b, `consoleView.search.customerLabels.includes('allergy')`, 10*time.Second, showSearch)
			} else {
				browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.search.notes.some(n => n.text === %q)`, note), 10*time.Second, showSearch)
			}
			browsertest.WaitJS(t, b, fmt.Sprintf(`document.querySelector('[data-conversation=%q] .badge.label[data-label=vip]') !== null`, mei), 10*time.Second, showSearch)
			consoleClick(t, b, "#filter-vip")
			browsertest.WaitJS(t, b, fmt.Sprintf(`consoleView.conversations.length === 1 && consoleView.conversations[0].conversation === %q`, mei), 10*time.Second, showSearch)
			checkLayout(t, b, size.w, "notes and labels")
			scrollTo(t, b, "notes-panel")
			consoleShot(t, b, "notes-"+size.name)

			// In Chinese.
			consoleClick(t, b, "#lang")
			browsertest.WaitJS(t, b, `document.getElementById('search-go').textContent === '搜索'`, 5*time.Second)
			if got := browsertest.Eval[string](t, b, `document.getElementById('notes-title').textContent + ' ' + document.getElementById('filter-vip').textContent`); got != "标签和备注 贵宾" {
				t.Errorf("Chinese panel and chip: %q", got)
			}
			consoleShot(t, b, "notes-zh-"+size.name)
			consoleClick(t, b, "#lang")
			consoleClick(t, b, "#filter-all")
		})
	}

	// Mei's page, live and after a reload, shows the staff reply and no
	// note and no label.
	storetest.OK(t, staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"See you at three!"}`, mei)))
	for _, when := range []string{"live", "reloaded"} {
		if when == "reloaded" {
			if err := chromedp.Do(page, chromedp.Reload()); err != nil {
				t.Fatal(err)
			}
		}
		browsertest.WaitJS(t, page, `chatView.messages.some(m => m.text === 'See you at three!')`, 10*time.Second, showChat)
		noNotes(t, page, when, note)
	}
	shot(t, page, "no-notes")
}

// noNotes fails when the customer's page shows a note or a label, on
// screen or in what it keeps.
func noNotes(t *testing.T, page context.Context, when, note string) {
	t.Helper()
	text := browsertest.Eval[string](t, page, `document.body.innerText + JSON.stringify(window.chatView) + document.documentElement.outerHTML`)
	for _, w := range []string{note, "chicken", "VIP", "贵宾", "Allergy", "过敏", "allergy", "vip"} {
		if strings.Contains(text, w) {
			t.Errorf("the customer's page (%s) shows %q", when, w)
		}
	}
}
