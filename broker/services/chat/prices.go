package chat

import (
	"github.com/storeedge/storeedge/broker/services/chat/faq"
)

// Prices answers a customer's price question from the store's catalogue
// (booking.Desk.PriceAnswer); named says whether it named a service, ok is
// false when text is not a price question.
type Prices interface {
	PriceAnswer(text, lang string) (answer string, named, ok bool)
}

// IntentPrices is the intent of an answer from the catalogue's prices.
const IntentPrices = "prices"

// SetPrices makes the assistant answer price questions from p: such a
// question is answered with the prices, whether the store is open or not,
// instead of waiting for staff. Call it before the router starts.
func (s *Service) SetPrices(p Prices) { s.prices.Store(&p) }

// priceReply answers a price question with the catalogue's prices: one
// that names a service wins over an FAQ answer (the FAQ knows how to
// prepare for a bath, the catalogue what it costs); one that names none
// gets every price when the FAQ has no answer. A handoff or an urgent
// message is left alone.
func (s *Service) priceReply(r faq.Reply, text, lang string) faq.Reply {
	p := s.prices.Load()
	if p == nil || r.Kind == faq.Handoff {
		return r
	}
	if lang == "" {
		lang = r.Lang
	}
	ans, named, ok := (*p).PriceAnswer(text, lang)
	if !ok || (!named && r.Kind != faq.NoMatch) {
		return r
	}
	return faq.Reply{Kind: faq.Answer, Intent: IntentPrices, Text: ans, Lang: lang, Confidence: 1, Automatic: true}
}
