package proto

// StoreFAQSetRequest saves the store's FAQ (svc/store/faq_set): either
// YAML, the whole FAQ in faq.yaml's format, or Answers and QuickReplies,
// new texts by intent id and quick reply id, changed in the current FAQ.
// Version is the version it was edited from (faq_get's); another version
// now gets conflict.
type StoreFAQSetRequest struct {
	YAML         *string            `json:"yaml,omitempty"`
	Answers      map[string]FAQText `json:"answers,omitempty"`
	QuickReplies map[string]FAQText `json:"quick_replies,omitempty"`
	Version      *uint64            `json:"version"`
}

// FAQText is a text in Chinese and English.
type FAQText struct {
	ZH string `json:"zh"`
	EN string `json:"en"`
}

// FAQEntry is an intent's answer or a quick reply, as the console edits it.
type FAQEntry struct {
	ID string `json:"id"`
	// Title of a quick reply; Health marks an intent whose answer gets
	// the health notice.
	Title  string `json:"title,omitempty"`
	Health bool   `json:"health,omitempty"`
	FAQText
}

// StoreFAQTryRequest asks which answer a customer would get for Text
// (svc/store/faq_try), in Lang ("" = as the assistant tells from the text),
// with the FAQ in YAML when set (an edit not saved yet), else the saved one.
type StoreFAQTryRequest struct {
	Text string  `json:"text"`
	Lang string  `json:"lang,omitempty"`
	YAML *string `json:"yaml,omitempty"`
	// Answers and QuickReplies: an edit as faq_set takes it, tried
	// instead of YAML.
	Answers      map[string]FAQText `json:"answers,omitempty"`
	QuickReplies map[string]FAQText `json:"quick_replies,omitempty"`
}

// StoreFAQ is faq_get's answer (and faq_set's, with the new version).
type StoreFAQ struct {
	YAML    string `json:"yaml"`
	Version uint64 `json:"version"`
	// Intents and QuickReplies are the texts of YAML, in its order.
	Intents      []FAQEntry `json:"intents"`
	QuickReplies []FAQEntry `json:"quick_replies"`
	// Saved is false while the FAQ is still the configured file or the
	// embedded default (version 0).
	Saved bool `json:"saved"`
}

// StoreFAQTry is faq_try's answer: what the customer would get.
type StoreFAQTry struct {
	// Kind is answer (an intent answered automatically), handoff (a
	// person takes over; urgent phrases too), ask (the customer is asked
	// which of Choices she means) or no_match (left to staff).
	Kind   string `json:"kind"`
	Intent string `json:"intent,omitempty"`
	Text   string `json:"text"`
	Lang   string `json:"lang"`
	// Confidence of the match, 0..1.
	Confidence float64 `json:"confidence"`
	// Choices are the ask-back's buttons (kind ask).
	Choices []AskButton `json:"choices,omitempty"`
	// AfterHours is the reply the customer also gets now, while the store
	// is closed; "" while it is open.
	AfterHours string `json:"after_hours,omitempty"`
}
