package faq

import (
	"strings"
	"unicode/utf8"
)

// phraseSet finds trigger phrases (handoff, urgent) in a message.
//
// A Latin phrase matches whole words anywhere ("human" does not match
// "humane"); a phrase with CJK characters matches as a substring of the
// message with the spaces between its words removed ("转 人工" holds
// "转人工"). A whole-message phrase matches only when it is all the message
// says, apart from stop words and politeness ("human please", "人工，谢谢"),
// also repeated or mixed with another ("人工人工", "human 客服"), and a
// Latin one of five letters or more also with a letter added or dropped or
// two swapped ("humna").
//
// Pairs catch the many ways of asking for someone: an asking word followed
// within a few words (Latin) or characters (CJK) by a person word ("找下你们
// 的美容师", "talk to an actual person", "帮我转 human"), and a person word
// followed by a presence word ("店员在吗", "老板呢").
type phraseSet struct {
	tk         *tokenizer
	latin      []string // " w1 w2 "
	cjk        []string // joined without spaces
	wholeLatin map[string]bool
	wholeCJK   map[string]bool
	asking     []string // Latin " w1 w2 " or CJK joined
	people     []string
	present    []string
}

// Gaps allowed between an asking word and a person word, and between a
// person word and a presence word.
const (
	askGapWords = 3
	askGapRunes = 4
	presentGap  = 1
)

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
	key := func(p string) string {
		if hasCJK(p) {
			return strings.Join(words(p), "")
		}
		return " " + strings.Join(words(p), " ") + " "
	}
	for _, l := range []struct {
		dst *[]string
		src []string
	}{{&ps.asking, c.Asking}, {&ps.people, c.People}, {&ps.present, c.Present}} {
		for _, p := range l.src {
			if k := key(p); strings.TrimSpace(k) != "" {
				*l.dst = append(*l.dst, k)
			}
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
	if len(ps.wholeLatin) > 0 && ps.wholeLatin[ps.content(ws)] {
		return true
	}
	return ps.wholeParts(ws) || ps.pairs(spaced, joined)
}

// wholeParts reports whether every word of ws that is not a stop word or a
// courtesy is a whole-message phrase, or CJK made of them.
func (ps *phraseSet) wholeParts(ws []string) bool {
	n := 0
	for _, w := range ws {
		if ps.tk.stopWords[w] {
			continue
		}
		if !hasCJK(w) {
			if !ps.wholeLatin[w] && !ps.nearWhole(w) {
				return false
			}
			n++
			continue
		}
		rest := ps.trimCJK(w)
		for rest != "" {
			cut := false
			for p := range ps.wholeCJK {
				if p != "" && strings.HasPrefix(rest, p) {
					rest, cut = ps.trimCJK(rest[len(p):]), true
					break
				}
			}
			if !cut {
				return false
			}
		}
		n++
	}
	return n > 0
}

// nearWhole reports whether w is one slip (a letter added or dropped, or
// two neighbours swapped) from a one-word whole-message phrase of five
// letters or more. A changed letter is not a slip: it makes other words
// ("stuff", "hunan").
func (ps *phraseSet) nearWhole(w string) bool {
	if len(w) < 4 {
		return false
	}
	for p := range ps.wholeLatin {
		if len(p) >= 5 && !strings.Contains(p, " ") && oneEdit(w, p) {
			return true
		}
	}
	return false
}

func oneEdit(a, b string) bool {
	if a == b {
		return true
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	switch len(b) - len(a) {
	case 0:
		var diff []int
		for i := 0; i < len(a); i++ {
			if a[i] != b[i] {
				diff = append(diff, i)
			}
		}
		switch len(diff) {
		case 2:
			i, j := diff[0], diff[1]
			return j == i+1 && a[i] == b[j] && a[j] == b[i]
		}
		return false
	case 1:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:]
	}
	return false
}

// pairs reports whether an asking word is followed closely by a person
// word, or a person word by a presence word.
func (ps *phraseSet) pairs(spaced, joined string) bool {
	for _, a := range ps.asking {
		if strings.HasPrefix(a, " ") {
			for i := 0; ; {
				j := strings.Index(spaced[i:], a)
				if j < 0 {
					break
				}
				after := spaced[i+j+len(a)-1:] // from the space after the phrase
				if ps.personWithin(after) {
					return true
				}
				i += j + 1
			}
			continue
		}
		for i := 0; ; {
			j := strings.Index(joined[i:], a)
			if j < 0 {
				break
			}
			end := i + j + len(a)
			for _, p := range ps.people {
				if k := strings.Index(joined[end:], strings.TrimSpace(strings.ReplaceAll(p, " ", ""))); k >= 0 && utf8.RuneCountInString(joined[end:end+k]) <= askGapRunes {
					return true
				}
			}
			i = end
		}
	}
	for _, p := range ps.people {
		p = strings.ReplaceAll(p, " ", "")
		for i := 0; ; {
			j := strings.Index(joined[i:], p)
			if j < 0 {
				break
			}
			end := i + j + len(p)
			for _, q := range ps.present {
				q = strings.ReplaceAll(q, " ", "")
				if k := strings.Index(joined[end:], q); k >= 0 && utf8.RuneCountInString(joined[end:end+k]) <= presentGap {
					return true
				}
			}
			i = end
		}
	}
	return false
}

// personWithin reports whether a person word starts within askGapWords
// words of the start of rest (" w1 w2 …").
func (ps *phraseSet) personWithin(rest string) bool {
	ws := strings.Fields(rest)
	for skip := 0; skip <= askGapWords && skip < len(ws); skip++ {
		tail := " " + strings.Join(ws[skip:], " ") + " "
		for _, p := range ps.people {
			if strings.HasPrefix(p, " ") {
				if strings.HasPrefix(tail, p) {
					return true
				}
			} else if strings.HasPrefix(ws[skip], p) {
				return true
			}
		}
	}
	return false
}
