package pagetest

// The console's FAQ view: the owner tries a question, edits an answer,
// tries it again before saving, saves, and a customer's next question gets
// the new answer. A staff member does not see the view.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

const showFAQ = `JSON.stringify(Object.assign({}, window.faqView, {intents: (window.faqView && faqView.intents || []).length, quick: undefined, hidden: document.getElementById('faq-view').hidden, tab: !document.getElementById('tab-faq').hidden}))`

func TestConsoleFAQ(t *testing.T) {
	owner := storetest.Device{ID: "owner", Role: "admin"}
	s := storetest.Start(t, storetest.Options{Devices: append([]storetest.Device{owner}, consoleFleet...), Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
	}})
	b := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, b, "http://"+s.HTTP+"/console/?u=owner#p=pw-owner")
	consoleClick(t, b, "#signin")
	browsertest.WaitJS(t, b, `consoleView.state === 'ready' && !document.getElementById('tab-faq').hidden`, 15*time.Second, showFAQ)
	consoleClick(t, b, "#tab-faq")
	browsertest.WaitJS(t, b, `faqView.loaded && !document.getElementById('faq-view').hidden && document.getElementById('chats-view').hidden && document.querySelector('textarea[data-key="intent:promotions"][data-lang="en"]')`, 10*time.Second, showFAQ)
	if w := browsertest.Eval[float64](t, b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("the FAQ view is %v px wider than the phone", w)
	}

	ask := func(q string) {
		t.Helper()
		browsertest.Eval[bool](t, b, fmt.Sprintf(`(document.getElementById('faq-q').value = %q, document.querySelector('#faq-try button[type=submit]').click(), true)`, q))
	}
	ask("Any deals this week?")
	browsertest.WaitJS(t, b, `faqView.result && faqView.result.intent === 'promotions' && document.getElementById('faq-try-result').textContent.includes('30 yuan off')`, 10*time.Second, showFAQ)

	// Edit the English answer; try again before saving.
	const newText = "This week: a free nail trim with every bath."
	browsertest.Eval[bool](t, b, fmt.Sprintf(`(() => { const ta = document.querySelector('textarea[data-key="intent:promotions"][data-lang="en"]');
		ta.value = %q; ta.dispatchEvent(new Event('input')); return true; })()`, newText))
	browsertest.WaitJS(t, b, `faqView.dirty === 1 && !document.getElementById('faq-save').disabled && document.querySelector('[data-entry="intent:promotions"]').classList.contains('changed')`, 5*time.Second, showFAQ)
	ask("Any deals this week?")
	browsertest.WaitJS(t, b, `faqView.result && faqView.result.unsaved && faqView.result.text === `+jsString(newText), 10*time.Second, showFAQ)
	// Not saved yet: a customer still gets the old answer.
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "")
	if got := s.CounterCustomerAsks(t, staff, "Any deals this week?"); strings.Contains(got, newText) {
		t.Fatal("a tried edit reached a customer before it was saved")
	}
	namedShot(t, b, "console-faq-phone")

	// Save: applied at once.
	consoleClick(t, b, "#faq-save")
	browsertest.WaitJS(t, b, `faqView.version === 1 && faqView.dirty === 0 && document.getElementById('faq-msg').textContent.includes('version 1')`, 10*time.Second, showFAQ)
	if got := s.CounterCustomerAsks(t, staff, "Any deals this week?"); !strings.Contains(got, newText) {
		t.Fatalf("after the save a customer got %q", got)
	}

	// Emptying an answer is refused, naming it; nothing is saved.
	browsertest.Eval[bool](t, b, `(() => { const ta = document.querySelector('textarea[data-key="intent:fever"][data-lang="zh"]');
		ta.value = ' '; ta.dispatchEvent(new Event('input')); return true; })()`)
	consoleClick(t, b, "#faq-save")
	browsertest.WaitJS(t, b, `document.getElementById('faq-msg').textContent.includes('(fever).answer.zh') && faqView.version === 1`, 10*time.Second, showFAQ)

	// Staff do not get the view.
	st := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, st, "http://"+s.HTTP+"/console/?u=staff-anna#p=pw-staff-anna")
	consoleClick(t, st, "#signin")
	browsertest.WaitJS(t, st, `consoleView.state === 'ready' && window.faqView && faqView.allowed === false`, 15*time.Second, showFAQ)
	if !browsertest.Eval[bool](t, st, `document.getElementById('tab-faq').hidden`) {
		t.Error("a staff member sees the FAQ tab")
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
