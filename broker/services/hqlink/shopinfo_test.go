package hqlink_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	st "github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

func faqOf(t *testing.T, i proto.ShopInfo) string {
	t.Helper()
	var y string
	if err := json.Unmarshal(i.FAQ, &y); err != nil {
		t.Fatalf("shop info's faq %s: %v", i.FAQ, err)
	}
	return y
}

// HQ knows the shop: it is sent whole with every change of a member of
// staff (names and
// roles, never a password), a closure, the FAQ and the catalogue. When the
// catalogue and the FAQ change at the same moment, the last shop sent has
// both changes.
func TestShopInfo(t *testing.T) {
	h := startHQ(t)
	s := st.Start(t, st.Options{Devices: fleet, Config: h.config})
	boss := s.Connect(t, admin, "")

	// A new member of staff.
	st.OK(t, boss.Call(t, "accounts", "staff_add", `{"account":"staff-mei","name":"Mei","role":"staff","password":"pw-mei-long-enough"}`))
	i := waitUp(h, "shop/info", func(i proto.ShopInfo) bool {
		return slices.ContainsFunc(i.Staff, func(m proto.StaffMember) bool { return m.ID == "staff-mei" })
	})
	if m := i.Staff[slices.IndexFunc(i.Staff, func(m proto.StaffMember) bool { return m.ID == "staff-mei" })]; m.Name != "Mei" || m.Role != "staff" {
		t.Fatalf("the new member of staff: %+v", m)
	}
	for _, up := range h.up("shop/info") {
		if strings.Contains(string(up), "pw-mei") || strings.Contains(strings.ToLower(string(up)), "password") {
			t.Fatalf("a password went to HQ: %s", up)
		}
	}

	// A closure.
	day := s.Now().AddDate(0, 0, 20).Format("2006-01-02")
	st.OK(t, boss.Call(t, "booking", "closure_add", fmt.Sprintf(`{"date":%q,"reason":{"zh":"盘点","en":"Stocktaking"}}`, day)))
	waitUp(h, "shop/info", func(i proto.ShopInfo) bool {
		return slices.Contains(i.Closures, proto.DateSpan{Date: day, Name: "Stocktaking"})
	})

	// The catalogue and the FAQ at the same moment, by two admins.
	cat := getCatalog(t, boss)
	faq := getFAQ(t, boss)
	newCat := cat.Catalog
	newCat.Services = slices.Clone(newCat.Services)
	newCat.Services[0].Price += 100
	newFAQ := strings.Replace(faq.YAML, "intents:", "# edited\nintents:", 1)
	catReq, _ := json.Marshal(map[string]any{"version": cat.Version, "catalog": newCat})
	faqReq, _ := json.Marshal(map[string]any{"version": faq.Version, "yaml": newFAQ})
	boss2 := s.Connect(t, admin, "second")
	var wg sync.WaitGroup
	var catAns, faqAns st.Answer
	wg.Add(2)
	go func() { defer wg.Done(); catAns = boss.Call(t, "booking", "catalog_set", string(catReq)) }()
	go func() { defer wg.Done(); faqAns = boss2.Call(t, "store", "faq_set", string(faqReq)) }()
	wg.Wait()
	st.OK(t, catAns)
	st.OK(t, faqAns)
	both := func(i proto.ShopInfo) bool { return i.Version == int64(cat.Version+1) && faqOf(t, i) == newFAQ }
	waitUp(h, "shop/info", both)
	ups := h.up("shop/info")
	var last proto.ShopInfo
	if err := json.Unmarshal(ups[len(ups)-1], &last); err != nil || !both(last) || last.Catalog.Services[0].Price != newCat.Services[0].Price {
		t.Fatalf("the last shop sent misses a change: %s", ups[len(ups)-1])
	}
}
