package faq

import (
	"cmp"
	"math"
	"slices"
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
	patOwn      []bool    // pattern → a keyword made only of tokens no other intent uses
	patHealth   []bool    // pattern → a health keyword mostly (by weight) of tokens no other health intent uses
	patPostings map[string][]int
	vocab       map[string][]int // token → intents using it
	scratch     sync.Pool        // *scores, reused between calls
}

// scores is the per-call working space of score.
type scores struct {
	overlap []float64 // by pattern
	cover   []float64 // by intent
	recall  []float64 // by intent
	own     []float64 // by intent
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
	var keyword []bool
	for i, in := range intents {
		seen := map[string]bool{}
		for k, src := range [][]string{in.Keywords, in.Examples} {
			for _, s := range src {
				toks := tk.tokens(s)
				if len(toks) == 0 {
					continue
				}
				pats = append(pats, toks)
				keyword = append(keyword, k == 0)
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
	ix.patOwn = make([]bool, len(pats))
	ix.patHealth = make([]bool, len(pats))
	for p, toks := range pats {
		ix.patOwn[p] = keyword[p]
		i, mine := ix.patIntent[p], 0.0
		for _, t := range toks {
			if len(ix.vocab[t]) > 1 {
				ix.patOwn[p] = false
			}
			if !slices.ContainsFunc(ix.vocab[t], func(j int) bool { return j != i && intents[j].Health }) {
				mine += ix.weight[t]
			}
		}
		sum := 0.0
		for _, t := range toks {
			sum += ix.weight[t]
		}
		ix.patHealth[p] = keyword[p] && intents[i].Health && 2*mine >= sum
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

// candidate is an intent's score for one message. Own is the weighted
// share of the message made of tokens only this intent uses; distinct is
// true when one of its keywords is all there and made only of such tokens:
// two intents that are both distinct are two questions in one. healthOwn:
// a keyword of this health intent is all there, and most of it is words
// no other health intent uses.
type candidate struct {
	intent    int
	score     float64
	own       float64
	distinct  bool
	healthOwn bool
}

// score returns the intents with a score for the normalised message n,
// best first (at most three), leaving out those skip says; none when
// nothing in the message is known.
func (ix *index) score(n string, skip func(intent int) bool) []candidate {
	toks := ix.tk.tokensOf(n)
	sc, _ := ix.scratch.Get().(*scores)
	if sc == nil {
		sc = &scores{
			overlap: make([]float64, len(ix.patWeight)),
			cover:   make([]float64, ix.intents),
			recall:  make([]float64, ix.intents),
			own:     make([]float64, ix.intents),
		}
	} else {
		clear(sc.overlap)
		clear(sc.cover)
		clear(sc.recall)
		clear(sc.own)
	}
	defer ix.scratch.Put(sc)
	overlap, cover, recall, own := sc.overlap, sc.cover, sc.recall, sc.own
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
		if v := ix.vocab[t]; len(v) == 1 {
			own[v[0]] += w
		}
	}
	if total == 0 {
		return nil
	}
	distinct := make([]bool, ix.intents)
	healthOwn := make([]bool, ix.intents)
	for p, o := range overlap {
		if o == 0 {
			continue
		}
		r := o / ix.patWeight[p]
		if r > recall[ix.patIntent[p]] {
			recall[ix.patIntent[p]] = r
		}
		if r >= 1-1e-9 {
			distinct[ix.patIntent[p]] = distinct[ix.patIntent[p]] || ix.patOwn[p]
			healthOwn[ix.patIntent[p]] = healthOwn[ix.patIntent[p]] || ix.patHealth[p]
		}
	}
	var out []candidate
	for i := range cover {
		r, c := clamp01(recall[i]), clamp01(cover[i]/total)
		if r+c == 0 || skip(i) {
			continue
		}
		out = append(out, candidate{intent: i, score: 2 * r * c / (r + c), own: own[i] / total, distinct: distinct[i], healthOwn: healthOwn[i]})
	}
	slices.SortStableFunc(out, func(a, b candidate) int { return cmp.Compare(b.score, a.score) })
	return out[:min(len(out), 3)]
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
