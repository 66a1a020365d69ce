package hqlink_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/configs"
	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

type catalogAnswer struct {
	Version uint64            `json:"version"`
	Catalog proto.ShopCatalog `json:"catalog"`
}

func getCatalog(t *testing.T, c *st.Client) catalogAnswer {
	t.Helper()
	var a catalogAnswer
	st.OK(t, c.Call(t, "booking", "catalog_get", `{}`)).Decode(t, &a)
	return a
}

func getFAQ(t *testing.T, c *st.Client) proto.StoreFAQ {
	t.Helper()
	var a proto.StoreFAQ
	st.OK(t, c.Call(t, "store", "faq_get", `{}`)).Decode(t, &a)
	return a
}

func push(t *testing.T, p proto.ConfigPush) []byte {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ackFor(id string) func(proto.ConfigAck) bool {
	return func(a proto.ConfigAck) bool { return a.ID == id }
}

// HQ pushes a new price list and FAQ: the store applies both at once with
// its own rules, answers ok on config/ack, files the new shop for HQ and
// writes the push in its activity log as HQ's. A push that breaks a rule
// is refused whole, with the code, the reason and every problem, and
// changes nothing — not even the half that was fine. The same push
// delivered again is answered the same; an older version is answered
// already_applied and changes nothing.
func TestConfigPush(t *testing.T) {
	h := startHQ(t)
	s := st.Start(t, st.Options{Devices: fleet, Config: h.config})
	boss := s.Connect(t, admin, "")
	cat0, faq0 := getCatalog(t, boss), getFAQ(t, boss)

	// A valid push: one service costs more, the FAQ gains a line.
	cat := cat0.Catalog
	cat.Services = slices.Clone(cat.Services)
	cat.Services[0].Price += 1000
	newFAQ := strings.Replace(string(configs.FAQ), "intents:", "# pushed by HQ\nintents:", 1)
	if newFAQ == string(configs.FAQ) {
		t.Fatal("the FAQ has no intents: line to mark")
	}
	faqJSON, _ := json.Marshal(newFAQ)
	p1 := proto.ConfigPush{V: 1, ID: "cp-1", Version: 1, Catalog: &cat, FAQ: faqJSON, By: "ops-li"}
	h.send("config/push", "m-1", push(t, p1))
	a1 := waitUp(h, "config/ack", ackFor("cp-1"))
	if !a1.OK || a1.V != 1 || a1.Version != 1 || a1.Code != "" || a1.TS.IsZero() {
		t.Fatalf("ack of a valid push: %+v", a1)
	}
	cat1, faq1 := getCatalog(t, boss), getFAQ(t, boss)
	if cat1.Version != cat0.Version+1 || cat1.Catalog.Services[0].Price != cat0.Catalog.Services[0].Price+1000 {
		t.Fatalf("catalogue after the push: version %d (was %d), price %d", cat1.Version, cat0.Version, cat1.Catalog.Services[0].Price)
	}
	if faq1.YAML != newFAQ || faq1.Version != faq0.Version+1 {
		t.Fatalf("FAQ after the push: version %d (was %d)", faq1.Version, faq0.Version)
	}
	info := waitUp(h, "shop/info", func(i proto.ShopInfo) bool { return i.Version == int64(cat1.Version) })
	var infoFAQ string
	if err := json.Unmarshal(info.FAQ, &infoFAQ); err != nil || infoFAQ != newFAQ ||
		info.Catalog.Services[0].Price != cat1.Catalog.Services[0].Price || info.TimeZone == "" || info.Catalog.TimeZone != info.TimeZone {
		t.Fatalf("shop info after the push: %+v", info)
	}
	// The activity log is written once the push is durable (as every
	// admin change's): it may come a moment after the answer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var page proto.AuditPage
		st.OK(t, boss.Call(t, "admin", "audit.list", `{}`)).Decode(t, &page)
		if len(page.Entries) > 0 && page.Entries[0].Actor == "hq:ops-li" && page.Entries[0].Action == "hq.config_push" &&
			strings.Contains(string(page.Entries[0].After), fmt.Sprint(cat1.Catalog.Services[0].Price)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("activity log after the push: %+v", page.Entries)
		}
	}

	// An invalid push: a good price change, but a service needing a kind
	// of resource the store does not have. Refused whole.
	bad := cat1.Catalog
	bad.Services = slices.Clone(bad.Services)
	bad.Services[0].Price += 500
	bad.Services[1].Needs = []proto.Need{{Kind: "spaceship"}}
	h.send("config/push", "m-2", push(t, proto.ConfigPush{V: 1, ID: "cp-2", Version: 2, Catalog: &bad, By: "ops-li"}))
	a2 := waitUp(h, "config/ack", ackFor("cp-2"))
	if a2.OK || a2.Code != "bad_request" || a2.Reason != proto.ReasonInvalid || len(a2.Errors) == 0 || !strings.Contains(strings.Join(a2.Errors, "; "), "spaceship") {
		t.Fatalf("ack of an invalid push: %+v", a2)
	}
	// A valid catalogue with an FAQ that is not one: refused whole too.
	h.send("config/push", "m-3", push(t, proto.ConfigPush{V: 1, ID: "cp-3", Version: 3, Catalog: &bad, FAQ: json.RawMessage(`"intents: [1, 2"`), By: "ops-li"}))
	if a := waitUp(h, "config/ack", ackFor("cp-3")); a.OK || a.Code != "bad_request" || len(a.Errors) == 0 {
		t.Fatalf("ack of a push with a bad FAQ: %+v", a)
	}
	good := cat1.Catalog
	good.Services = slices.Clone(good.Services)
	good.Services[0].Price += 700
	h.send("config/push", "m-4", push(t, proto.ConfigPush{V: 1, ID: "cp-4", Version: 4, Catalog: &good, FAQ: json.RawMessage(`"intents: [1, 2"`), By: "ops-li"}))
	if a := waitUp(h, "config/ack", ackFor("cp-4")); a.OK || a.Reason != proto.ReasonInvalid || !strings.HasPrefix(a.Errors[0], "faq: ") {
		t.Fatalf("ack of a good catalogue with a bad FAQ: %+v", a)
	}
	if c, f := getCatalog(t, boss), getFAQ(t, boss); c.Version != cat1.Version || c.Catalog.Services[0].Price != cat1.Catalog.Services[0].Price || f.Version != faq1.Version {
		t.Fatalf("refused pushes changed the store: catalogue version %d price %d, FAQ version %d", c.Version, c.Catalog.Services[0].Price, f.Version)
	}

	// cp-1 again (HQ sent it again after an outage: a new MQTT message):
	// the same answer, nothing changes.
	n := len(h.up("config/ack"))
	h.send("config/push", "m-5", push(t, p1))
	waitUp(h, "config/ack", func(a proto.ConfigAck) bool { return len(h.up("config/ack")) > n })
	again := h.up("config/ack")[n]
	var a5 proto.ConfigAck
	if err := json.Unmarshal(again, &a5); err != nil || a5.ID != "cp-1" || !a5.OK || !a5.TS.Equal(a1.TS) {
		t.Fatalf("cp-1 again: %s, first %+v", again, a1)
	}
	// A new push with an old version: already applied.
	h.send("config/push", "m-6", push(t, proto.ConfigPush{V: 1, ID: "cp-6", Version: 1, Catalog: &good, By: "ops-li"}))
	if a := waitUp(h, "config/ack", ackFor("cp-6")); !a.OK || a.Code != proto.ConfigAlreadyApplied {
		t.Fatalf("ack of an old version: %+v", a)
	}
	if c, f := getCatalog(t, boss), getFAQ(t, boss); c.Version != cat1.Version || f.Version != faq1.Version {
		t.Fatalf("replays changed the store: catalogue version %d, FAQ version %d", c.Version, f.Version)
	}
}
