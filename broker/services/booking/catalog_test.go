package booking

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/hours"
)

// catShanghaiYAML is a small store in a zone without daylight saving:
// Mon–Thu 09–18, Fri 09–18 and 20–01 (past midnight), Sat 10–16, Sunday
// closed, 1–3 October closed. groomer-a works Monday mornings and Fridays
// and is the only one who takes large dogs.
const catShanghaiYAML = `
hours:
  time_zone: Asia/Shanghai
  weekly: {mon: ["09:00-18:00"], tue: ["09:00-18:00"], wed: ["09:00-18:00"], thu: ["09:00-18:00"],
    fri: ["09:00-18:00", "20:00-01:00"], sat: ["10:00-16:00"]}
  closed: [{date: "2026-10-01", until: "2026-10-03", name: National Day}]
slot_step: 30m
resources:
  - {id: table-1, kind: table, name: {zh: 一号台, en: Table 1}}
  - {id: table-2, kind: table, name: {zh: 二号台, en: Table 2}}
  - id: groomer-a
    kind: groomer
    skills: [large-dog]
    shifts: {weekly: {mon: ["09:00-13:00"], fri: ["09:00-18:00", "20:00-01:00"]}}
  - {id: groomer-b, kind: groomer}
  - {id: pool, kind: pool}
  - {id: coach, kind: swim-coach}
services:
  - {id: wash, name: {zh: 洗澡, en: Wash}, category: pet, duration: 1h, buffer: 30m, price: 8800, currency: CNY,
     needs: [{kind: table}], fits: {species: [dog], sizes: [small, medium]}}
  - {id: groom, name: {zh: 美容, en: Groom}, category: pet, duration: 1h, price: 16800, currency: CNY,
     needs: [{kind: table}, {kind: groomer}]}
  - {id: large, name: {zh: 大型犬, en: Large dog}, category: pet, duration: 2h, price: 32800, currency: CNY,
     needs: [{kind: table}, {kind: groomer, skill: large-dog}], fits: {species: [dog], sizes: [large]}}
  - {id: pair, name: {zh: 双台, en: Two tables}, category: pet, duration: 1h, price: 1, currency: CNY,
     needs: [{kind: table}, {kind: table}]}
  - {id: duo, name: {zh: 双人, en: Two groomers}, category: pet, duration: 1h, price: 1, currency: CNY,
     needs: [{kind: groomer}, {kind: groomer, skill: large-dog}]}
  - {id: nail, name: {zh: 修甲, en: Nails}, category: pet, duration: 30m, price: 3000, currency: CNY,
     needs: [{kind: table}]}
  - {id: swim, name: {zh: 游泳, en: Swim}, category: baby, duration: 40m, buffer: 20m, price: 12800, currency: CNY,
     needs: [{kind: pool}, {kind: swim-coach}], fits: {baby_age_months: [0, 12]}}
  - {id: advice, name: {zh: 咨询, en: Advice}, category: other, duration: 15m, price: 0, currency: CNY}
`

func catLoad(t testing.TB, y string, store *hours.Hours) *Catalog {
	t.Helper()
	c, err := LoadCatalog([]byte(y), store)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func catService(t testing.TB, c *Catalog, id string) *Service {
	t.Helper()
	s, ok := c.Service(id)
	if !ok {
		t.Fatalf("no service %s", id)
	}
	return s
}

// catShippedHours are the business hours of the shipped faq.yaml, which the
// shipped services.yaml relies on.
func catShippedHours(t testing.TB) *hours.Hours {
	t.Helper()
	a, err := faq.Load(configs.FAQ)
	if err != nil {
		t.Fatal(err)
	}
	return a.Hours()
}

func catShipped(t testing.TB) *Catalog {
	t.Helper()
	b, err := os.ReadFile("../../../configs/services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return catLoad(t, string(b), catShippedHours(t))
}

// The shipped file loads against the shipped hours, and every service in it
// can actually be booked in an ordinary week: a need nobody on shift meets
// would load but never offer a slot.
func TestCatalogShipped(t *testing.T) {
	c := catShipped(t)
	if c.Location().String() != "Asia/Shanghai" {
		t.Errorf("zone %v", c.Location())
	}
	if c.Step != 15*time.Minute || c.HorizonDays != 60 || c.SurveyAfter != time.Hour ||
		!slices.Equal(c.Reminders, []time.Duration{24 * time.Hour, 2 * time.Hour}) ||
		!slices.Equal(c.Stages, []string{"checked_in", "bathing", "drying", "styling", "ready"}) {
		t.Errorf("settings: step %v horizon %d survey %v reminders %v stages %v", c.Step, c.HorizonDays, c.SurveyAfter, c.Reminders, c.Stages)
	}
	for _, id := range []string{"dog-groom", "large-dog-groom", "cat-groom", "baby-swim", "baby-massage", "tasting"} {
		s := catService(t, c, id)
		if s.Currency != "CNY" || s.Name.ZH == "" || s.Name.EN == "" {
			t.Errorf("%s: %+v", id, s)
		}
		monday := Date(20260309)
		n := 0
		for i := range 7 {
			n += len(c.Slots(s, monday.AddDays(i), nil, time.Time{}, ""))
		}
		if n == 0 {
			t.Errorf("%s: no slot in the week of %s", id, monday)
		}
	}
	large := catService(t, c, "large-dog-groom")
	if !slices.Contains(large.Needs, Need{Kind: "groomer", Skill: "large-dog"}) {
		t.Errorf("large-dog-groom needs %v", large.Needs)
	}
	if err := large.FitsPet("dog", "small"); err == nil {
		t.Error("large-dog-groom takes a small dog")
	}
	if err := catService(t, c, "baby-swim").FitsBaby(40); err == nil {
		t.Error("baby-swim takes a 40-month-old")
	}
}

// Hours: the file's own section wins, else the store's hours; defaults fill
// what is left out; reminders come longest first.
func TestCatalogHoursAndDefaults(t *testing.T) {
	store := catShippedHours(t)
	c := catLoad(t, catShanghaiYAML, store)
	if c.Hours == store || !c.Hours.Open(time.Date(2026, 3, 6, 23, 0, 0, 0, c.Location())) {
		t.Error("the file's hours: section is not the one used")
	}
	noHours := catShanghaiYAML[strings.Index(catShanghaiYAML, "slot_step:"):]
	c = catLoad(t, noHours+"reminders: [30m, 48h, 2h]\n", store)
	if c.Hours != store {
		t.Error("without hours: the store's hours are not used")
	}
	if !slices.Equal(c.Reminders, []time.Duration{48 * time.Hour, 2 * time.Hour, 30 * time.Minute}) {
		t.Errorf("reminders %v, want longest first", c.Reminders)
	}
	if c.Step != 30*time.Minute || c.HorizonDays != 60 || c.SurveyAfter != time.Hour || len(c.Stages) != 5 {
		t.Errorf("defaults: %+v", c)
	}
	if c := catLoad(t, noHours+"reminders: []\n", store); len(c.Reminders) != 0 {
		t.Errorf("reminders: [] gives %v, want none", c.Reminders)
	}
	if _, ok := c.Service("nope"); ok {
		t.Error("unknown service found")
	}
	if s, ok := c.Service("swim"); !ok || s.Duration != 40*time.Minute || s.Buffer != 20*time.Minute ||
		!s.Fits.HasAge || s.Fits.MaxAgeMonths != 12 || len(s.Needs) != 2 {
		t.Errorf("swim: %+v", s)
	}
	if _, err := LoadCatalog([]byte(noHours), nil); err == nil || !strings.Contains(err.Error(), "hours: missing") {
		t.Errorf("no hours anywhere: %v", err)
	}
}

// Each broken file is rejected with an error naming the path at fault.
func TestCatalogErrors(t *testing.T) {
	good := catShanghaiYAML
	for _, c := range []struct {
		name, old, new string
		want           []string
	}{
		{"unknown key", "slot_step: 30m", "slot_stp: 30m", []string{"services.yaml line 7: slot_stp: unknown key (did you mean slot_step?)"}},
		{"unknown nested key", "needs: [{kind: table}], fits: {species", "needs: [{kind: table, skil: x}], fits: {species",
			[]string{"services.yaml line 20: services[0].needs[0].skil: unknown key (did you mean skill?)"}},
		{"unknown key in shifts", `shifts: {weekly: {mon:`, `shifts: {time_zone: UTC, weekly: {moon:`,
			[]string{"services.yaml line 14: resources[2].shifts.weekly.moon: unknown key (did you mean mon?)"}},
		{"wrong type", "price: 8800", "price: lots", []string{`services.yaml line 19: services[0].price: want a whole number, not "lots"`}},
		{"collection for a scalar", "kind: pool}", "kind: [pool]}", []string{"services.yaml line 16: resources[4].kind: want a single word or text, not a list"}},
		{"unknown kind in needs", "needs: [{kind: table}], fits: {species", "needs: [{kind: tabel}], fits: {species",
			[]string{`services[0] (wash).needs[0]: kind "tabel": no resource of that kind`}},
		{"skill nobody has", "skill: large-dog}]", "skill: giant-dog}]", []string{`services[2] (large).needs[1]: skill "giant-dog": no groomer resource has it`}},
		{"duplicate service id", "id: groom,", "id: wash,", []string{`services[1] (wash).id: duplicate id "wash"`}},
		{"duplicate resource id", "id: table-2", "id: table-1", []string{`resources[1] (table-1).id: duplicate id`}},
		{"bad id", "id: groom,", "id: groom!,", []string{`services[1] (groom!).id: "groom!": want`}},
		{"id starting with a dash", "id: table-2", "id: -table", []string{`resources[1] (-table).id`}},
		{"bad duration", "duration: 1h, buffer: 30m", "duration: 1hour, buffer: 30m", []string{`services[0] (wash).duration: "1hour": want a duration`}},
		{"duration in seconds", "duration: 1h, buffer: 30m", "duration: 90s, buffer: 30m", []string{`services[0] (wash).duration: "90s": not a whole number of minutes`}},
		{"zero duration", "duration: 1h, buffer: 30m", "duration: 0m, buffer: 30m", []string{"services[0] (wash).duration: 0s is not between"}},
		{"negative buffer", "buffer: 30m", "buffer: -5m", []string{"services[0] (wash).buffer"}},
		{"category", "category: other", "category: toys", []string{`services[7] (advice).category: "toys"`}},
		{"price", "price: 8800", "price: -1", []string{"services[0] (wash).price: -1 is negative"}},
		{"currency", "price: 8800, currency: CNY", "price: 8800, currency: rmb", []string{"services[0] (wash).currency"}},
		{"no name", "name: {zh: 洗澡, en: Wash}", "name: {zh: 洗澡}", []string{"services[0] (wash).name: needs both"}},
		{"pet fits on a baby service", "fits: {baby_age_months: [0, 12]}", "fits: {species: [dog]}", []string{"services[6] (swim).fits.species: only pet services"}},
		{"ages backwards", "baby_age_months: [0, 12]", "baby_age_months: [12, 0]", []string{"services[6] (swim).fits.baby_age_months: [12, 0]"}},
		{"step", "slot_step: 30m", "slot_step: 1m", []string{"slot_step: 1m0s is not between 5m0s and 2h0m0s"}},
		{"horizon", "slot_step: 30m", "slot_step: 30m\nhorizon_days: -3", []string{"horizon_days"}},
		{"reminder", "slot_step: 30m", "slot_step: 30m\nreminders: [2h, -1h, soon]", []string{"reminders[1]: -1h0m0s: must be positive", `reminders[2]: "soon"`}},
		{"survey", "slot_step: 30m", "slot_step: 30m\nsurvey_after: -1h", []string{"survey_after: must be positive"}},
		{"stages", "slot_step: 30m", "slot_step: 30m\nstages: [checked_in, ready, ready]", []string{`stages[2]: "ready" is listed twice`}},
		{"no stages", "slot_step: 30m", "slot_step: 30m\nstages: []", []string{"stages: empty"}},
		{"shift with a time zone", `shifts: {weekly: {mon:`, `shifts: {time_zone: UTC, weekly: {mon:`, []string{"resources[2].shifts.time_zone: not allowed"}},
		{"bad shift", `mon: ["09:00-13:00"]`, `mon: ["9-13"]`, []string{"resources[2].shifts.weekly.mon"}},
		{"store hours", "time_zone: Asia/Shanghai", "time_zone: Asia/Atlantis", []string{"hours.time_zone"}},
		{"resource kind", "kind: pool}", "kind: ''}", []string{`resources[4] (pool).kind: ""`, `services[6] (swim).needs[0]: kind "pool"`}},
		{"every problem at once", "price: 8800, currency: CNY", "price: -8800, currency: CNYX",
			[]string{"services[0] (wash).price", "services[0] (wash).currency"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.old) {
				t.Fatalf("test bug: %q not in the base config", c.old)
			}
			_, err := LoadCatalog([]byte(strings.Replace(good, c.old, c.new, 1)), nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "booking: services.yaml: ") && !strings.HasPrefix(err.Error(), "services.yaml line ") {
				t.Errorf("error %q does not say it is services.yaml's", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestCatalogNotYAML(t *testing.T) {
	for _, b := range []string{"[1, 2", "\x00\x01", "services: 3", "resources: [{id: [x]}]"} {
		if _, err := LoadCatalog([]byte(b), catShippedHours(t)); err == nil {
			t.Errorf("LoadCatalog(%q): no error", b)
		}
	}
	// An empty file is a catalog with nothing to book, on the store's hours.
	if c, err := LoadCatalog(nil, catShippedHours(t)); err != nil || len(c.Services) != 0 {
		t.Errorf("empty file: %v", err)
	}
}

// What a front desk checks before booking a pet or a baby in.
func TestCatalogFits(t *testing.T) {
	c := catLoad(t, catShanghaiYAML, nil)
	wash, groom, swim := catService(t, c, "wash"), catService(t, c, "groom"), catService(t, c, "swim")
	for _, f := range []struct {
		name          string
		s             *Service
		species, size string
		want          string // "" = fits
	}{
		{"small dog", wash, "dog", "small", ""},
		{"upper case", wash, "Dog", "MEDIUM", ""},
		{"cat at a dog wash", wash, "cat", "small", `wash is for dog, not "cat"`},
		{"large dog at a small-dog wash", wash, "dog", "large", `wash is for size small, medium, not "large"`},
		{"size not given", wash, "dog", "", "the pet's size is needed"},
		{"no constraint", groom, "rabbit", "", ""},
		{"baby service, pet question", swim, "dog", "small", ""},
	} {
		err := f.s.FitsPet(f.species, f.size)
		if (err == nil) != (f.want == "") || (err != nil && !strings.Contains(err.Error(), f.want)) {
			t.Errorf("%s: FitsPet = %v, want %q", f.name, err, f.want)
		}
	}
	for _, f := range []struct {
		s    *Service
		age  int
		want string
	}{
		{swim, 0, ""}, {swim, 12, ""}, {swim, 13, "swim is for babies of 0 to 12 months, not 13"},
		{swim, -1, "not -1"}, {groom, 40, ""},
	} {
		err := f.s.FitsBaby(f.age)
		if (err == nil) != (f.want == "") || (err != nil && !strings.Contains(err.Error(), f.want)) {
			t.Errorf("%s at %d months: FitsBaby = %v, want %q", f.s.ID, f.age, err, f.want)
		}
	}
}
