package faq

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

// The evaluation set: customer messages phrased the way customers write,
// each labelled with the outcome it must get (testdata/eval/README.md).
// tuning.jsonl is what the matcher and faq.yaml were tuned on;
// heldout.jsonl was written before any tuning and is only measured.
const (
	evalTuning  = "testdata/eval/tuning.jsonl"
	evalHeldOut = "testdata/eval/heldout.jsonl"
)

// Outcomes a message may be labelled with besides an intent id.
const (
	wantPerson = "person" // the customer asks for a person: a handoff
	wantStaff  = "staff"  // no automatic answer: staff reply (urgent replies count)
)

// Targets on the held-out part (issue 23).
const (
	targetCorrect      = 0.95
	targetPersonRecall = 0.98
)

// evalCase is one labelled message: Want is an intent id, "person" or
// "staff"; Also lists other intents whose answer is right too (a message
// asking two things).
type evalCase struct {
	Text string   `json:"text"`
	Want string   `json:"want"`
	Also []string `json:"also,omitempty"`
}

func loadEval(t testing.TB, path string) []evalCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []evalCase
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var c evalCase
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil || c.Text == "" || c.Want == "" {
			t.Fatalf("%s:%d: not a labelled message (%v): %s", path, line, err, sc.Text())
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// evalResult is what the assistant did with one evalCase.
type evalResult struct {
	evalCase
	Reply   Reply
	Correct bool
	Asked   bool // correct by asking back with the wanted intent among the buttons
	Wrong   bool // an automatic answer that is not the wanted one
}

// accepts reports whether an automatic answer with intent is right for c.
func (c evalCase) accepts(intent string) bool {
	return intent == c.Want || slices.Contains(c.Also, intent)
}

func judge(a *Assistant, c evalCase) evalResult {
	r := evalResult{evalCase: c, Reply: a.Answer(c.Text, "")}
	switch c.Want {
	case wantPerson:
		r.Correct = r.Reply.Kind == Handoff
	case wantStaff:
		r.Correct = r.Reply.Kind == NoMatch || (r.Reply.Kind == Handoff && r.Reply.Intent == IntentUrgent)
	default:
		switch r.Reply.Kind {
		case Answer:
			r.Correct = c.accepts(r.Reply.Intent)
		case Ask:
			r.Asked = slices.ContainsFunc(r.Reply.Choices, func(ch Choice) bool { return ch.Intent == c.Want })
			r.Correct = r.Asked
		}
	}
	r.Wrong = r.Reply.Kind == Answer && !c.accepts(r.Reply.Intent)
	return r
}

// evalFigures sums up the results of one part of the set.
type evalFigures struct {
	N, Correct, Asked, Wrong int
	Person, PersonFound      int
	WrongAs                  map[string]int // wrong automatic answers, by the intent answered
	WrongFor                 map[string]int // wrong automatic answers, by the intent wanted
	Labelled                 map[string]int // messages by wanted outcome
	Results                  []evalResult
}

func evaluate(a *Assistant, cases []evalCase) evalFigures {
	f := evalFigures{WrongAs: map[string]int{}, WrongFor: map[string]int{}, Labelled: map[string]int{}}
	for _, c := range cases {
		r := judge(a, c)
		f.Results = append(f.Results, r)
		f.N++
		f.Labelled[c.Want]++
		if r.Correct {
			f.Correct++
		}
		if r.Asked {
			f.Asked++
		}
		if c.Want == wantPerson {
			f.Person++
			if r.Correct {
				f.PersonFound++
			}
		}
		if r.Wrong {
			f.Wrong++
			f.WrongAs[r.Reply.Intent]++
			f.WrongFor[c.Want]++
		}
	}
	return f
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

func (f evalFigures) correctRate() float64  { return ratio(f.Correct, f.N) }
func (f evalFigures) wrongRate() float64    { return ratio(f.Wrong, f.N) }
func (f evalFigures) personRecall() float64 { return ratio(f.PersonFound, f.Person) }

// healthIntents are the intents faq.yaml marks health: true.
func (a *Assistant) healthIntents() map[string]bool {
	out := map[string]bool{}
	for _, in := range a.cfg.Intents {
		if in.Health {
			out[in.ID] = true
		}
	}
	return out
}

// A health question must never get another intent's automatic answer, in
// the whole set, held-out part included; and in the tuning part a health
// answer never goes to a message that did not ask for it (the held-out
// part's count of those is held by TestEvalHeldOut).
func TestEvalNoWrongHealthAnswer(t *testing.T) {
	a := shipped(t)
	health := a.healthIntents()
	for _, want := range []string{"crying_baby", "solid_food", "eczema_rash", "fever", "formula_stage"} {
		if !health[want] {
			t.Fatalf("faq.yaml: %s is not marked health", want)
		}
	}
	for _, path := range []string{evalTuning, evalHeldOut} {
		for _, r := range evaluate(a, loadEval(t, path)).Results {
			if r.Wrong && (health[r.Want] || (path == evalTuning && health[r.Reply.Intent])) {
				t.Errorf("%s: %q (want %s) got the automatic answer %s (confidence %.2f)",
					path, r.Text, r.Want, r.Reply.Intent, r.Reply.Confidence)
			}
		}
	}
}

// What the held-out part measured when the matcher was last changed
// (README, "The assistant's evaluation"): below the targets of issue 23
// (95 % correct, 98 % of requests for a person recognised), so these
// floors keep it from slipping further; raise them as it improves.
const (
	heldOutCorrectFloor     = 0.85
	heldOutPersonFloor      = 0.97
	heldOutWrongMax         = 3 // wrong automatic answers
	heldOutWrongHealthGiven = 1 // health answers to messages that did not ask for them
)

func TestEvalHeldOut(t *testing.T) {
	a := shipped(t)
	f := evaluate(a, loadEval(t, evalHeldOut))
	if f.N < 150 || f.N+len(loadEval(t, evalTuning)) < 400 {
		t.Fatalf("evaluation set too small: %d held out", f.N)
	}
	if f.correctRate() < heldOutCorrectFloor {
		t.Errorf("held out: %.1f %% correct, was %.0f %% (target %.0f %%)", 100*f.correctRate(), 100*heldOutCorrectFloor, 100*targetCorrect)
	}
	if f.personRecall() < heldOutPersonFloor {
		t.Errorf("held out: %.1f %% of requests for a person recognised, was %.0f %% (target %.0f %%)", 100*f.personRecall(), 100*heldOutPersonFloor, 100*targetPersonRecall)
	}
	if f.Wrong > heldOutWrongMax {
		t.Errorf("held out: %d wrong automatic answers, was %d", f.Wrong, heldOutWrongMax)
	}
	given := 0
	for id := range a.healthIntents() {
		given += f.WrongAs[id]
	}
	if given > heldOutWrongHealthGiven {
		t.Errorf("held out: %d health answers to messages that did not ask for them, was %d", given, heldOutWrongHealthGiven)
	}
	if f.correctRate() < targetCorrect || f.personRecall() < targetPersonRecall {
		t.Logf("held out below the targets: %.1f %% correct (target %.0f %%), %.1f %% person (target %.0f %%)",
			100*f.correctRate(), 100*targetCorrect, 100*f.personRecall(), 100*targetPersonRecall)
	}
	// The misses are not listed: the held-out part is measured, never read
	// while tuning (FAQ_EVAL=tuning lists the tuning part's).
}

// The tuning part holds the targets.
func TestEvalTuning(t *testing.T) {
	f := evaluate(shipped(t), loadEval(t, evalTuning))
	if f.correctRate() < targetCorrect || f.personRecall() < targetPersonRecall {
		t.Errorf("tuning: %.1f %% correct, %.1f %% person, targets %.0f %% and %.0f %%",
			100*f.correctRate(), 100*f.personRecall(), 100*targetCorrect, 100*targetPersonRecall)
	}
}

// The set's labels name outcomes the assistant has; no message is in both
// parts or is one of faq.yaml's examples.
func TestEvalLabels(t *testing.T) {
	a := shipped(t)
	ids := a.Intents()
	seen := map[string]string{}
	key := func(s string) string { return strings.Join(strings.Fields(normalize(s)), "") }
	examples := map[string]bool{}
	for _, in := range a.cfg.Intents {
		for _, e := range in.Examples {
			examples[key(e)] = true
		}
	}
	for _, path := range []string{evalTuning, evalHeldOut} {
		for _, c := range loadEval(t, path) {
			for _, w := range append([]string{c.Want}, c.Also...) {
				if w != wantPerson && w != wantStaff && !slices.Contains(ids, w) {
					t.Errorf("%s: %q: unknown label %q", path, c.Text, w)
				}
			}
			if examples[key(c.Text)] {
				t.Errorf("%s: %q is an example of faq.yaml", path, c.Text)
			}
			if p, dup := seen[c.Text]; dup {
				t.Errorf("%q is in %s and %s", c.Text, p, path)
			}
			seen[c.Text] = path
		}
	}
}

// BenchmarkAssistantEval prints the evaluation figures (make bench): held
// out beside tuning, then wrong automatic answers by intent.
func BenchmarkAssistantEval(b *testing.B) {
	a := shipped(b)
	tune := loadEval(b, evalTuning)
	if os.Getenv("FAQ_EVAL") == "tuning" {
		// While tuning: the tuning part only, with its misses; the
		// held-out part is not even read.
		t := evaluate(a, tune)
		writeEval(os.Stdout, a, evalFigures{}, t)
		for _, r := range t.Results {
			if !r.Correct {
				fmt.Printf("tuning miss: %-40q want %-28s got %v %s %.2f\n", r.Text, strings.Join(append([]string{r.Want}, r.Also...), "|"), r.Reply.Kind, r.Reply.Intent, r.Reply.Confidence)
			}
		}
		return
	}
	held := loadEval(b, evalHeldOut)
	var h, t evalFigures
	for b.Loop() {
		h, t = evaluate(a, held), evaluate(a, tune)
	}
	b.StopTimer()
	writeEval(os.Stdout, a, h, t)
	b.ReportMetric(100*h.correctRate(), "heldout_correct_%")
	b.ReportMetric(100*h.wrongRate(), "heldout_wrong_%")
	b.ReportMetric(100*h.personRecall(), "heldout_person_%")
	b.ReportMetric(float64(len(held)+len(tune))/b.Elapsed().Seconds()*float64(b.N), "msgs/s")
}

func writeEval(w io.Writer, a *Assistant, h, t evalFigures) {
	health := a.healthIntents()
	pct := func(n, d int) string { return fmt.Sprintf("%5.1f %% (%d/%d)", 100*ratio(n, d), n, d) }
	fmt.Fprintf(w, "%-34s %-22s %s\n", "", "held out", "tuning")
	fmt.Fprintf(w, "%-34s %-22s %s\n", "messages", fmt.Sprint(h.N), fmt.Sprint(t.N))
	fmt.Fprintf(w, "%-34s %-22s %s\n", "correct (target >= 95 %)", pct(h.Correct, h.N), pct(t.Correct, t.N))
	fmt.Fprintf(w, "%-34s %-22s %s\n", "  of them by asking back", fmt.Sprint(h.Asked), fmt.Sprint(t.Asked))
	fmt.Fprintf(w, "%-34s %-22s %s\n", "wrong automatic answers", pct(h.Wrong, h.N), pct(t.Wrong, t.N))
	hw, tw := 0, 0
	for id := range health {
		hw += h.WrongAs[id] + h.WrongFor[id]
		tw += t.WrongAs[id] + t.WrongFor[id]
	}
	fmt.Fprintf(w, "%-34s %-22d %d\n", "  touching health (target 0)", hw, tw)
	fmt.Fprintf(w, "%-34s %-22s %s\n", "person recognised (target >= 98 %)", pct(h.PersonFound, h.Person), pct(t.PersonFound, t.Person))
	fmt.Fprintf(w, "wrong automatic answers by intent: given as / asked for (held out | tuning)\n")
	for _, id := range a.Intents() {
		mark := ""
		if health[id] {
			mark = " (health)"
		}
		fmt.Fprintf(w, "  %-30s %2d / %-2d of %-3d | %2d / %-2d of %d\n", id+mark,
			h.WrongAs[id], h.WrongFor[id], h.Labelled[id], t.WrongAs[id], t.WrongFor[id], t.Labelled[id])
	}
	for _, id := range []string{wantPerson, wantStaff} {
		fmt.Fprintf(w, "  %-30s %2s / %-2d of %-3d | %2s / %-2d of %d\n", id, "-", h.WrongFor[id], h.Labelled[id], "-", t.WrongFor[id], t.Labelled[id])
	}
}
