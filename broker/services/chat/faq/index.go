package faq

import (
	"math"
	"sync"
	"unicode"
	"unicode/utf8"
)

// index scores a message against every intent.
//
// Each keyword and example question of an intent is a pattern: a set of
// tokens. A token's weight is IDF-like, 1 + ln(N/df) where N is the number of
// intents and df the number of intents using the token, so a token every
// intent shares ("baby", "宝宝") counts little and one only an intent uses
// ("sterilise", "消毒") counts much. A token no intent knows weighs as much
// as the rarest known one (a CJK bigram half that: about half of the bigrams
// of a sentence straddle two words), and an unknown number nothing.
//
// An intent's score is the harmonic mean of
//   - recall: the largest weighted share of one of its patterns found in the
//     message (is one phrase of the intent clearly there?), and
//   - coverage: the weighted share of the message explained by the intent's
//     whole vocabulary (is the message about this intent and nothing else?).
//
// Both are in [0, 1], and so is the score.
type index struct {
	tk          *tokenizer
	intents     int
	weight      map[string]float64
	unknown     float64   // weight of an unknown Latin word
	unknownCJK  float64   // weight of an unknown CJK token
	patIntent   []int     // pattern → intent
	patWeight   []float64 // pattern → sum of its token weights
	patPostings map[string][]int
	vocab       map[string][]int // token → intents using it
	scratch     sync.Pool        // *scores, reused between calls
}

// scores is the per-call working space of score.
type scores struct {
	overlap []float64 // by pattern
	cover   []float64 // by intent
	recall  []float64 // by intent
}

func newIndex(tk *tokenizer, intents []intentConfig) *index {
	ix := &index{
		tk:          tk,
		intents:     len(intents),
		weight:      map[string]float64{},
		patPostings: map[string][]int{},
		vocab:       map[string][]int{},
	}
	var pats [][]string
	for i, in := range intents {
		seen := map[string]bool{}
		for _, src := range [][]string{in.Keywords, in.Examples} {
			for _, s := range src {
				toks := tk.tokens(s)
				if len(toks) == 0 {
					continue
				}
				pats = append(pats, toks)
				ix.patIntent = append(ix.patIntent, i)
				for _, t := range toks {
					if !seen[t] {
						seen[t] = true
						ix.vocab[t] = append(ix.vocab[t], i)
					}
				}
			}
		}
	}
	n := float64(len(intents))
	for t, ins := range ix.vocab {
		ix.weight[t] = 1 + math.Log(n/float64(len(ins)))
	}
	ix.unknown = 1 + math.Log(n)
	ix.unknownCJK = ix.unknown / 2
	ix.patWeight = make([]float64, len(pats))
	for p, toks := range pats {
		for _, t := range toks {
			ix.patWeight[p] += ix.weight[t]
			ix.patPostings[t] = append(ix.patPostings[t], p)
		}
	}
	return ix
}

// emptyIntents returns the intents that have no usable token at all.
func (ix *index) emptyIntents() []int {
	has := make([]bool, ix.intents)
	for _, i := range ix.patIntent {
		has[i] = true
	}
	var out []int
	for i, ok := range has {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// tokenWeight is t's weight in a message.
func (ix *index) tokenWeight(t string) float64 {
	if w, ok := ix.weight[t]; ok {
		return w
	}
	r, _ := utf8.DecodeRuneInString(t)
	switch {
	case unicode.IsDigit(r):
		return 0
	case isCJK(r):
		return ix.unknownCJK
	}
	return ix.unknown
}

// score returns the best and second-best intents with their scores for the
// normalised message n; best is -1 when nothing in the message is known.
func (ix *index) score(n string) (best int, bestScore float64, second float64) {
	toks := ix.tk.tokensOf(n)
	sc, _ := ix.scratch.Get().(*scores)
	if sc == nil {
		sc = &scores{
			overlap: make([]float64, len(ix.patWeight)),
			cover:   make([]float64, ix.intents),
			recall:  make([]float64, ix.intents),
		}
	} else {
		clear(sc.overlap)
		clear(sc.cover)
		clear(sc.recall)
	}
	defer ix.scratch.Put(sc)
	overlap, cover, recall := sc.overlap, sc.cover, sc.recall
	total := 0.0
	for _, t := range toks {
		w := ix.tokenWeight(t)
		total += w
		for _, p := range ix.patPostings[t] {
			overlap[p] += w
		}
		for _, i := range ix.vocab[t] {
			cover[i] += w
		}
	}
	best = -1
	if total == 0 {
		return best, 0, 0
	}
	for p, o := range overlap {
		if o == 0 {
			continue
		}
		if r := o / ix.patWeight[p]; r > recall[ix.patIntent[p]] {
			recall[ix.patIntent[p]] = r
		}
	}
	for i := range cover {
		r, c := clamp01(recall[i]), clamp01(cover[i]/total)
		if r+c == 0 {
			continue
		}
		s := 2 * r * c / (r + c)
		switch {
		case s > bestScore:
			second, bestScore, best = bestScore, s, i
		case s > second:
			second = s
		}
	}
	return best, bestScore, second
}

func clamp01(x float64) float64 {
	switch {
	case x < 0 || math.IsNaN(x):
		return 0
	case x > 1:
		return 1
	}
	return x
}
