package faq

import (
	"strings"
	"sync"
	"testing"
)

// The typical questions of STORIES.md, in both languages, plus paraphrases
// that are not in faq.yaml: each must be answered with its intent.
func TestAnswerTypicalQuestions(t *testing.T) {
	a := shipped(t)
	for _, c := range []struct{ msg, intent, lang string }{
		// STORIES.md, as written
		{"你们店几点开门?", "opening_hours", "zh"},
		{"明天营业吗?", "opening_hours", "zh"},
		{"What time do you open?", "opening_hours", "en"},
		{"最近有什么活动?", "promotions", "zh"},
		{"XX奶粉有活动吗?", "promotions", "zh"},
		{"Any deals this week?", "promotions", "en"},
		{"会员卡怎么积分?", "membership_points", "zh"},
		{"How do points work?", "membership_points", "en"},
		{"宝宝一直哭怎么办?", "crying_baby", "zh"},
		{"My baby won't stop crying", "crying_baby", "en"},
		{"宝宝几个月能加辅食?", "solid_food", "zh"},
		{"辅食怎么加?", "solid_food", "zh"},
		{"When can my baby start solids?", "solid_food", "en"},
		{"宝宝湿疹怎么处理?", "eczema_rash", "zh"},
		{"红屁股怎么办?", "eczema_rash", "zh"},
		{"Baby has a rash", "eczema_rash", "en"},
		{"宝宝发烧到多少度该吃药?", "fever", "zh"},
		{"My baby has a fever", "fever", "en"},
		{"宝宝两个月,奶粉该怎么选?", "formula_stage", "zh"},
		{"Which formula stage?", "formula_stage", "en"},
		{"奶瓶用什么消毒好?", "bottle_hygiene", "zh"},
		{"How to sterilise bottles?", "bottle_hygiene", "en"},
		{"洗澡前要准备什么?", "grooming_prep", "zh"},
		{"Does my dog need vaccinations before grooming?", "grooming_prep", "en"},
		{"我想预约下周二下午三点给金毛洗澡", "booking", "zh"},
		{"I want to book a bath", "booking", "en"},
		{"狗狗吐了,明天的预约能改期吗?", "reschedule", "zh"},
		{"Can I move my booking?", "reschedule", "en"},
		{"发货到哪了?", "delivery_after_sales", "zh"},
		{"吸奶器不会用", "delivery_after_sales", "zh"},
		{"Where is my order?", "delivery_after_sales", "en"},
		// paraphrases, not in faq.yaml
		{"你们晚上几点关门", "opening_hours", "zh"},
		{"are you open on sunday", "opening_hours", "en"},
		{"纸尿裤最近打折吗", "promotions", "zh"},
		{"积分怎么兑换", "membership_points", "zh"},
		{"I've been up all night, my baby keeps crying and I don't know what to do", "crying_baby", "en"},
		{"fever of 38.5, what now?", "fever", "en"},
		{"宝宝体温39度", "fever", "zh"},
		{"my son has nappy rash", "eczema_rash", "en"},
		{"宝宝脸上长湿疹了", "eczema_rash", "zh"},
		{"Do I need to boil baby bottles?", "bottle_hygiene", "en"},
		{"What's the best first food for a 6 month old baby?", "solid_food", "en"},
		{"我的狗狗很怕吹风机", "grooming_prep", "zh"},
		{"I need to cancel my appointment tomorrow", "reschedule", "en"},
		{"my parcel has not arrived", "delivery_after_sales", "en"},
	} {
		r := a.Answer(c.msg, "")
		if r.Kind != Answer || r.Intent != c.intent {
			t.Errorf("%q: got %v %q (confidence %.2f), want answer %q", c.msg, r.Kind, r.Intent, r.Confidence, c.intent)
			continue
		}
		if !r.Automatic || r.Lang != c.lang || r.Text == "" {
			t.Errorf("%q: automatic=%v lang=%q text=%q, want automatic in %q", c.msg, r.Automatic, r.Lang, r.Text, c.lang)
		}
		if r.Confidence < 0.5 || r.Confidence > 1 {
			t.Errorf("%q: confidence %.2f outside [threshold, 1]", c.msg, r.Confidence)
		}
		if c.lang == LangEN && hasCJK(r.Text) {
			t.Errorf("%q: English question got Chinese in the answer: %q", c.msg, r.Text)
		}
		if c.lang == LangZH && !hasCJK(r.Text) {
			t.Errorf("%q: Chinese question got an answer without Chinese: %q", c.msg, r.Text)
		}
	}
}

// Messages that look a little like an intent but must not get its answer.
func TestAnswerNearMisses(t *testing.T) {
	a := shipped(t)
	for _, msg := range []string{
		"my dog ate chocolate",
		"我家狗吃了巧克力",
		"my dog is sad today",
		"what is the weather tomorrow",
		"宝宝今天很开心",
		"人工喂养好还是母乳好", // "人工" inside a word is not a handoff
		"你们有停车位吗",
		"how much is a bath for a small dog",
		"my baby has a rash and a fever", // two intents at once: staff decide
		"hello",
		"",
		"？？？",
	} {
		r := a.Answer(msg, "")
		if r.Kind == Answer {
			t.Errorf("%q: answered %q (confidence %.2f), want no automatic answer", msg, r.Intent, r.Confidence)
		}
		if r.Automatic || r.Text == "" {
			t.Errorf("%q: automatic=%v text=%q, want a non-automatic holding or handoff text", msg, r.Automatic, r.Text)
		}
	}
}

func TestAnswerUrgent(t *testing.T) {
	a := shipped(t)
	for _, msg := range []string{
		"my dog ate chocolate",
		"我家狗吃了巧克力怎么办",
		"宝宝发烧抽搐了",
		"my baby is not breathing properly, fever 39",
		"宝宝嘴唇发紫！",
	} {
		r := a.Answer(msg, "")
		if r.Kind != Handoff || r.Intent != IntentUrgent {
			t.Errorf("%q: got %v %q, want handoff %q", msg, r.Kind, r.Intent, IntentUrgent)
		}
		if !strings.Contains(r.Text, "120") {
			t.Errorf("%q: urgent text %q does not say to call 120", msg, r.Text)
		}
	}
}

func TestAnswerHandoff(t *testing.T) {
	a := shipped(t)
	for _, c := range []struct{ msg, lang string }{
		{"转人工", "zh"},
		{"人工客服", "zh"},
		{"人工", "zh"},
		{"人工，谢谢", "zh"},
		{"human", "en"},
		{"Agent!", "en"},
		{"我要转人工", "zh"},
		{"宝宝一直哭怎么办，转人工", "zh"}, // handoff wins over a matching intent
		{"What time do you open? I want to talk to a person", "en"},
		{"can I talk to a human please", "en"},
		{"human please", "en"},
		{"I'd like a real person", "en"},
		{"please 转 人工", "zh"},
		{"ＨＵＭＡＮ", "en"},
	} {
		r := a.Answer(c.msg, "")
		if r.Kind != Handoff || r.Intent != IntentHandoff {
			t.Errorf("%q: got %v %q, want handoff", c.msg, r.Kind, r.Intent)
			continue
		}
		if r.Automatic || r.Lang != c.lang || r.Text == "" || r.Confidence != 1 {
			t.Errorf("%q: %+v, want non-automatic handoff text in %s with confidence 1", c.msg, r, c.lang)
		}
	}
	// Words that only contain a handoff word are not handoffs.
	for _, msg := range []string{"is this shampoo humane?", "is this cleaning agent safe for bottles"} {
		if r := a.Answer(msg, ""); r.Kind == Handoff {
			t.Errorf("%q: handoff, want none", msg)
		}
	}
}

func TestAnswerLanguage(t *testing.T) {
	a := shipped(t)
	cases := []struct{ msg, lang, want string }{
		{"My baby has a fever", "", "en"},
		{"宝宝 fever 38度怎么办", "", "zh"}, // mixed: CJK present → zh
		{"My baby has a fever", "zh-CN", "zh"},
		{"宝宝发烧怎么办", "en", "en"},
		{"宝宝发烧怎么办", "fr", "zh"}, // unknown language: detect
	}
	for _, c := range cases {
		r := a.Answer(c.msg, c.lang)
		if r.Kind != Answer || r.Intent != "fever" || r.Lang != c.want {
			t.Errorf("Answer(%q, %q): %v %q in %q, want fever in %q", c.msg, c.lang, r.Kind, r.Intent, r.Lang, c.want)
		}
		if (c.want == LangZH) != hasCJK(r.Text) {
			t.Errorf("Answer(%q, %q): text in the wrong language: %q", c.msg, c.lang, r.Text)
		}
	}
}

func TestAnswerFullWidth(t *testing.T) {
	a := shipped(t)
	r := a.Answer("ＷＨＡＴ　ＴＩＭＥ　ＤＯ　ＹＯＵ　ＯＰＥＮ？", "")
	if r.Kind != Answer || r.Intent != "opening_hours" || r.Lang != LangEN {
		t.Errorf("full-width English: %v %q in %q, want opening_hours in en", r.Kind, r.Intent, r.Lang)
	}
	r = a.Answer("宝宝发烧３８．５度！！", "")
	if r.Kind != Answer || r.Intent != "fever" {
		t.Errorf("full-width digits: %v %q, want fever", r.Kind, r.Intent)
	}
}

// Health answers give care steps and when to see a doctor, and end with the
// health notice; store answers do not get it.
func TestAnswerHealth(t *testing.T) {
	a := shipped(t)
	fever := a.Answer("宝宝发烧怎么办", "")
	if !strings.Contains(fever.Text, "3个月以下") || !strings.Contains(fever.Text, "38°C") {
		t.Errorf("fever answer lacks the under-3-months 38°C rule: %q", fever.Text)
	}
	if !strings.HasSuffix(fever.Text, a.cfg.HealthNotice.ZH) {
		t.Errorf("fever answer does not end with the health notice: %q", fever.Text)
	}
	en := a.Answer("My baby has a fever", "")
	if !strings.Contains(en.Text, "Under 3 months: any temperature of 38 °C or more") {
		t.Errorf("English fever answer lacks the under-3-months rule: %q", en.Text)
	}
	if !strings.HasSuffix(en.Text, a.cfg.HealthNotice.EN) {
		t.Errorf("English fever answer does not end with the health notice")
	}
	for _, msg := range []string{"宝宝一直哭怎么办?", "Baby has a rash", "When can my baby start solids?"} {
		if r := a.Answer(msg, ""); !strings.Contains(strings.ToLower(r.Text), "doctor") && !strings.Contains(r.Text, "就医") {
			t.Errorf("%q: health answer says nothing about seeing a doctor: %q", msg, r.Text)
		}
	}
	if r := a.Answer("What time do you open?", ""); strings.Contains(r.Text, a.cfg.HealthNotice.EN) {
		t.Errorf("opening hours answer carries the health notice")
	}
}

func TestAnswerLongMessage(t *testing.T) {
	a := shipped(t)
	long := strings.Repeat("宝宝发烧怎么办", 100)
	if r := a.Answer(long, ""); r.Kind != NoMatch {
		t.Errorf("a %d-character message: %v, want it left to staff", len([]rune(long)), r.Kind)
	}
	if r := a.Answer(long+"转人工", ""); r.Kind != Handoff {
		t.Errorf("a long message ending in 转人工: %v, want handoff", r.Kind)
	}
}

func TestAnswerConcurrent(t *testing.T) {
	a := shipped(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if r := a.Answer("宝宝发烧怎么办", ""); r.Intent != "fever" {
					t.Errorf("concurrent Answer: %q", r.Intent)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestQuickReplies(t *testing.T) {
	a := shipped(t)
	qs := a.QuickReplies()
	if len(qs) == 0 || qs[0].ID != "greeting" || qs[0].Text.In(LangEN) == "" || qs[0].Text.In(LangZH) == "" {
		t.Fatalf("quick replies: %+v", qs)
	}
	qs[0].ID = "changed"
	if a.QuickReplies()[0].ID != "greeting" {
		t.Error("QuickReplies returned the assistant's own slice")
	}
	if got := (Text{ZH: "只有中文"}).In(LangEN); got != "只有中文" {
		t.Errorf("Text.In falls back to the other language: got %q", got)
	}
}

func TestIntentsListsEveryStoryIntent(t *testing.T) {
	got := strings.Join(shipped(t).Intents(), ",")
	want := "opening_hours,promotions,membership_points,crying_baby,solid_food,eczema_rash,fever,formula_stage,bottle_hygiene,grooming_prep,pet_unwell,booking,reschedule,delivery_after_sales"
	if got != want {
		t.Errorf("intents %s, want %s", got, want)
	}
}
