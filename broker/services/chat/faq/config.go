package faq

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/storeedge/storeedge/internal/strictyaml"
)

// Text is a piece of customer-facing text in both languages the stores use.
type Text struct {
	ZH string `yaml:"zh"`
	EN string `yaml:"en"`
}

// In returns the text in lang ("zh" or "en"), falling back to the other
// language when that one is empty.
func (t Text) In(lang string) string {
	if lang == LangEN {
		if t.EN != "" {
			return t.EN
		}
		return t.ZH
	}
	if t.ZH != "" {
		return t.ZH
	}
	return t.EN
}

// Languages an Assistant answers in.
const (
	LangZH = "zh"
	LangEN = "en"
)

// config is faq.yaml; configs/faq.yaml documents every key.
type config struct {
	Version      int                `yaml:"version"`
	DefaultLang  string             `yaml:"default_lang"`
	Match        matchConfig        `yaml:"match"`
	Handoff      phraseConfig       `yaml:"handoff"`
	Urgent       phraseConfig       `yaml:"urgent"`
	NoMatch      Text               `yaml:"no_match"`
	AskBack      Text               `yaml:"ask_back"`
	HealthNotice Text               `yaml:"health_notice"`
	Hours        hoursConfig        `yaml:"hours"`
	Intents      []intentConfig     `yaml:"intents"`
	QuickReplies []quickReplyConfig `yaml:"quick_replies"`
}

type matchConfig struct {
	Threshold       float64  `yaml:"threshold"`
	Margin          float64  `yaml:"margin"`
	HealthThreshold float64  `yaml:"health_threshold"`
	AskThreshold    float64  `yaml:"ask_threshold"`
	AskOwn          float64  `yaml:"ask_own"`
	TwoQuestions    bool     `yaml:"two_questions"`
	MaxMessageRunes int      `yaml:"max_message_runes"`
	StopWords       []string `yaml:"stop_words"`
}

// phraseConfig is a list of trigger phrases and the reply to them.
type phraseConfig struct {
	Phrases      []string `yaml:"phrases"`
	WholeMessage []string `yaml:"whole_message"`
	// Asking and People: a word of Asking followed closely by a word of
	// People ("找 你们 店员", "talk to the manager"); People and Present: a
	// word of People followed by one of Present ("店员 在吗").
	Asking  []string `yaml:"asking"`
	People  []string `yaml:"people"`
	Present []string `yaml:"present"`
	Reply   Text     `yaml:"reply"`
}

type intentConfig struct {
	ID       string   `yaml:"id"`
	Health   bool     `yaml:"health"`
	Keywords []string `yaml:"keywords"`
	Examples []string `yaml:"examples"`
	Question Text     `yaml:"question"`
	Not      []string `yaml:"not"`
	Answer   Text     `yaml:"answer"`
}

type quickReplyConfig struct {
	ID    string `yaml:"id"`
	Title string `yaml:"title"`
	Text  Text   `yaml:"text"`
}

// Defaults for keys left out of faq.yaml.
const (
	defaultThreshold       = 0.5
	defaultMargin          = 0.1
	defaultMaxMessageRunes = 500
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// decode reads faq.yaml strictly and fills in defaults.
func decode(b []byte) (config, error) {
	var c config
	if err := strictyaml.DecodeFile("faq.yaml", b, &c); err != nil {
		return config{}, err
	}
	if c.DefaultLang == "" {
		c.DefaultLang = LangZH
	}
	if c.Match.Threshold == 0 {
		c.Match.Threshold = defaultThreshold
	}
	if c.Match.HealthThreshold == 0 {
		c.Match.HealthThreshold = c.Match.Threshold
	}
	if c.Match.Margin == 0 {
		c.Match.Margin = defaultMargin
	}
	if c.Match.MaxMessageRunes == 0 {
		c.Match.MaxMessageRunes = defaultMaxMessageRunes
	}
	return c, nil
}

// validate reports every problem in c at once.
func (c *config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Version != 1 {
		bad("version: must be 1, got %d", c.Version)
	}
	if c.DefaultLang != LangZH && c.DefaultLang != LangEN {
		bad("default_lang: must be %q or %q, got %q", LangZH, LangEN, c.DefaultLang)
	}
	if c.Match.Threshold <= 0 || c.Match.Threshold > 1 {
		bad("match.threshold: must be in (0, 1], got %v", c.Match.Threshold)
	}
	if c.Match.HealthThreshold < c.Match.Threshold || c.Match.HealthThreshold > 1 {
		bad("match.health_threshold: must be in [threshold, 1], got %v", c.Match.HealthThreshold)
	}
	if c.Match.AskThreshold < 0 || c.Match.AskThreshold > c.Match.Threshold {
		bad("match.ask_threshold: must be in [0, threshold], got %v", c.Match.AskThreshold)
	}
	if c.Match.AskThreshold > 0 {
		needBoth("ask_back", c.AskBack, bad)
	}
	if c.Match.AskOwn < 0 || c.Match.AskOwn > 1 {
		bad("match.ask_own: must be in [0, 1], got %v", c.Match.AskOwn)
	}
	if c.Match.Margin < 0 || c.Match.Margin >= 1 {
		bad("match.margin: must be in [0, 1), got %v", c.Match.Margin)
	}
	if c.Match.MaxMessageRunes < 0 {
		bad("match.max_message_runes: must be positive, got %d", c.Match.MaxMessageRunes)
	}
	if len(c.Handoff.Phrases)+len(c.Handoff.WholeMessage) == 0 {
		bad("handoff: needs at least one phrase")
	}
	c.Handoff.check("handoff", bad)
	c.Urgent.check("urgent", bad)
	if len(c.Urgent.Phrases)+len(c.Urgent.WholeMessage) > 0 {
		needBoth("urgent.reply", c.Urgent.Reply, bad)
	}
	needBoth("handoff.reply", c.Handoff.Reply, bad)
	needBoth("no_match", c.NoMatch, bad)
	if len(c.Intents) == 0 {
		bad("intents: none defined")
	}
	ids := map[string]bool{}
	for i, in := range c.Intents {
		where := fmt.Sprintf("intents[%d]", i)
		if in.ID != "" {
			where += " (" + in.ID + ")"
		}
		if !idPattern.MatchString(in.ID) {
			bad("%s: id must be lower-case letters, digits, '_' or '-', got %q", where, in.ID)
		}
		if ids[in.ID] {
			bad("%s: duplicate id", where)
		}
		ids[in.ID] = true
		if len(in.Keywords)+len(in.Examples) == 0 {
			bad("%s: needs keywords or examples", where)
		}
		for _, k := range slices.Concat(in.Keywords, in.Examples, in.Not) {
			if len(words(k)) == 0 {
				bad("%s: empty keyword, example or not phrase %q", where, k)
			}
		}
		needBoth(where+".answer", in.Answer, bad)
		if in.Health {
			needBoth("health_notice (used by "+in.ID+")", c.HealthNotice, bad)
		}
	}
	qids := map[string]bool{}
	for i, q := range c.QuickReplies {
		where := fmt.Sprintf("quick_replies[%d]", i)
		if !idPattern.MatchString(q.ID) {
			bad("%s: id must be lower-case letters, digits, '_' or '-', got %q", where, q.ID)
		}
		if qids[q.ID] {
			bad("%s: duplicate id %q", where, q.ID)
		}
		qids[q.ID] = true
		if q.Text.ZH == "" && q.Text.EN == "" {
			bad("%s: text needs zh or en", where)
		}
	}
	return errors.Join(errs...)
}

func (p phraseConfig) check(where string, bad func(string, ...any)) {
	if (len(p.Asking)+len(p.Present) > 0) != (len(p.People) > 0) {
		bad("%s: people goes with asking or present", where)
	}
	for _, s := range slices.Concat(p.Phrases, p.WholeMessage, p.Asking, p.People, p.Present) {
		if len(words(s)) == 0 {
			bad("%s: phrase %q has no letters", where, s)
		}
	}
}

func needBoth(where string, t Text, bad func(string, ...any)) {
	if strings.TrimSpace(t.ZH) == "" {
		bad("%s.zh: is empty", where)
	}
	if strings.TrimSpace(t.EN) == "" {
		bad("%s.en: is empty", where)
	}
}
