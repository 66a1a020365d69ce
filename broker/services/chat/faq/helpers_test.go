package faq

import (
	"os"
	"strings"
	"testing"
)

// shipped loads the shipped configs/faq.yaml.
func shipped(t testing.TB) *Assistant {
	t.Helper()
	b, err := os.ReadFile("../../../../configs/faq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Load(b)
	if err != nil {
		t.Fatalf("configs/faq.yaml: %v", err)
	}
	return a
}

// minimal is the smallest valid faq.yaml; hoursYAML replaces its hours.
const minimal = `
version: 1
handoff:
  phrases: [转人工, talk to a person]
  whole_message: [人工, human]
  reply: {zh: 好的, en: OK}
no_match: {zh: 稍等, en: Wait}
health_notice: {zh: 看医生, en: See a doctor}
hours:
HOURS
intents:
  - id: opening_hours
    keywords: [营业时间, opening hours]
    answer: {zh: 九点, en: Nine}
`

const shanghaiHours = `
  time_zone: Asia/Shanghai
  weekly: {mon: ["09:00-21:00"], tue: ["09:00-21:00"], wed: ["09:00-21:00"], thu: ["09:00-21:00"],
    fri: ["09:00-02:00"], sat: ["10:00-12:00", "14:00-02:00"]}
  closed:
    - {date: "2026-10-01", until: "2026-10-03", name: National Day}
  after_hours: {zh: "店员将于{when}回复", en: "Staff are back {when}."}
  reopen_unknown: {zh: 暂停营业, en: Closed for now}
`

func withHours(hours string) []byte {
	return []byte(strings.Replace(minimal, "HOURS", strings.TrimPrefix(hours, "\n"), 1))
}

func mustLoad(t testing.TB, yaml []byte) *Assistant {
	t.Helper()
	a, err := Load(yaml)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
