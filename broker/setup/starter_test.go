package setup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/services/booking"
	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/broker/setup"
	"github.com/storeedge/storeedge/configs"
)

// A Sunday night, when every starter's store is closed.
var closedAt = time.Date(2026, 12, 6, 23, 30, 0, 0, time.UTC)

// Every starter loads as the broker loads them (faq.Load, then
// booking.LoadCatalog on the FAQ's hours), in the zone and language the
// owner picked.
func TestStartersLoad(t *testing.T) {
	for _, kind := range []string{"pet", "baby", "both"} {
		for _, zone := range []string{"Asia/Shanghai", "Europe/London"} {
			svcs, faqYAML, err := setup.Starter(kind, zone, "en")
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			a, err := faq.Load(faqYAML)
			if err != nil {
				t.Fatalf("%s/faq.yaml: %v", kind, err)
			}
			if got := a.Hours().Location().String(); got != zone {
				t.Errorf("%s in %s: the FAQ's hours are in %s", kind, zone, got)
			}
			cat, err := booking.LoadCatalog(svcs, a.Hours())
			if err != nil {
				t.Fatalf("%s/services.yaml: %v", kind, err)
			}
			if len(cat.Services) == 0 {
				t.Errorf("%s: no services", kind)
			}
			for _, s := range cat.Services {
				switch {
				case kind == "pet" && s.Category == "baby", kind == "baby" && s.Category == "pet":
					t.Errorf("%s starter offers %s (%s)", kind, s.ID, s.Category)
				}
			}
			// A question asked in English gets an English answer; the
			// default language (when the message does not say) is the
			// owner's first.
			if r := a.Answer("What time do you open?", ""); r.Intent != "opening_hours" || r.Lang != "en" {
				t.Errorf("%s: opening hours question answered %+v", kind, r)
			}
		}
	}
	if _, _, err := setup.Starter("zoo", "UTC", "en"); err == nil {
		t.Error("a kind with no starter was accepted")
	}
}

// A pet shop never tells a customer to call 120 (the medical emergency
// number): not after hours, not for an emergency, not in any answer. A
// baby shop's health answers keep "see a doctor if …". The embedded demo
// (a shop with both) tells each what to do.
func TestStartersFitTheShop(t *testing.T) {
	_, petYAML, err := setup.Starter("pet", "Asia/Shanghai", "zh")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(petYAML), "120") {
		t.Error("the pet starter FAQ mentions 120")
	}
	pet, err := faq.Load(petYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"zh", "en"} {
		text, closed := pet.AfterHours(closedAt, lang)
		if !closed || strings.Contains(text, "120") || !(strings.Contains(text, "vet") || strings.Contains(text, "宠物医院")) {
			t.Errorf("pet after-hours reply (%s, closed %v): %q, want a vet and no 120", lang, closed, text)
		}
	}
	if r := pet.Answer("my dog ate chocolate", "en"); r.Intent != faq.IntentUrgent || strings.Contains(r.Text, "120") || !strings.Contains(r.Text, "vet") {
		t.Errorf("pet emergency: %+v", r)
	}

	_, babyYAML, err := setup.Starter("baby", "Asia/Shanghai", "zh")
	if err != nil {
		t.Fatal(err)
	}
	baby, err := faq.Load(babyYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"My baby has a fever", "Baby has a rash", "My baby won't stop crying"} {
		r := baby.Answer(q, "en")
		if r.Kind != faq.Answer || !strings.Contains(r.Text, "See a doctor") || !strings.Contains(r.Text, "not a diagnosis") {
			t.Errorf("baby shop, %q: %+v; want an answer with when to see a doctor and the health notice", q, r)
		}
	}
	if r := baby.Answer("my baby is not breathing", "en"); !strings.Contains(r.Text, "120") {
		t.Errorf("baby emergency: %q, want 120", r.Text)
	}
	if strings.Contains(string(babyYAML), "grooming_prep") {
		t.Error("the baby starter FAQ has the pet grooming intent")
	}

	demo, err := faq.Load(configs.FAQ)
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"zh", "en"} {
		text, _ := demo.AfterHours(closedAt, lang)
		if strings.Contains(text, "120") && !(strings.Contains(text, "vet") || strings.Contains(text, "宠物医院")) {
			t.Errorf("the embedded demo's after-hours reply (%s) sends a pet owner to 120: %q", lang, text)
		}
	}
	// The embedded default is the "both" starter.
	_, both, err := setup.Starter("both", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if d := strings.Replace(string(both), "# Starter for a shop with pet grooming and a mother-and-baby side.\n", "", 1); d != string(configs.FAQ) {
		t.Error("configs/faq.yaml is not the both starter's FAQ")
	}
	if s, _ := configs.Starters.ReadFile("starters/both/services.yaml"); strings.Replace(string(s), "# Starter for a shop with pet grooming and a mother-and-baby side.\n", "", 1) != string(configs.Services) {
		t.Error("configs/services.yaml is not the both starter's catalogue")
	}
}
