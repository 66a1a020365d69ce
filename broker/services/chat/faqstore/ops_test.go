package faqstore_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

var (
	admin = storetest.Device{ID: "owner", Role: "admin"}
	staff = storetest.Device{ID: "staff-anna", Role: "staff"}
)

type faqAns struct {
	YAML    string `json:"yaml"`
	Version uint64 `json:"version"`
	Saved   bool   `json:"saved"`
}

type tryAns struct {
	Kind, Intent, Text, Lang string
	AfterHours               string `json:"after_hours"`
}

const oldPromo = "Formula: 30 yuan off when you buy 2 tins of selected brands; members earn double points."
const newPromo = "December: every bath comes with a free nail trim."

// edited is the embedded FAQ with the promotions answer in English changed.
func edited(t *testing.T) string {
	t.Helper()
	y := string(configs.FAQ)
	if !strings.Contains(y, oldPromo) {
		t.Fatal("the embedded FAQ changed: update oldPromo")
	}
	return strings.Replace(y, oldPromo, newPromo, 1)
}

func TestFAQEditing(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{admin, staff}})
	a := s.Connect(t, admin, "")
	st := s.Connect(t, staff, "")

	var got faqAns
	storetest.OK(t, a.Call(t, "store", "faq_get", `{}`)).Decode(t, &got)
	if got.Version != 0 || got.Saved || got.YAML != string(configs.FAQ) {
		t.Fatalf("faq_get before any save: version %d saved %v, %d bytes", got.Version, got.Saved, len(got.YAML))
	}
	storetest.Fails(t, st.Call(t, "store", "faq_get", `{}`), "forbidden", "")

	// Try a question with the saved FAQ, then with an edit not saved.
	var tr tryAns
	storetest.OK(t, a.Call(t, "store", "faq_try", `{"text":"Any deals this week?"}`)).Decode(t, &tr)
	if tr.Kind != "answer" || tr.Intent != "promotions" || !strings.Contains(tr.Text, oldPromo) || tr.AfterHours == "" {
		t.Fatalf("faq_try with the saved FAQ: %+v (the store is closed at 08:00)", tr)
	}
	body, _ := json.Marshal(map[string]any{"text": "Any deals this week?", "yaml": edited(t)})
	storetest.OK(t, a.Call(t, "store", "faq_try", string(body))).Decode(t, &tr)
	if !strings.Contains(tr.Text, newPromo) {
		t.Fatalf("faq_try with the edit: %+v", tr)
	}
	storetest.OK(t, a.Call(t, "store", "faq_get", `{}`)).Decode(t, &got)
	if got.Version != 0 {
		t.Fatal("faq_try saved the FAQ")
	}
	if out := s.CounterCustomerAsks(t, st, "Any deals this week?"); !strings.Contains(out, oldPromo) {
		t.Fatalf("before the save a customer got %q", out)
	}

	// A broken edit is refused, naming the intent and the field; nothing
	// changes.
	broken := strings.Replace(edited(t), "  - id: membership_points", "  - id: promotions", 1)
	body, _ = json.Marshal(map[string]any{"yaml": broken, "version": 0})
	ans := storetest.Fails(t, a.Call(t, "store", "faq_set", string(body)), "bad_request", "")
	if msg := ans.Error.Message; !strings.Contains(msg, "intents[2] (promotions)") || !strings.Contains(msg, "duplicate id") {
		t.Fatalf("a broken FAQ: %q, want the intent and the field named", msg)
	}
	storetest.Fails(t, a.Call(t, "store", "faq_set", `{"yaml":"version: 1\n"}`), "bad_request", "")
	storetest.Fails(t, a.Call(t, "store", "faq_set", `{"yaml":"x"}`), "bad_request", "")
	storetest.Fails(t, st.Call(t, "store", "faq_set", string(mustJSON(t, map[string]any{"yaml": edited(t), "version": 0}))), "forbidden", "")
	storetest.OK(t, a.Call(t, "store", "faq_get", `{}`)).Decode(t, &got)
	if got.Version != 0 {
		t.Fatalf("refused saves changed the FAQ: version %d", got.Version)
	}

	// The save: applied at once to customers.
	save := string(mustJSON(t, map[string]any{"yaml": edited(t), "version": 0}))
	first := a.CallID(t, "store", "faq_set", "save-1", save)
	storetest.OK(t, first).Decode(t, &got)
	if got.Version != 1 || !got.Saved {
		t.Fatalf("faq_set: %s", first)
	}
	if out := s.CounterCustomerAsks(t, st, "Any deals this week?"); !strings.Contains(out, newPromo) {
		t.Fatalf("after the save a customer got %q", out)
	}
	// The same request again (a lost answer) gets the same answer; a
	// second admin editing version 0 gets conflict with the version now.
	if again := a.CallID(t, "store", "faq_set", "save-1", save); string(again.Raw) != string(first.Raw) {
		t.Fatalf("repeat of save-1: %s, want %s", again.Raw, first.Raw)
	}
	c := storetest.Fails(t, a.Call(t, "store", "faq_set", save), "conflict", "")
	if !strings.Contains(string(c.Raw), `"version":1`) {
		t.Fatalf("conflict %s, want details.version 1", c.Raw)
	}

	// The console's form: texts by id, changed in the saved FAQ (its
	// comments kept). An unknown id or an emptied text is refused naming
	// it.
	storetest.OK(t, a.Call(t, "store", "faq_get", `{}`)).Decode(t, &got)
	var promo string
	for _, in := range gotIntents(t, a) {
		if in.ID == "promotions" {
			promo = in.EN
		}
	}
	if !strings.Contains(promo, newPromo) {
		t.Fatalf("faq_get's intents: promotions en %q", promo)
	}
	const byForm = "Two baths for the price of one, this week only."
	storetest.OK(t, a.Call(t, "store", "faq_try", `{"text":"Any deals this week?","answers":{"promotions":{"zh":"本周洗澡买一送一。","en":"`+byForm+`"}}}`)).Decode(t, &tr)
	if tr.Text != byForm {
		t.Fatalf("faq_try with a form edit: %+v", tr)
	}
	e := storetest.Fails(t, a.Call(t, "store", "faq_set", `{"version":1,"answers":{"promotion":{"zh":"x","en":"y"}}}`), "bad_request", "")
	if !strings.Contains(e.Error.Message, "promotion") {
		t.Fatalf("unknown id: %q", e.Error.Message)
	}
	e = storetest.Fails(t, a.Call(t, "store", "faq_set", `{"version":1,"answers":{"promotions":{"zh":"本周洗澡买一送一。","en":"  "}}}`), "bad_request", "")
	if !strings.Contains(e.Error.Message, "intents[1] (promotions).answer.en") {
		t.Fatalf("an emptied answer: %q, want the intent and the field", e.Error.Message)
	}
	storetest.Fails(t, a.Call(t, "store", "faq_set", `{"version":1,"yaml":"x","answers":{"promotions":{"zh":"a","en":"b"}}}`), "bad_request", "")
	storetest.OK(t, a.Call(t, "store", "faq_set", `{"version":1,"answers":{"promotions":{"zh":"本周洗澡买一送一。","en":"`+byForm+`"}},"quick_replies":{"thanks":{"zh":"谢谢！","en":"Thank you!"}}}`)).Decode(t, &got)
	if got.Version != 2 || !strings.Contains(got.YAML, "STORE: EDIT") {
		t.Fatalf("form save: version %d (comments kept: %v)", got.Version, strings.Contains(got.YAML, "STORE: EDIT"))
	}
	if out := s.CounterCustomerAsks(t, st, "Any deals this week?"); !strings.Contains(out, byForm) {
		t.Fatalf("after the form save a customer got %q", out)
	}
	var qr struct {
		QuickReplies []struct{ ID, EN string } `json:"quick_replies"`
	}
	storetest.OK(t, st.Call(t, "chat", "quick_replies", `{}`)).Decode(t, &qr)
	if fmt.Sprint(qr.QuickReplies) == "" || !strings.Contains(fmt.Sprint(qr.QuickReplies), "Thank you!") {
		t.Fatalf("staff quick replies after the save: %v", qr.QuickReplies)
	}

	// Kept across a restart.
	s.Restart()
	a = s.Connect(t, admin, "")
	st = s.Connect(t, staff, "")
	storetest.OK(t, a.Call(t, "store", "faq_get", `{}`)).Decode(t, &got)
	if got.Version != 2 || !strings.Contains(got.YAML, byForm) {
		t.Fatalf("after a restart: version %d", got.Version)
	}
	if out := s.CounterCustomerAsks(t, st, "Any deals this week?"); !strings.Contains(out, byForm) {
		t.Fatalf("after a restart a customer got %q", out)
	}
}

func gotIntents(t *testing.T, a *storetest.Client) []struct{ ID, ZH, EN string } {
	t.Helper()
	var f struct {
		Intents []struct{ ID, ZH, EN string } `json:"intents"`
	}
	storetest.OK(t, a.Call(t, "store", "faq_get", `{}`)).Decode(t, &f)
	return f.Intents
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
