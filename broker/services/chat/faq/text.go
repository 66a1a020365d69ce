package faq

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// normalize folds text for matching: full-width ASCII becomes half-width, the
// ideographic space a space, letters lower case, and punctuation and symbols
// (ASCII and CJK alike) become spaces. A '.' between two digits is kept ("38.5")
// and an apostrophe inside a Latin word is dropped ("won't" → "wont").
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	var prev rune
	for i, orig := range s {
		r := fold(orig)
		next := func() rune { // the folded rune after this one; orig is valid here
			n, _ := utf8.DecodeRuneInString(s[i+utf8.RuneLen(orig):])
			return fold(n)
		}
		switch {
		case r == '\'' || r == '’':
			if isLatin(prev) && isLatin(next()) {
				continue // an apostrophe inside a word is dropped
			}
			r = ' '
		case r == '.' && unicode.IsDigit(prev):
			if !unicode.IsDigit(next()) {
				r = ' '
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
		default:
			// punctuation, symbols, spaces, controls, marks
			r = ' '
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// fold maps full-width ASCII variants (U+FF01–U+FF5E) to ASCII and the
// ideographic space to a space.
func fold(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFEE0
	case r == 0x3000:
		return ' '
	}
	return r
}

// isCJK reports whether r is written without spaces between words: Han,
// Hiragana, Katakana, Hangul.
func isCJK(r rune) bool {
	if r < 0x1100 { // below Hangul Jamo: Latin, Greek, Cyrillic, ...
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// isLatin reports whether r belongs in a space-separated word.
func isLatin(r rune) bool {
	return (unicode.IsLetter(r) || unicode.IsDigit(r)) && !isCJK(r)
}

// hasCJK reports whether s contains any CJK character.
func hasCJK(s string) bool {
	for _, r := range s {
		if isCJK(r) {
			return true
		}
	}
	return false
}

// tokenizer splits normalised text into matching tokens.
type tokenizer struct {
	stopWords map[string]bool // Latin words that carry no meaning here
	stopChars map[rune]bool   // CJK particles that end a run ("的", "吗")
}

// tokens returns the distinct tokens of s (raw text): Latin runs become
// stemmed words without stop words; CJK runs, split at stop characters,
// become overlapping character bigrams, or the character itself for a
// one-character run.
func (tk *tokenizer) tokens(s string) []string { return tk.tokensOf(normalize(s)) }

// tokensOf is tokens of already normalised text.
func (tk *tokenizer) tokensOf(n string) []string {
	out := make([]string, 0, 16)
	add := func(t string) {
		for _, o := range out { // messages are short: a scan beats a map
			if o == t {
				return
			}
		}
		out = append(out, t)
	}
	// The current CJK run: byte offsets of its characters in n, and its end.
	// Tokens are substrings of n, so they cost no allocation.
	var run [64]int
	pos, end := run[:0], 0
	flushCJK := func() {
		switch len(pos) {
		case 0:
		case 1:
			add(n[pos[0]:end])
		default:
			for i := 0; i+1 < len(pos); i++ {
				j := end
				if i+2 < len(pos) {
					j = pos[i+2]
				}
				add(n[pos[i]:j])
			}
		}
		pos = pos[:0]
	}
	word := -1 // start of the current Latin word in n
	flushWord := func(end int) {
		if word < 0 {
			return
		}
		raw := n[word:end]
		word = -1
		if tk.stopWords[raw] {
			return
		}
		if w := stem(raw); !tk.stopWords[w] {
			add(w)
		}
	}
	for i, r := range n {
		switch {
		case isCJK(r):
			flushWord(i)
			if tk.stopChars[r] {
				flushCJK()
				continue
			}
			pos, end = append(pos, i), i+utf8.RuneLen(r)
		case isLatin(r) || (r == '.' && word >= 0):
			flushCJK()
			if word < 0 {
				word = i
			}
		default:
			flushWord(i)
			flushCJK()
		}
	}
	flushWord(len(n))
	flushCJK()
	return out
}

// words returns the normalised Latin words and CJK runs of s in order, for
// phrase matching (no stemming, no stop words).
func words(s string) []string { return wordsOf(normalize(s)) }

// wordsOf is words of already normalised text.
func wordsOf(n string) []string {
	var out []string
	start := -1
	cjk := false
	for i, r := range n {
		c := isCJK(r)
		inWord := c || isLatin(r) || r == '.'
		if start >= 0 && (!inWord || c != cjk) {
			out = append(out, n[start:i])
			start = -1
		}
		if inWord && start < 0 {
			start, cjk = i, c
		}
	}
	if start >= 0 {
		out = append(out, n[start:])
	}
	return out
}

// stem removes a simple English plural ending: "bottles" → "bottle",
// "puppies" → "puppy", "classes" → "class". Words of three letters or fewer
// and words ending in "ss", "us", "is" are kept.
func stem(w string) string {
	if len(w) <= 3 || !strings.HasSuffix(w, "s") {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "xes"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
		return w
	}
	return w[:len(w)-1]
}

// defaultStopWords are English words too common to tell intents apart.
// Negations are not among them: "cant make it" is not "make it".
var defaultStopWords = strings.Fields(`a an the and or but if so of to in on at by for from with about
as into than then there here this that these those it its i me my mine we us our you your
he she him her his they them their is am are was were be been being do does did doing done
have has had having can could will would shall should may might must what which who whom whose
how when where why please pls plz hi hello hey thanks thank just also too very really any some
get got im ive id yes ok okay`)

// defaultStopChars are Chinese particles and pronouns that never carry an
// intent; they end a CJK run so no bigram straddles them.
var defaultStopChars = []rune("的了吗呢吧啊呀嘛哦喔哟哈呗么怎什我你您他她它们")
