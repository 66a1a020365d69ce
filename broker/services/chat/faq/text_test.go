package faq

import (
	"slices"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ＷＨＡＴ　ＴＩＭＥ？", "what time "},
		{"你好，宝宝！", "你好 宝宝 "},
		{"won't", "wont"},
		{"38.5度", "38.5度"},
		{"end.", "end "},
		{"【活动】「奶粉」", " 活动  奶粉 "},
		{"Ｆｅｖｅｒ３８", "fever38"},
		{"３８．５", "38.5"},
		{"ｗｏｎ＇ｔ", "wont"},
		{"\xff'", "  "}, // invalid UTF-8 is dropped
	} {
		if got := normalize(c.in); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTokens(t *testing.T) {
	tk := &tokenizer{stopWords: map[string]bool{}, stopChars: map[rune]bool{}}
	for _, w := range defaultStopWords {
		tk.stopWords[w] = true
	}
	for _, r := range defaultStopChars {
		tk.stopChars[r] = true
	}
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"宝宝发烧", []string{"宝宝", "宝发", "发烧"}},
		{"哭", []string{"哭"}},
		{"奶瓶消毒吗", []string{"奶瓶", "瓶消", "消毒"}},                          // 吗 is a stop character
		{"How to sterilise bottles?", []string{"sterilise", "bottle"}}, // stop words, plural
		{"puppies classes dresses", []string{"puppy", "class", "dress"}},
		{"宝宝fever", []string{"宝宝", "fever"}},
		{"Does my dog", []string{"dog"}},
		{"！？。，", nil},
	} {
		if got := tk.tokens(c.in); !slices.Equal(got, c.want) {
			t.Errorf("tokens(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWords(t *testing.T) {
	got := words("我要 转人工, please! Talk-to a PERSON")
	want := []string{"我要", "转人工", "please", "talk", "to", "a", "person"}
	if !slices.Equal(got, want) {
		t.Errorf("words = %q, want %q", got, want)
	}
}
