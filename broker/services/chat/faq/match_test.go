package faq

import (
	"strings"
	"testing"
)

// Requests for a person in many words: pairs of an asking word and a person
// word, a person word and a presence word, repeated or mixed whole-message
// phrases and one-letter typos of them; words that only look like one are
// not.
func TestHandoffPairs(t *testing.T) {
	a := shipped(t)
	for _, msg := range []string{
		"找一下你们店员", "让经理给我回个话", "叫下你们负责人", "店员在吗", "经理呢", "人工人工",
		"human 客服", "帮我转 staff", "could I talk to the manager", "I need to speak with an actual person",
		"humna", "hmuan please", "staff please",
	} {
		if r := a.Answer(msg, ""); r.Kind != Handoff || r.Intent != IntentHandoff {
			t.Errorf("%q: %v %q, want a handoff", msg, r.Kind, r.Intent)
		}
	}
	for _, msg := range []string{
		"人工喂养好还是母乳好", "宝宝发烧让人很担心", "is this shampoo humane?", "stuff please",
		"my dog is afraid of other people", "宝宝和店里的小狗玩了一会",
	} {
		if r := a.Answer(msg, ""); r.Kind == Handoff {
			t.Errorf("%q: a handoff, want none", msg)
		}
	}
}

// Two questions in one: asked back when neither is about health, left to
// staff when one is.
func TestAnswerTwoQuestions(t *testing.T) {
	a := shipped(t)
	r := a.Answer("你们几点关门？积分怎么用", "")
	if r.Kind != Ask || len(r.Choices) != 2 || r.Automatic {
		t.Fatalf("two store questions: %+v", r)
	}
	ids := []string{r.Choices[0].Intent, r.Choices[1].Intent}
	if !(ids[0] == "opening_hours" && ids[1] == "membership_points") && !(ids[1] == "opening_hours" && ids[0] == "membership_points") {
		t.Errorf("choices %v", ids)
	}
	for _, c := range r.Choices {
		if !hasCJK(c.Question) {
			t.Errorf("a Chinese message's button is not in Chinese: %q", c.Question)
		}
		// The button's question, sent back, is answered with its intent.
		if back := a.Answer(c.Question, ""); back.Kind != Answer || back.Intent != c.Intent {
			t.Errorf("button %q: %v %q, want answer %q", c.Question, back.Kind, back.Intent, c.Intent)
		}
	}
	if r := a.Answer("宝宝湿疹还发烧了", ""); r.Kind != NoMatch {
		t.Errorf("rash and fever: %v %q, want it left to staff", r.Kind, r.Intent)
	}
	if r := a.Answer("几点开门？宝宝发烧了怎么办", ""); r.Kind == Answer {
		t.Errorf("hours and fever: answered %q, want no automatic answer", r.Intent)
	}
}

// Every intent's button, in both languages, is answered with that intent.
func TestAskBackQuestionsAnswerThemselves(t *testing.T) {
	a := shipped(t)
	for i, in := range a.cfg.Intents {
		for _, lang := range []string{LangZH, LangEN} {
			q := a.question(i, lang)
			if (lang == LangZH) != hasCJK(q) {
				t.Errorf("%s: the %s button %q is in the other language", in.ID, lang, q)
			}
			if r := a.Answer(q, ""); r.Kind != Answer || r.Intent != in.ID {
				t.Errorf("%s: its %s button %q gets %v %q", in.ID, lang, q, r.Kind, r.Intent)
			}
		}
	}
}

// A health intent is not answered on words it shares with other intents:
// the temperature question that got the formula answer.
func TestHealthNeedsItsOwnKeyword(t *testing.T) {
	a := shipped(t)
	for _, msg := range []string{"宝宝两个月，身上有点烫，要多少度才算", "baby 2 months, feels warm, how much is too much"} {
		if r := a.Answer(msg, ""); r.Kind == Answer && r.Intent != "fever" {
			t.Errorf("%q: answered %q", msg, r.Intent)
		}
	}
	// not phrases rule an intent out.
	if r := a.Answer("宝宝打完疫苗能游泳吗", ""); r.Kind == Answer && r.Intent == "grooming_prep" {
		t.Errorf("a baby's vaccination got the grooming answer")
	}
}

func TestLoadMatchSettings(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"health below threshold", "match: {threshold: 0.5, health_threshold: 0.4}", "match.health_threshold"},
		{"ask above threshold", "match: {threshold: 0.5, ask_threshold: 0.6}", "match.ask_threshold"},
		{"ask without its text", "match: {ask_threshold: 0.3}", "ask_back.zh"},
		{"ask_own", "match: {ask_own: 2}", "match.ask_own"},
		{"people alone", "handoff:\n  people: [店员]\n", "people goes with asking or present"},
	} {
		y := strings.Replace(minimal, "version: 1\n", "version: 1\n"+c.yaml+"\n", 1)
		if strings.HasPrefix(c.yaml, "handoff:") {
			y = strings.Replace(minimal, "handoff:\n", "handoff:\n  people: [店员]\n", 1)
		}
		y = strings.Replace(y, "HOURS", strings.TrimPrefix(shanghaiHours, "\n"), 1)
		_, err := Load([]byte(y))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
	// Without the new keys nothing is asked back (the defaults keep the old behaviour).
	a := mustLoad(t, withHours(shanghaiHours))
	if r := a.Answer("营业时间 积分", ""); r.Kind == Ask {
		t.Errorf("asked back with ask_threshold unset: %+v", r)
	}
}
