package faq

import (
	"strings"
	"testing"
)

func TestLoadShipped(t *testing.T) {
	a := shipped(t)
	if a.cfg.Match.Threshold != 0.5 || a.cfg.Match.Margin != 0.1 || a.cfg.Match.MaxMessageRunes != 500 {
		t.Errorf("match settings %+v", a.cfg.Match)
	}
	if a.Hours().Location().String() != "Asia/Shanghai" {
		t.Errorf("time zone %s", a.Hours().Location())
	}
}

func TestLoadDefaults(t *testing.T) {
	a := mustLoad(t, withHours(shanghaiHours))
	if a.cfg.Match.Threshold != defaultThreshold || a.cfg.Match.Margin != defaultMargin ||
		a.cfg.Match.MaxMessageRunes != defaultMaxMessageRunes || a.cfg.DefaultLang != LangZH {
		t.Errorf("defaults not applied: %+v lang %q", a.cfg.Match, a.cfg.DefaultLang)
	}
	if r := a.Answer("营业时间", ""); r.Kind != Answer || r.Text != "九点" {
		t.Errorf("minimal config: %+v", r)
	}
}

// Each broken file is rejected with an error naming the key at fault.
func TestLoadErrors(t *testing.T) {
	good := string(withHours(shanghaiHours))
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"unknown key", "version: 1", "version: 1\nthreshold: 0.4", "faq.yaml line 3: threshold: unknown key"},
		{"misspelt nested key", "keywords: [营业时间", "keyword: [营业时间", "faq.yaml line 20: intents[0].keyword: unknown key (did you mean keywords?)"},
		{"version", "version: 1", "version: 2", "version: must be 1"},
		{"threshold", "version: 1", "version: 1\nmatch: {threshold: 1.5}", "match.threshold"},
		{"margin", "version: 1", "version: 1\nmatch: {margin: -0.1}", "match.margin"},
		{"default language", "version: 1", "version: 1\ndefault_lang: fr", "default_lang"},
		{"missing answer", "answer: {zh: 九点, en: Nine}", "answer: {zh: 九点}", "intents[0] (opening_hours).answer.en: is empty"},
		{"bad id", "id: opening_hours", "id: Opening Hours", "id must be lower-case"},
		{"no keywords", "keywords: [营业时间, opening hours]", "keywords: []", "needs keywords or examples"},
		{"only stop words", "keywords: [营业时间, opening hours]", "keywords: [the, what]", "all stop words"},
		{"no handoff", "phrases: [转人工, talk to a person]\n  whole_message: [人工, human]", "phrases: []", "handoff: needs at least one phrase"},
		{"time zone", "Asia/Shanghai", "Asia/Atlantis", "hours.time_zone"},
		{"interval", `mon: ["09:00-21:00"]`, `mon: ["9-21"]`, "hours.weekly.mon"},
		{"same open and close", `mon: ["09:00-21:00"]`, `mon: ["09:00-09:00"]`, "same time"},
		{"overlap", `mon: ["09:00-21:00"]`, `mon: ["09:00-21:00", "20:00-22:00"]`, "overlap"},
		{"past midnight into the next day", `sat: ["10:00-12:00"`, `sat: ["01:00-12:00"`, "hours.weekly.fri: 09:00-… runs into"},
		{"closed date", `date: "2026-10-01"`, `date: "2026-13-01"`, "hours.closed[0]"},
		{"closed backwards", `until: "2026-10-03"`, `until: "2026-09-03"`, "before"},
		{"after hours template", "{when}回复", "回复", "{when}"},
		{"stop word", "version: 1", "version: 1\nmatch: {stop_words: [两个 词]}", "match.stop_words"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.old) {
				t.Fatalf("test bug: %q not in the base config", c.old)
			}
			_, err := Load([]byte(strings.Replace(good, c.old, c.new, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "faq: ") && !strings.HasPrefix(err.Error(), "faq.yaml line ") {
				t.Errorf("error %q does not say it is faq.yaml's", err)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	bad := strings.Replace(string(withHours(shanghaiHours)), "version: 1", "version: 3\ndefault_lang: de", 1)
	_, err := Load([]byte(bad))
	if err == nil || !strings.Contains(err.Error(), "version") || !strings.Contains(err.Error(), "default_lang") {
		t.Fatalf("got %v, want both problems reported", err)
	}
}

func TestLoadNotYAML(t *testing.T) {
	for _, b := range []string{"", "[1, 2", "\x00\x01", "version: [1]"} {
		if _, err := Load([]byte(b)); err == nil {
			t.Errorf("Load(%q): no error", b)
		}
	}
}
