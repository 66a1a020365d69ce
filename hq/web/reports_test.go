package web

import (
	"net/http"
	"testing"
	"time"

	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/proto"
)

// Closings and ratings a store files on chat/closing and chat/rating land
// in the replica (once, however often they come) and GET
// /api/v1/stores/{id}/reports adds them up by day in the store's zone
// (s-a: Shanghai) and by staff member.
func TestReportsReachTheReplicaAndTheAPI(t *testing.T) {
	f := newFixture(t, Options{})
	sh := time.FixedZone("CST", 8*3600)
	at := func(day, hm string) *time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", day+" "+hm, sh)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	closing := func(conv string, n uint64, staff string, opened, first, closed *time.Time) proto.ChatClosing {
		return proto.ChatClosing{V: 1, Conversation: conv, Closing: n, Customer: conv, Staff: staff, By: staff,
			Opened: opened, FirstResponse: first, Closed: *closed, Seq: n * 10}
	}
	// The 7th: Anna, 60 s and 180 s to respond, 10 and 20 min to resolve.
	c1 := closing("cust-1", 1, "staff-anna", at("2026-12-07", "10:00:00"), at("2026-12-07", "10:01:00"), at("2026-12-07", "10:10:00"))
	f.send(t, "s-a", proto.TopicChatClosing, c1)
	f.send(t, "s-a", proto.TopicChatClosing, closing("cust-2", 1, "staff-anna", at("2026-12-07", "11:00:00"), at("2026-12-07", "11:03:00"), at("2026-12-07", "11:20:00")))
	// The 8th just after midnight in Shanghai (the 7th in UTC): Bo, 30 s, 2 min.
	f.send(t, "s-a", proto.TopicChatClosing, closing("cust-1", 2, "staff-bo", at("2026-12-08", "00:05:00"), at("2026-12-08", "00:05:30"), at("2026-12-08", "00:07:00")))
	f.send(t, "s-a", proto.TopicChatRating, proto.ChatRating{V: 1, Conversation: "cust-1", Closing: 1, Staff: "staff-anna", Stars: 5, TS: *at("2026-12-07", "10:11:00"), Seq: 11})
	f.send(t, "s-a", proto.TopicChatRating, proto.ChatRating{V: 1, Conversation: "cust-1", Closing: 2, Staff: "staff-bo", Stars: 2, TS: *at("2026-12-08", "00:08:00"), Seq: 21})
	// A copy filed again (a store restored from a backup, say) changes nothing.
	c1.Staff = "staff-bo"
	f.send(t, "s-a", proto.TopicChatClosing, c1)
	f.send(t, "s-a", proto.TopicChatRating, proto.ChatRating{V: 1, Conversation: "cust-1", Closing: 1, Staff: "staff-anna", Stars: 1, TS: *at("2026-12-07", "10:12:00"), Seq: 12})

	var n int
	if err := f.r.Pool().QueryRow(t.Context(), `SELECT count(*) FROM chat_closings c JOIN chat_ratings r USING (store, conversation, closing) WHERE c.store = 's-a'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rated closings in the replica: %d %v", n, err)
	}

	rep := decode[replica.Reports](t, f.call(t, "GET", "/api/v1/stores/s-a/reports?from=2026-12-07&to=2026-12-08", f.key, ""))
	if rep.TimeZone != "Asia/Shanghai" || len(rep.ByDay) != 2 || len(rep.ByStaff) != 2 {
		t.Fatalf("reports: %+v", rep)
	}
	d7, d8 := rep.ByDay[0], rep.ByDay[1]
	if d7.Key != "2026-12-07" || d7.Handled != 2 || d7.FirstResponseAvgMs != 120_000 || d7.ResolutionAvgMs != 900_000 || d7.Ratings != 1 || d7.StarsAvg != 5 ||
		d8.Key != "2026-12-08" || d8.Handled != 1 || d8.FirstResponseAvgMs != 30_000 || d8.ResolutionAvgMs != 120_000 || d8.Stars != [5]int{0, 1, 0, 0, 0} {
		t.Errorf("by day: %+v", rep.ByDay)
	}
	if a, b := rep.ByStaff[0], rep.ByStaff[1]; a.Key != "staff-anna" || a.Handled != 2 || a.StarsAvg != 5 || b.Key != "staff-bo" || b.Handled != 1 || b.StarsAvg != 2 {
		t.Errorf("by staff: %+v", rep.ByStaff)
	}
	if rep.Total.Handled != 3 || rep.Total.Ratings != 2 || rep.Total.StarsAvg != 3.5 {
		t.Errorf("total: %+v", rep.Total)
	}
	// The default range is the last 7 days up to today (the 8th in Shanghai).
	if def := decode[replica.Reports](t, f.call(t, "GET", "/api/v1/stores/s-a/reports", f.key, "")); def.From != "2026-12-02" || def.To != "2026-12-08" || def.Total.Handled != 3 {
		t.Errorf("default range: %+v", def)
	}
	for _, q := range []string{"from=2026-12-8&to=2026-12-08", "from=2026-12-08&to=2026-12-07", "from=2024-01-01&to=2026-12-08"} {
		wantStatus(t, f.call(t, "GET", "/api/v1/stores/s-a/reports?"+q, f.key, ""), http.StatusBadRequest, "bad_request")
	}
	wantStatus(t, f.call(t, "GET", "/api/v1/stores/nope/reports?from=2026-12-07&to=2026-12-08", f.key, ""), http.StatusNotFound, "not_found")
	wantStatus(t, f.call(t, "GET", "/api/v1/stores/s-a/reports", "", ""), http.StatusUnauthorized, "")
}
