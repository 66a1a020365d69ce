package chat

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/proto"
)

// searchAnswer asks svc/chat/search and decodes the answer.
func searchAnswer(t testing.TB, c *client, body string) proto.ChatSearchAnswer {
	t.Helper()
	a := ok(t, c.call(t, "search", "", body))
	var s proto.ChatSearchAnswer
	if err := json.Unmarshal([]byte(a.raw), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// hitTexts is the texts of the hits, in the order answered.
func hitTexts(s proto.ChatSearchAnswer) []string {
	out := make([]string, len(s.Hits))
	for i, h := range s.Hits {
		out[i] = h.Text
	}
	return out
}

// Staff find Chinese and English substrings (no word breaks needed, any
// case, full-width letters too), newest first, across conversations or in
// one; a staff role that sees its assigned conversations only finds
// nothing in others; customers and other devices may not search; a
// recalled message is not found.
func TestSearch(t *testing.T) {
	e := newEnv(t, Options{AssignedOnlyRoles: []string{"staff"}})
	admin := e.connect(t, owner, "")
	annaC := e.connect(t, anna, "")
	tab := e.connect(t, tablet, "")
	cust := e.customerLogin(t, "", "phone")
	custID := devOf(cust)

	ok(t, cust.call(t, "open", "", `{}`))
	sendText(t, cust, custID, "", "我家宝宝今天发烧了，体温38.5度")
	e.clock.Advance(time.Second)
	sendText(t, cust, custID, "", "Do you sell Royal Canin puppy food?")
	e.clock.Advance(time.Second)
	ok(t, admin.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, custID)))
	sendText(t, admin, custID, "", "Yes, ROYAL CANIN is on the second shelf")
	e.clock.Advance(time.Second)
	ok(t, annaC.call(t, "open", "", `{"conversation":"team-1","members":["staff-anna"]}`))
	sendText(t, annaC, "team-1", "", "发烧的宝宝要多喝水")
	e.clock.Advance(time.Second)
	oops := sendText(t, cust, custID, "", "宝宝发烧 wrong chat")
	ok(t, cust.call(t, "recall", "", fmt.Sprintf(`{"conversation":%q,"seq":%d}`, custID, oops.Seq)))

	// Chinese, a substring across word boundaries; newest first.
	s := searchAnswer(t, admin, `{"q":"宝宝"}`)
	if got := hitTexts(s); !slices.Equal(got, []string{"发烧的宝宝要多喝水", "我家宝宝今天发烧了，体温38.5度"}) || s.More || s.Stopped != "" {
		t.Fatalf("search 宝宝: %+v", s)
	}
	if h := s.Hits[1]; h.Conversation != custID || h.Seq != 1 || h.From != custID || h.Kind != KindText {
		t.Fatalf("hit: %+v", h)
	}
	if s := searchAnswer(t, admin, `{"q":"今天发"}`); len(s.Hits) != 1 || s.Hits[0].Seq != 1 {
		t.Fatalf("search 今天发: %+v", s)
	}
	// English in any case, full-width letters as ASCII.
	s = searchAnswer(t, admin, `{"q":"royal can"}`)
	if got := hitTexts(s); !slices.Equal(got, []string{"Yes, ROYAL CANIN is on the second shelf", "Do you sell Royal Canin puppy food?"}) {
		t.Fatalf("search royal can: %+v", s)
	}
	if s := searchAnswer(t, admin, `{"q":"ＰＵＰＰＹ"}`); len(s.Hits) != 1 || s.Hits[0].Seq != 2 {
		t.Fatalf("full-width search: %+v", s)
	}
	// In one conversation.
	if s := searchAnswer(t, admin, fmt.Sprintf(`{"q":"发烧","conversation":%q}`, custID)); len(s.Hits) != 1 || s.Hits[0].Conversation != custID || s.Scanned != 4 {
		t.Fatalf("search in %s: %+v", custID, s)
	}
	// The recalled message is not found.
	if s := searchAnswer(t, admin, `{"q":"wrong chat"}`); len(s.Hits) != 0 {
		t.Fatalf("recalled message found: %+v", s)
	}

	// Anna (assigned-only) reads her own conversations only.
	if got := hitTexts(searchAnswer(t, annaC, `{"q":"发烧"}`)); !slices.Equal(got, []string{"发烧的宝宝要多喝水"}) {
		t.Fatalf("anna's search: %v", got)
	}
	fails(t, annaC.call(t, "search", "", fmt.Sprintf(`{"q":"发烧","conversation":%q}`, custID)), "forbidden")

	// Customers and non-staff devices may not search.
	fails(t, cust.call(t, "search", "", `{"q":"发烧"}`), "forbidden")
	fails(t, cust.call(t, "search", "", fmt.Sprintf(`{"q":"发烧","conversation":%q}`, custID)), "forbidden")
	fails(t, tab.call(t, "search", "", `{"q":"发烧"}`), "forbidden")

	// Bad input.
	fails(t, admin.call(t, "search", "", `{"q":"  "}`), "bad_request")
	fails(t, admin.call(t, "search", "", fmt.Sprintf(`{"q":%q}`, strings.Repeat("x", DefaultMaxBodyBytes+1))), "too_large")
	fails(t, admin.call(t, "search", "", `{"q":"x","conversation":"no/such"}`), "bad_request")
	fails(t, admin.call(t, "search", "", `{"q":"x","conversation":"nosuch"}`), "not_found")
}

// A search stops at the configured number of hits, or when its time budget
// is spent, says so and how far back it read, and going on from there
// finds the rest, each once. It reads in read transactions of a few
// messages (3 here), which changes none of that.
func TestSearchBounded(t *testing.T) {
	old := searchBatch
	searchBatch = 3
	t.Cleanup(func() { searchBatch = old })
	for _, tc := range []struct {
		name    string
		o       Options
		stopped string
	}{
		{"results", Options{SearchResults: 2}, proto.SearchStoppedResults},
		{"time", Options{SearchBudget: time.Nanosecond}, proto.SearchStoppedTime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.o)
			staff := e.connect(t, anna, "")
			var want []string
			for i := range 3 {
				conv := fmt.Sprintf("c-%d", i)
				ok(t, staff.call(t, "open", "", fmt.Sprintf(`{"conversation":%q}`, conv)))
				for k := range 2 {
					e.clock.Advance(time.Minute)
					text := fmt.Sprintf("洗澡 bath %d-%d", i, k)
					sendText(t, staff, conv, "", text)
					want = append(want, text)
					e.clock.Advance(time.Minute)
					sendText(t, staff, conv, "", "other")
				}
			}
			slices.Reverse(want)
			first := searchAnswer(t, staff, `{"q":"BATH"}`)
			if !first.More || first.Stopped != tc.stopped || first.SearchedTo == nil || len(first.Hits) >= len(want) {
				t.Fatalf("first answer: %+v", first)
			}
			got := hitTexts(first)
			before := first.SearchedTo
			for range 20 {
				b, _ := json.Marshal(before)
				s := searchAnswer(t, staff, fmt.Sprintf(`{"q":"BATH","before":%s}`, b))
				got = append(got, hitTexts(s)...)
				if !s.More {
					break
				}
				if !s.SearchedTo.Before(*before) {
					t.Fatalf("searched_to did not move back: %v then %v", before, s.SearchedTo)
				}
				before = s.SearchedTo
			}
			if !slices.Equal(got, want) {
				t.Fatalf("hits over the pages:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// BenchmarkSearchYear measures search over a year of chats: 40
// conversations a day for 365 days, 10 messages each (146,000 sealed
// messages, Chinese and English). "rare" finds a phrase in one message of
// 5,000, so it reads them all (the budget here is long enough); "common"
// finds a word in most conversations and stops at the configured 50 hits.
// It reports the time per query, the messages read and the database's size.
func BenchmarkSearchYear(b *testing.B) {
	e := newEnv(b, Options{SearchBudget: time.Hour})
	n := fillYear(b, e, time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC), 365, 40, 10)
	staff := e.connect(b, owner, "")
	for _, q := range []struct{ name, q string }{{"rare", "芝士蛋糕 cheesecake"}, {"common", "宝宝"}} {
		b.Run(q.name, func(b *testing.B) {
			var s proto.ChatSearchAnswer
			for range b.N {
				s = searchAnswer(b, staff, fmt.Sprintf(`{"q":%q}`, q.q))
			}
			if q.name == "rare" && (s.Scanned != n || s.More || len(s.Hits) != n/5000) {
				b.Fatalf("scanned %d of %d messages (more %v), %d hits", s.Scanned, n, s.More, len(s.Hits))
			}
			b.ReportMetric(float64(s.Scanned), "read/op")
			b.ReportMetric(float64(len(s.Hits)), "hits/op")
			b.ReportMetric(float64(e.dbBytes(b))/(1<<20), "db-MiB")
		})
	}
}

// yearTexts are the messages fillYear files, in turn.
var yearTexts = []string{
	"你好，请问今天下午还能预约洗澡吗？",
	"Hi, can I book a bath for my poodle this afternoon?",
	"我家宝宝三个月了，奶粉要换段吗",
	"可以的，下午三点有空位，帮您约上了",
	"Does the shop sell Royal Canin puppy food?",
	"宝宝最近有点红疹，用什么护肤霜好",
	"The groomer will call you when she is ready.",
	"好的谢谢，我们大概两点半到",
	"Thank you! See you at 3.",
	"请问会员卡积分怎么用",
}

// fillYear files a year of chats straight into the database, as sends
// would store them (sealed bodies, one transaction a day), and returns the
// number of messages.
func fillYear(tb testing.TB, e *env, start time.Time, days, perDay, perConv int) int {
	tb.Helper()
	n := 0
	for d := range days {
		err := e.db.Update(tb.Context(), func(tx *bolt.Tx) error {
			w, err := allWrite(tx)
			if err != nil {
				return err
			}
			for c := range perDay {
				ts := start.AddDate(0, 0, d).Add(time.Duration(c) * 10 * time.Minute)
				cust := fmt.Sprintf("cust-%03d%03d", d, c)
				cv := &conv{V: 1, ID: cust, Kind: ConvDirect, Members: []string{cust, "staff-anna"}, Created: ts, By: cust}
				for k := range perConv {
					seq := uint64(k + 1)
					text := yearTexts[(d+c+k)%len(yearTexts)]
					if (n+k)%5000 == 4999 {
						text = "生日可以订芝士蛋糕 cheesecake 吗"
					}
					plain, _ := json.Marshal(body{Text: text})
					sealed, err := e.opts.Seal.Seal(plain, sealAD(cust, seq))
					if err != nil {
						return err
					}
					from := cust
					if k%2 == 1 {
						from = "staff-anna"
					}
					m := &msg{ID: fmt.Sprintf("m%d", k), From: from, Kind: KindText, TS: ts.Add(time.Duration(k) * time.Minute), Body: sealed}
					if err := putMsg(w.msgs, cust, seq, m); err != nil {
						return err
					}
				}
				n += perConv
				cv.LastSeq = uint64(perConv)
				for _, m := range cv.Members {
					if err := putRead(w.reads, m, cust, cv.LastSeq); err != nil {
						return err
					}
				}
				if err := e.chat.putConv(w.convs, cv); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return n
}

// dbBytes is the size of the rig's database file.
func (e *env) dbBytes(tb testing.TB) int64 {
	tb.Helper()
	fi, err := os.Stat(e.path)
	if err != nil {
		tb.Fatal(err)
	}
	return fi.Size()
}
