package faq

import (
	"math"
	"testing"
	"time"
)

func FuzzAnswer(f *testing.F) {
	a := shipped(f)
	for _, s := range []string{"", "宝宝发烧38.5度怎么办？", "What time do you open?", "转人工", "ＨＵＭＡＮ",
		"won't", "'", "’s", "1.2.3.", "\xff\xfe", "宝宝 fever 人工喂养", "a'b'c", "。。。"} {
		f.Add(s, "")
		f.Add(s, "en")
	}
	f.Fuzz(func(t *testing.T, msg, lang string) {
		r := a.Answer(msg, lang)
		if r.Confidence < 0 || r.Confidence > 1 || math.IsNaN(r.Confidence) {
			t.Fatalf("confidence %v", r.Confidence)
		}
		if r.Kind != Answer && r.Kind != NoMatch && r.Kind != Handoff && r.Kind != Ask {
			t.Fatalf("kind %d", r.Kind)
		}
		if (r.Kind == Ask) != (len(r.Choices) > 0) {
			t.Fatalf("kind %v with %d choices", r.Kind, len(r.Choices))
		}
		if r.Text == "" || (r.Lang != LangZH && r.Lang != LangEN) || r.Automatic != (r.Kind == Answer) {
			t.Fatalf("reply %+v", r)
		}
	})
}

func FuzzLoad(f *testing.F) {
	f.Add(withHours(shanghaiHours))
	f.Add([]byte("version: 1\nhours: {time_zone: UTC, weekly: {mon: [\"23:00-01:00\"]}}"))
	f.Add([]byte("intents: [{id: x, keywords: [\"'\"]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Load(b)
		if err != nil {
			return
		}
		_ = a.Answer("宝宝发烧 fever", "")
		now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		if a.Hours().Open(now) != a.Hours().NextOpen(now).Equal(now) {
			t.Fatal("Open and NextOpen disagree")
		}
		_, _ = a.AfterHours(now, "")
	})
}

// A 40-character message, the length of a typical chat question.
func BenchmarkAnswer(b *testing.B) {
	a := shipped(b)
	msg := "宝宝两个月了晚上一直哭怎么哄都哄不好，还有点发烧，体温三十八度，请问该怎么办呢？"
	if n := len([]rune(msg)); n != 40 {
		b.Fatalf("message has %d characters", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.Answer(msg, "")
	}
}

func BenchmarkAnswerEnglish(b *testing.B) {
	a := shipped(b)
	msg := "My baby keeps crying at night, what to do"
	b.ReportAllocs()
	for b.Loop() {
		a.Answer(msg, "")
	}
}
