package booking

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/storeedge/storeedge/internal/hours"
	"github.com/storeedge/storeedge/internal/strictyaml"
)

// Catalog is what the store offers and with what: services.yaml
// (configs/services.yaml documents every key). It is immutable after
// LoadCatalog and safe for concurrent use.
type Catalog struct {
	// Hours are the store's opening hours: bookings lie within them.
	Hours *hours.Hours
	// Step is the grid of offered start times, counted from the open time
	// of each opening interval (default 15m).
	Step time.Duration
	// HorizonDays is how many days ahead customers may book (default 60).
	HorizonDays int
	// Reminders are sent this long before a booking's start, longest first
	// (default 24h, 2h).
	Reminders []time.Duration
	// SurveyAfter is how long after completion the survey is sent
	// (default 1h).
	SurveyAfter time.Duration
	// Stages are the progress stages of a visit, in order (default
	// checked_in, bathing, drying, styling, ready).
	Stages []string
	// Resources are the rooms, tables, pools and staff, in config order:
	// Place prefers earlier ones.
	Resources []*Resource
	// Services are the bookable services, in config order.
	Services []*Service

	byID map[string]*Service
}

// Text is a customer-facing text in the two languages the stores use.
type Text struct {
	ZH string `yaml:"zh" json:"zh"`
	EN string `yaml:"en" json:"en"`
}

// Resource is one unit a service occupies while it runs: a grooming table,
// a room, the pool, a member of staff.
type Resource struct {
	ID   string
	Kind string
	Name Text
	// Skills are what a staff member may do beyond the kind ("large-dog").
	Skills []string
	// Shifts are when the resource is available, in the store's zone; nil
	// means whenever the store is open.
	Shifts *hours.Hours
}

// Service is a bookable service.
type Service struct {
	ID       string
	Name     Text
	Category string // pet, baby or other
	// Duration is how long the customer is served; Buffer follows it on
	// the same resources (cleaning, drying the pool deck) and is not
	// offered to the customer.
	Duration, Buffer time.Duration
	// Price is in minor units of Currency (fen for CNY).
	Price    int64
	Currency string
	// Needs are the resources one booking holds, one resource per need.
	Needs []Need
	// Fits says whom the service is for.
	Fits Fits
}

// Need asks for one resource of Kind that has Skill (when set).
type Need struct{ Kind, Skill string }

// Fits says which pets or babies a service takes. Empty Species or Sizes
// take any; without HasAge any age is taken.
type Fits struct {
	Species, Sizes             []string
	MinAgeMonths, MaxAgeMonths int
	HasAge                     bool
}

// Service categories.
const (
	catPet   = "pet"
	catBaby  = "baby"
	catOther = "other"
)

// Defaults and limits of services.yaml.
const (
	catDefaultStep        = 15 * time.Minute
	catDefaultHorizonDays = 60
	catDefaultSurveyAfter = time.Hour
	catMinStep            = 5 * time.Minute
	catMaxStep            = 2 * time.Hour
	catMaxHorizonDays     = 366
	catMaxDuration        = 24 * time.Hour
)

var (
	catDefaultReminders = []time.Duration{24 * time.Hour, 2 * time.Hour}
	catDefaultStages    = []string{"checked_in", "bathing", "drying", "styling", "ready"}
	catIDPattern        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	catCurrencyPattern  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// catalogConfig is services.yaml. Durations are strings parsed here, not by
// the YAML decoder, so that a bad one is reported with its path.
type catalogConfig struct {
	Hours       *hours.Config     `yaml:"hours"`
	SlotStep    string            `yaml:"slot_step"`
	HorizonDays int               `yaml:"horizon_days"`
	Reminders   []string          `yaml:"reminders"`
	SurveyAfter string            `yaml:"survey_after"`
	Stages      []string          `yaml:"stages"`
	Resources   []catResourceConf `yaml:"resources"`
	Services    []catServiceConf  `yaml:"services"`
}

type catResourceConf struct {
	ID     string        `yaml:"id"`
	Kind   string        `yaml:"kind"`
	Name   Text          `yaml:"name"`
	Skills []string      `yaml:"skills"`
	Shifts *hours.Config `yaml:"shifts"`
}

type catServiceConf struct {
	ID       string        `yaml:"id"`
	Name     Text          `yaml:"name"`
	Category string        `yaml:"category"`
	Duration string        `yaml:"duration"`
	Buffer   string        `yaml:"buffer"`
	Price    int64         `yaml:"price"`
	Currency string        `yaml:"currency"`
	Needs    []catNeedConf `yaml:"needs"`
	Fits     catFitsConf   `yaml:"fits"`
}

type catNeedConf struct {
	Kind  string `yaml:"kind"`
	Skill string `yaml:"skill"`
}

type catFitsConf struct {
	Species       []string `yaml:"species"`
	Sizes         []string `yaml:"sizes"`
	BabyAgeMonths []int    `yaml:"baby_age_months"`
}

// LoadCatalog builds the catalog from services.yaml. Unknown keys are
// errors. storeHours (the business hours of faq.yaml) are used when the
// file has no hours: section, so the hours are edited in one place; with
// neither, LoadCatalog fails. Every problem is reported, each with its
// path in the file, in the one error.
func LoadCatalog(yaml []byte, storeHours *hours.Hours) (*Catalog, error) {
	var c catalogConfig
	if err := strictyaml.DecodeFile("services.yaml", yaml, &c); err != nil {
		return nil, err
	}
	cat, errs := buildCatalog(c, storeHours)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("booking: services.yaml: %w", err)
	}
	return cat, nil
}

// buildCatalog checks c and builds the catalog from it, with storeHours
// when c has no hours; every problem is in errs, each with its path.
func buildCatalog(c catalogConfig, storeHours *hours.Hours) (*Catalog, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cat := &Catalog{HorizonDays: c.HorizonDays, byID: map[string]*Service{}}

	switch {
	case c.Hours != nil:
		h, err := hours.New(*c.Hours, "hours")
		if err != nil {
			errs = append(errs, err)
		}
		cat.Hours = h
	case storeHours != nil:
		cat.Hours = storeHours
	default:
		bad("hours: missing, and there are no store hours to fall back on")
	}

	cat.Step = catDefaultStep
	if c.SlotStep != "" {
		if d, err := catDuration(c.SlotStep); err != nil {
			bad("slot_step: %w", err)
		} else if d < catMinStep || d > catMaxStep {
			bad("slot_step: %v is not between %v and %v", d, catMinStep, catMaxStep)
		} else {
			cat.Step = d
		}
	}
	if cat.HorizonDays == 0 {
		cat.HorizonDays = catDefaultHorizonDays
	} else if cat.HorizonDays < 1 || cat.HorizonDays > catMaxHorizonDays {
		bad("horizon_days: %d is not between 1 and %d", cat.HorizonDays, catMaxHorizonDays)
	}
	cat.Reminders = slices.Clone(catDefaultReminders)
	if c.Reminders != nil {
		// an explicit empty list turns reminders off
		cat.Reminders = []time.Duration{}
		for i, s := range c.Reminders {
			d, err := catDuration(s)
			switch {
			case err != nil:
				bad("reminders[%d]: %w", i, err)
			case d <= 0:
				bad("reminders[%d]: %v: must be positive (how long before the start)", i, d)
			case slices.Contains(cat.Reminders, d):
				bad("reminders[%d]: %v is listed twice", i, d)
			default:
				cat.Reminders = append(cat.Reminders, d)
			}
		}
		slices.SortFunc(cat.Reminders, func(a, b time.Duration) int { return cmp.Compare(b, a) })
	}
	cat.SurveyAfter = catDefaultSurveyAfter
	if c.SurveyAfter != "" {
		if d, err := catDuration(c.SurveyAfter); err != nil {
			bad("survey_after: %w", err)
		} else if d <= 0 {
			bad("survey_after: must be positive, got %v", d)
		} else {
			cat.SurveyAfter = d
		}
	}
	cat.Stages = slices.Clone(catDefaultStages)
	if c.Stages != nil {
		cat.Stages = c.Stages
		if len(c.Stages) == 0 {
			bad("stages: empty (leave the key out for the default)")
		}
		for i, s := range c.Stages {
			if !catIDPattern.MatchString(s) {
				bad("stages[%d]: %q: want 1-64 letters, digits, '_', '.' or '-'", i, s)
			}
			if slices.Index(c.Stages, s) < i {
				bad("stages[%d]: %q is listed twice", i, s)
			}
		}
	}

	loc := time.UTC // only so that shifts are still checked when the hours are broken
	if cat.Hours != nil {
		loc = cat.Hours.Location()
	}
	resIDs := map[string]bool{}
	for i, rc := range c.Resources {
		where := fmt.Sprintf("resources[%d]", i)
		if rc.ID != "" {
			where += " (" + rc.ID + ")"
		}
		r := &Resource{ID: rc.ID, Kind: rc.Kind, Name: rc.Name, Skills: rc.Skills}
		if !catIDPattern.MatchString(rc.ID) {
			bad("%s.id: %q: want 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", where, rc.ID)
		} else if resIDs[rc.ID] {
			bad("%s.id: duplicate id %q", where, rc.ID)
		}
		resIDs[rc.ID] = true
		if !catIDPattern.MatchString(rc.Kind) {
			bad("%s.kind: %q: want a word such as table, room or groomer", where, rc.Kind)
		}
		for j, s := range rc.Skills {
			if !catIDPattern.MatchString(s) {
				bad("%s.skills[%d]: %q: want a word such as large-dog", where, j, s)
			}
		}
		if rc.Shifts != nil {
			h, err := hours.NewIn(*rc.Shifts, loc, fmt.Sprintf("resources[%d].shifts", i))
			if err != nil {
				errs = append(errs, err)
			}
			r.Shifts = h
		}
		cat.Resources = append(cat.Resources, r)
	}

	for i, sc := range c.Services {
		where := fmt.Sprintf("services[%d]", i)
		if sc.ID != "" {
			where += " (" + sc.ID + ")"
		}
		s := &Service{ID: sc.ID, Name: sc.Name, Category: sc.Category, Price: sc.Price, Currency: sc.Currency}
		if !catIDPattern.MatchString(sc.ID) {
			bad("%s.id: %q: want 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", where, sc.ID)
		} else if cat.byID[sc.ID] != nil {
			bad("%s.id: duplicate id %q", where, sc.ID)
		} else {
			cat.byID[sc.ID] = s
		}
		if strings.TrimSpace(sc.Name.ZH) == "" || strings.TrimSpace(sc.Name.EN) == "" {
			bad("%s.name: needs both zh and en", where)
		}
		if sc.Category != catPet && sc.Category != catBaby && sc.Category != catOther {
			bad("%s.category: %q: want pet, baby or other", where, sc.Category)
		}
		if d, err := catDuration(sc.Duration); err != nil {
			bad("%s.duration: %w", where, err)
		} else if d <= 0 || d > catMaxDuration {
			bad("%s.duration: %v is not between 1m and %v", where, d, catMaxDuration)
		} else {
			s.Duration = d
		}
		if sc.Buffer != "" {
			if d, err := catDuration(sc.Buffer); err != nil {
				bad("%s.buffer: %w", where, err)
			} else if d < 0 || d > catMaxDuration {
				bad("%s.buffer: %v is not between 0 and %v", where, d, catMaxDuration)
			} else {
				s.Buffer = d
			}
		}
		if sc.Price < 0 {
			bad("%s.price: %d is negative", where, sc.Price)
		}
		if !catCurrencyPattern.MatchString(sc.Currency) {
			bad("%s.currency: %q: want an ISO 4217 code such as CNY", where, sc.Currency)
		}
		for j, n := range sc.Needs {
			s.Needs = append(s.Needs, Need(n))
			if err := cat.satisfiable(Need(n)); err != nil {
				bad("%s.needs[%d]: %w", where, j, err)
			}
		}
		s.Fits, errs = catFits(sc, where, errs)
		cat.Services = append(cat.Services, s)
	}

	return cat, errs
}

// satisfiable reports why no resource can ever meet n, or nil.
func (c *Catalog) satisfiable(n Need) error {
	kind := false
	for _, r := range c.Resources {
		if r.Kind != n.Kind {
			continue
		}
		kind = true
		if n.Skill == "" || slices.Contains(r.Skills, n.Skill) {
			return nil
		}
	}
	if !kind {
		return fmt.Errorf("kind %q: no resource of that kind", n.Kind)
	}
	return fmt.Errorf("skill %q: no %s resource has it", n.Skill, n.Kind)
}

// catFits checks and converts a service's fits: section; pet constraints
// only make sense on pet services and ages only on baby services.
func catFits(sc catServiceConf, where string, errs []error) (Fits, []error) {
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	f := Fits{Species: sc.Fits.Species, Sizes: sc.Fits.Sizes}
	for _, kl := range []struct {
		key  string
		list []string
	}{{"species", f.Species}, {"sizes", f.Sizes}} {
		key, list := kl.key, kl.list
		if len(list) > 0 && sc.Category != catPet {
			bad("%s.fits.%s: only pet services take pets", where, key)
		}
		for j, v := range list {
			if v == "" || strings.TrimSpace(strings.ToLower(v)) != v {
				bad("%s.fits.%s[%d]: %q: want a lower-case word", where, key, j, v)
			}
		}
	}
	if a := sc.Fits.BabyAgeMonths; a != nil {
		switch {
		case sc.Category != catBaby:
			bad("%s.fits.baby_age_months: only baby services take babies", where)
		case len(a) != 2:
			bad("%s.fits.baby_age_months: want [from, to] in months", where)
		case a[0] < 0 || a[1] < a[0]:
			bad("%s.fits.baby_age_months: [%d, %d] is not a range of months", where, a[0], a[1])
		default:
			f.MinAgeMonths, f.MaxAgeMonths, f.HasAge = a[0], a[1], true
		}
	}
	return f, errs
}

// catDuration parses a Go duration ("90m", "1h30m") that is a whole number
// of minutes: bookings, reminders and the grid are all kept to the minute.
func catDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 45m or 1h30m", s)
	}
	if d%time.Minute != 0 {
		return 0, fmt.Errorf("%q: not a whole number of minutes", s)
	}
	return d, nil
}

// Service returns the service with id.
func (c *Catalog) Service(id string) (*Service, bool) {
	if c.byID != nil {
		s, ok := c.byID[id]
		return s, ok
	}
	for _, s := range c.Services { // a Catalog built by hand
		if s.ID == id {
			return s, true
		}
	}
	return nil, false
}

// Location returns the store's time zone (UTC for a Catalog without hours,
// which LoadCatalog never returns).
func (c *Catalog) Location() *time.Location {
	if c.Hours == nil {
		return time.UTC
	}
	return c.Hours.Location()
}

// FitsPet returns nil when s takes a pet of species and size (or takes any
// pet), otherwise an error saying what it takes. Comparison ignores case.
func (s *Service) FitsPet(species, size string) error {
	if len(s.Fits.Species) > 0 && !catHas(s.Fits.Species, species) {
		return fmt.Errorf("%s is for %s, not %q", s.ID, strings.Join(s.Fits.Species, " or "), species)
	}
	if len(s.Fits.Sizes) > 0 && !catHas(s.Fits.Sizes, size) {
		if size == "" {
			return fmt.Errorf("%s is for size %s: the pet's size is needed", s.ID, strings.Join(s.Fits.Sizes, ", "))
		}
		return fmt.Errorf("%s is for size %s, not %q", s.ID, strings.Join(s.Fits.Sizes, ", "), size)
	}
	return nil
}

// FitsBaby returns nil when s takes a baby of ageMonths completed months
// (MinAgeMonths through MaxAgeMonths, both included) or has no age limit,
// otherwise an error saying which ages it takes.
func (s *Service) FitsBaby(ageMonths int) error {
	if !s.Fits.HasAge {
		return nil
	}
	if ageMonths < s.Fits.MinAgeMonths || ageMonths > s.Fits.MaxAgeMonths {
		return fmt.Errorf("%s is for babies of %d to %d months, not %d", s.ID, s.Fits.MinAgeMonths, s.Fits.MaxAgeMonths, ageMonths)
	}
	return nil
}

func catHas(list []string, v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v != "" && slices.Contains(list, v)
}
