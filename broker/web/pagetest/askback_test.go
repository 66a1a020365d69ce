package pagetest

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// twoQuestions is a message the shipped FAQ asks back about.
const twoQuestions = "你们几点关门？积分怎么用"

// The assistant's ask-back on the customer's page: a card with a button per
// question; a tap sends the question, which is answered automatically.
func TestChatPageAskBack(t *testing.T) {
	a, err := faq.Load(configs.FAQ)
	if err != nil {
		t.Fatal(err)
	}
	r := a.Answer(twoQuestions, "en") // the page sends its language, English here
	if r.Kind != faq.Ask || len(r.Choices) != 2 {
		t.Fatalf("configs/faq.yaml no longer asks back on %q: %+v", twoQuestions, r)
	}
	s := startWebStore(t)
	tablet := s.Connect(t, storetest.Device{ID: "tablet-1", Role: "chat-tablet"}, "qr")
	b := browsertest.New(t, browsertest.Phone())
	browsertest.Navigate(t, b, chatURL(t, s, tablet))
	browsertest.WaitJS(t, b, `chatView.state === 'ready' && chatView.status === 'online'`, 10*time.Second, showChat)

	typeAndSend(t, b, twoQuestions)
	browsertest.WaitJS(t, b, `document.querySelectorAll('#messages .msg.auto .card-ask .ask-buttons button').length === 2`, 10*time.Second, showChat)
	if got := browsertest.Eval[string](t, b, `document.querySelector('#messages .card-ask .card-text').textContent`); got != r.Text {
		t.Errorf("ask-back text %q, want %q", got, r.Text)
	}
	shot(t, b, "ask-back")
	run(t, b, chromedp.Click(chromedp.CSS(`#messages .card-ask button[data-intent="membership_points"]`)))
	want := ""
	for _, c := range r.Choices {
		if c.Intent == "membership_points" {
			want = c.Question
		}
	}
	if want == "" {
		t.Fatalf("no points button: %+v", r.Choices)
	}
	points := a.Answer(want, "en").Text
	browsertest.WaitJS(t, b, `chatView.messages.some(m => m.from === chatView.customer && m.text === `+jsString(want)+`) &&
		chatView.messages.some(m => m.from === 'assistant' && m.auto && m.text === `+jsString(points)+`)`, 10*time.Second, showChat)
}
