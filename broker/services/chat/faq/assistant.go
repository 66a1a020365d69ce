package faq

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/storeedge/storeedge/internal/hours"
)

// Kind says what the assistant did with a message.
type Kind int

const (
	// NoMatch: no confident answer; the message waits for staff. Reply.Text is
	// a holding message, Reply.Intent the closest intent (a hint for staff) or
	// empty.
	NoMatch Kind = iota
	// Answer: a confident match; Reply.Text answers the question.
	Answer
	// Handoff: the customer asked for a person, or wrote something urgent.
	// Flag the conversation for staff and stop calling Answer for it.
	// Reply.Text tells the customer what happens next.
	Handoff
	// Ask: two intents are too close to choose between. Reply.Text asks
	// which one the customer means and Reply.Choices are their questions,
	// to offer as buttons; tapping one sends its question, which the
	// assistant answers. Nothing is answered automatically.
	Ask
)

func (k Kind) String() string {
	switch k {
	case Answer:
		return "answer"
	case Handoff:
		return "handoff"
	case Ask:
		return "ask"
	}
	return "no_match"
}

// Intent names of the replies that do not come from faq.yaml's intents.
const (
	IntentHandoff = "handoff" // the customer asked for a person
	IntentUrgent  = "urgent"  // an emergency phrase: see a doctor / vet now
)

// Reply is the assistant's verdict on one customer message.
type Reply struct {
	Kind       Kind
	Intent     string   // the intent answered (or the closest one for NoMatch)
	Text       string   // the text to send the customer, in Lang
	Lang       string   // LangZH or LangEN
	Confidence float64  // in [0, 1]; 1 for handoff phrases
	Automatic  bool     // true when the assistant answered the question itself (Kind Answer)
	Choices    []Choice // Kind Ask: the candidate questions, best first
}

// Choice is one button of an ask-back: Question, in the reply's language,
// is the text a tap sends, and Intent the intent it is answered with.
type Choice struct {
	Intent   string
	Question string
}

// QuickReply is a saved snippet a staff member can send with one tap.
type QuickReply struct {
	ID    string
	Title string
	Text  Text
}

// Assistant answers customers' common questions from faq.yaml. It is
// immutable after Load and safe for concurrent use.
type Assistant struct {
	cfg     config
	ix      *index
	hours   *hours.Hours
	handoff *phraseSet
	urgent  *phraseSet
	quick   []QuickReply
	src     atomic.Pointer[hoursSource] // UseHours
	// questions maps each intent's ask-back questions, normalised, to the
	// intent: the text a tapped button sends is answered with its intent.
	questions map[string]int
	not       []*phraseSet // by intent: phrases that rule it out
}

// Load builds an Assistant from the bytes of faq.yaml (configs/faq.yaml
// documents every key). Unknown keys are errors; every problem found is
// reported in the one error.
func Load(yaml []byte) (*Assistant, error) {
	c, err := decode(yaml)
	if err != nil {
		return nil, err
	}
	var errs []error
	if err := c.validate(); err != nil {
		errs = append(errs, err)
	}
	h, err := newHours(c.Hours)
	if err != nil {
		errs = append(errs, err)
	}
	tk := &tokenizer{stopWords: map[string]bool{}, stopChars: map[rune]bool{}}
	for _, w := range defaultStopWords {
		tk.stopWords[w] = true
	}
	for _, w := range c.Match.StopWords {
		ws := words(w)
		if len(ws) != 1 || hasCJK(w) {
			errs = append(errs, fmt.Errorf("match.stop_words: %q is not one Latin word", w))
			continue
		}
		tk.stopWords[ws[0]] = true
	}
	for _, r := range defaultStopChars {
		tk.stopChars[r] = true
	}
	ix := newIndex(tk, c.Intents)
	for _, i := range ix.emptyIntents() {
		if len(c.Intents[i].Keywords)+len(c.Intents[i].Examples) > 0 {
			errs = append(errs, fmt.Errorf("intents[%d] (%s): keywords and examples are all stop words", i, c.Intents[i].ID))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	a := &Assistant{
		cfg:     c,
		ix:      ix,
		hours:   h,
		handoff: newPhraseSet(tk, c.Handoff),
		urgent:  newPhraseSet(tk, c.Urgent),
	}
	for _, q := range c.QuickReplies {
		a.quick = append(a.quick, QuickReply(q))
	}
	a.not = make([]*phraseSet, len(c.Intents))
	for i, in := range c.Intents {
		if len(in.Not) > 0 {
			a.not[i] = newPhraseSet(tk, phraseConfig{Phrases: in.Not})
		}
	}
	a.questions = map[string]int{}
	for i := range c.Intents {
		for _, lang := range []string{LangZH, LangEN} {
			q := strings.Join(strings.Fields(normalize(a.question(i, lang))), " ")
			if _, dup := a.questions[q]; !dup && q != "" {
				a.questions[q] = i
			}
		}
	}
	return a, nil
}

// Answer matches one customer message. lang forces the reply language ("zh"
// or "en", or a tag starting with them such as "zh-CN"); otherwise the reply
// is in Chinese when the message contains CJK characters and in English when
// it does not.
//
// Urgent phrases come first (the customer is told to see a doctor or vet now,
// and staff are flagged), then handoff phrases, which always win over a
// matching intent. A message longer than match.max_message_runes is left to
// staff (NoMatch) unless it holds one of those phrases.
func (a *Assistant) Answer(text, lang string) Reply {
	n := normalize(text)
	ws := wordsOf(n)
	lang = a.pickLang(lang, n, ws)
	if a.urgent.match(ws) {
		return Reply{Kind: Handoff, Intent: IntentUrgent, Text: a.cfg.Urgent.Reply.In(lang), Lang: lang, Confidence: 1}
	}
	if a.handoff.match(ws) {
		return Reply{Kind: Handoff, Intent: IntentHandoff, Text: a.cfg.Handoff.Reply.In(lang), Lang: lang, Confidence: 1}
	}
	noMatch := Reply{Kind: NoMatch, Text: a.cfg.NoMatch.In(lang), Lang: lang}
	if utf8.RuneCountInString(text) > a.cfg.Match.MaxMessageRunes {
		return noMatch
	}
	if i, ok := a.questions[strings.Join(strings.Fields(n), " ")]; ok {
		return a.answer(i, 1, lang) // a tapped ask-back button
	}
	cands := a.ix.score(n, func(i int) bool { return a.not[i] != nil && a.not[i].match(ws) })
	if len(cands) == 0 {
		return noMatch
	}
	best := cands[0]
	in := a.cfg.Intents[best.intent]
	noMatch.Intent, noMatch.Confidence = in.ID, best.score
	m := a.cfg.Match
	health := func(c candidate) bool { return a.cfg.Intents[c.intent].Health }
	// Two questions in one: another intent has a keyword of its own in the
	// message too. Staff answer when one of them is about health; otherwise
	// the customer picks.
	if m.TwoQuestions && best.distinct {
		for _, c := range cands[1:] {
			if !c.distinct {
				continue
			}
			if health(best) || health(c) || m.AskThreshold == 0 {
				return noMatch
			}
			return a.ask(lang, best, c)
		}
	}
	threshold := m.Threshold
	if health(best) {
		threshold = m.HealthThreshold
	}
	second := 0.0
	if len(cands) > 1 {
		second = cands[1].score
	}
	// A health answer also needs one of the intent's keywords, whole, made
	// mostly of words no other health intent uses: a temperature question
	// is not answered with the formula answer for sharing "宝宝" and "多少".
	if best.score >= threshold && best.score-second >= m.Margin && (!health(best) || best.healthOwn) {
		return a.answer(best.intent, best.score, lang)
	}
	if m.AskThreshold == 0 || best.score < m.AskThreshold || (!best.distinct && best.own < m.AskOwn && best.score < threshold) {
		return noMatch // unsure, and nothing in the message is this intent's alone
	}
	// Not sure enough to answer: ask back with the intents near the best.
	close := []candidate{best}
	for _, c := range cands[1:] {
		if c.score >= m.AskThreshold && best.score-c.score < m.Margin {
			close = append(close, c)
		}
	}
	return a.ask(lang, close...)
}

// ask is an ask-back offering the questions of cs.
func (a *Assistant) ask(lang string, cs ...candidate) Reply {
	r := Reply{Kind: Ask, Text: a.cfg.AskBack.In(lang), Lang: lang, Intent: a.cfg.Intents[cs[0].intent].ID, Confidence: cs[0].score}
	for _, c := range cs {
		r.Choices = append(r.Choices, Choice{Intent: a.cfg.Intents[c.intent].ID, Question: a.question(c.intent, lang)})
	}
	return r
}

// question is the question of intent i in lang that a tap on its button
// sends: its question in lang, else its first example written in lang,
// else whatever it has.
func (a *Assistant) question(i int, lang string) string {
	in := a.cfg.Intents[i]
	q := in.Question.ZH
	if lang == LangEN {
		q = in.Question.EN
	}
	if q != "" {
		return q
	}
	for _, e := range in.Examples {
		if hasCJK(e) == (lang == LangZH) {
			return e
		}
	}
	if q := in.Question.In(lang); q != "" {
		return q
	}
	if len(in.Examples) > 0 {
		return in.Examples[0]
	}
	return in.Keywords[0]
}

// answer is intent i's automatic answer in lang.
func (a *Assistant) answer(i int, score float64, lang string) Reply {
	in := a.cfg.Intents[i]
	answer := in.Answer.In(lang)
	if h, now := a.sourced(); h != nil && in.ID == IntentOpeningHours {
		answer = hoursAnswer(h, now(), lang)
	}
	if in.Health {
		answer = strings.TrimRight(answer, "\n") + "\n\n" + a.cfg.HealthNotice.In(lang)
	}
	return Reply{Kind: Answer, Intent: in.ID, Text: answer, Lang: lang, Confidence: score, Automatic: true}
}

// pickLang returns the reply language: lang when it names one, else zh
// when the normalised message n has CJK, en when it has other words, and
// default_lang when it has no words.
func (a *Assistant) pickLang(lang, n string, ws []string) string {
	switch l := strings.ToLower(lang); {
	case strings.HasPrefix(l, LangZH):
		return LangZH
	case strings.HasPrefix(l, LangEN):
		return LangEN
	}
	if hasCJK(n) {
		return LangZH
	}
	if len(ws) == 0 {
		return a.cfg.DefaultLang
	}
	return LangEN
}

// Hours returns the store's business hours: the HoursSource's (UseHours)
// when set, faq.yaml's otherwise.
func (a *Assistant) Hours() *hours.Hours {
	if h, _ := a.sourced(); h != nil {
		return h
	}
	return a.hours
}

// AfterHours returns the automatic reply for a message arriving at t when the
// store is closed: when staff are back, in the store's local time ("tomorrow
// at 09:00"). ok is false while the store is open. An empty lang means
// default_lang.
func (a *Assistant) AfterHours(t time.Time, lang string) (text string, ok bool) {
	h := a.Hours()
	if h.Open(t) {
		return "", false
	}
	lang = a.pickLang(lang, "", nil)
	next := h.NextOpen(t)
	if next.IsZero() {
		return a.cfg.Hours.ReopenUnknown.In(lang), true
	}
	return strings.ReplaceAll(a.cfg.Hours.AfterHours.In(lang), "{when}", formatWhen(next, t.In(h.Location()), lang)), true
}

// QuickReplies returns the store's saved staff snippets, in file order.
func (a *Assistant) QuickReplies() []QuickReply {
	return append([]QuickReply(nil), a.quick...)
}

// Intents returns the ids of the configured intents, in file order.
func (a *Assistant) Intents() []string {
	out := make([]string, len(a.cfg.Intents))
	for i, in := range a.cfg.Intents {
		out[i] = in.ID
	}
	return out
}

var (
	zhWeekdays = [7]string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}
)

// formatWhen says when next is, seen from now (both in the store's zone).
func formatWhen(next, now time.Time, lang string) string {
	days := dayNumber(next) - dayNumber(now)
	clock := next.Format("15:04")
	if lang == LangEN {
		switch days {
		case 0:
			return "today at " + clock
		case 1:
			return "tomorrow at " + clock
		}
		return next.Format("Monday 2 January") + " at " + clock
	}
	switch days {
	case 0:
		return "今天 " + clock
	case 1:
		return "明天 " + clock
	case 2:
		return "后天 " + clock
	}
	return fmt.Sprintf("%d月%d日（%s）%s", next.Month(), next.Day(), zhWeekdays[next.Weekday()], clock)
}

// dayNumber counts calendar days, for "today"/"tomorrow".
func dayNumber(t time.Time) int {
	y, m, d := t.Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}
