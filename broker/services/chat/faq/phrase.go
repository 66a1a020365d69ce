package faq

import "strings"

// phraseSet finds trigger phrases (handoff, urgent) in a message.
//
// A Latin phrase matches whole words anywhere ("human" does not match
// "humane"); a phrase with CJK characters matches as a substring of the
// message with the spaces between its words removed ("转 人工" holds
// "转人工"). A whole-message phrase matches only when it is all the message
// says, apart from stop words and politeness ("human please", "人工，谢谢").
type phraseSet struct {
	tk         *tokenizer
	latin      []string // " w1 w2 "
	cjk        []string // joined without spaces
	wholeLatin map[string]bool
	wholeCJK   map[string]bool
}

func newPhraseSet(tk *tokenizer, c phraseConfig) *phraseSet {
	ps := &phraseSet{tk: tk, wholeLatin: map[string]bool{}, wholeCJK: map[string]bool{}}
	for _, p := range c.Phrases {
		if hasCJK(p) {
			ps.cjk = append(ps.cjk, strings.Join(words(p), ""))
		} else {
			ps.latin = append(ps.latin, " "+strings.Join(words(p), " ")+" ")
		}
	}
	for _, p := range c.WholeMessage {
		if hasCJK(p) {
			ps.wholeCJK[ps.trimCJK(strings.Join(words(p), ""))] = true
		} else {
			ps.wholeLatin[ps.content(words(p))] = true
		}
	}
	return ps
}

// politeCJK are courtesies dropped around a whole-message phrase.
var politeCJK = []string{"谢谢", "你好", "您好", "麻烦", "请"}

func (ps *phraseSet) trimCJK(s string) string {
	s = strings.Map(func(r rune) rune {
		if ps.tk.stopChars[r] {
			return -1
		}
		return r
	}, s)
	for changed := true; changed; {
		changed = false
		for _, p := range politeCJK {
			if t := strings.TrimPrefix(s, p); t != s {
				s, changed = t, true
			}
			if t := strings.TrimSuffix(s, p); t != s {
				s, changed = t, true
			}
		}
	}
	return s
}

// content joins the words that are not stop words.
func (ps *phraseSet) content(ws []string) string {
	var keep []string
	for _, w := range ws {
		if !ps.tk.stopWords[w] {
			keep = append(keep, w)
		}
	}
	return strings.Join(keep, " ")
}

// match reports whether the message with words ws (from words) holds a
// phrase.
func (ps *phraseSet) match(ws []string) bool {
	if len(ws) == 0 {
		return false
	}
	spaced := " " + strings.Join(ws, " ") + " "
	for _, p := range ps.latin {
		if strings.Contains(spaced, p) {
			return true
		}
	}
	joined := strings.Join(ws, "")
	for _, p := range ps.cjk {
		if strings.Contains(joined, p) {
			return true
		}
	}
	if len(ps.wholeCJK) > 0 && hasCJK(joined) && ps.wholeCJK[ps.trimCJK(joined)] {
		return true
	}
	return len(ps.wholeLatin) > 0 && ps.wholeLatin[ps.content(ws)]
}
