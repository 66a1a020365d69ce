package replica

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/storeedge/storeedge/hq/internal/tempdb"
	"github.com/storeedge/storeedge/internal/seal"
)

func TestMain(m *testing.M) { os.Exit(tempdb.Main(m)) }

// openTest opens a replica on a fresh database with HQ's tables.
func openTest(t *testing.T) *Replica {
	t.Helper()
	url := tempdb.NewDB(t)
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	keys, err := seal.ParseKeys("t1:" + base64.StdEncoding.EncodeToString(k[:]))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), url, Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	tempdb.CreateSchema(t, url)
	return r
}

func exec(t *testing.T, r *Replica, sql string, args ...any) {
	t.Helper()
	if _, err := r.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// now is the tests' fixed clock: 17:30 UTC is 01:30 the next day in
// Shanghai.
var now = time.Date(2026, 12, 7, 17, 30, 0, 0, time.UTC)

func seedFleet(t *testing.T, r *Replica) {
	t.Helper()
	// A: online, nothing waiting. B: offline for 5 h with 120 entries, the
	// oldest 2 h old by its own clock, which is 10 min behind HQ's.
	// C: online with 5 entries.
	exec(t, r, `INSERT INTO stores (store, name, version, online, last_seen, status_at, backlog, oldest_at, clock_skew_ms, errors, last_error, first_seen)
		VALUES ('s-a', 'Paws Xuhui', '1.4.0', true, $1, $1, 0, NULL, 40, 0, '', $3),
		       ('s-b', 'Cradle Pudong', '1.3.9', false, $2, $2, 120, $4, 600000, 3, 'dial tcp: i/o timeout', $3),
		       ('s-c', 'Paws Jing''an', '1.4.0', true, $1, $1, 5, $1, 0, 0, '', $3)`,
		now.Add(-10*time.Second), now.Add(-5*time.Hour), now.Add(-30*24*time.Hour),
		now.Add(-2*time.Hour-10*time.Minute))
	// s-a has two conversations in the last day and one a week old.
	exec(t, r, `INSERT INTO conversations (store, conversation, customer, opened_at, last_at, last_seq)
		VALUES ('s-a', 'c1', 'cu1', $1, $1, 3), ('s-a', 'c2', 'cu2', $1, $1, 1), ('s-a', 'c3', 'cu3', $2, $2, 9)`,
		now.Add(-time.Hour), now.Add(-7*24*time.Hour))
}

func ids(l StoreList) []string {
	out := []string{}
	for _, s := range l.Stores {
		out = append(out, s.Store)
	}
	return out
}

func sameIDs(t *testing.T, what string, got StoreList, want ...string) {
	t.Helper()
	g := ids(got)
	if len(g) != len(want) {
		t.Fatalf("%s: stores %v, want %v", what, g, want)
	}
	for i := range g {
		if g[i] != want[i] {
			t.Fatalf("%s: stores %v, want %v", what, g, want)
		}
	}
}

func TestStoresFleetRows(t *testing.T) {
	r := openTest(t)
	seedFleet(t, r)
	ctx := context.Background()

	all, err := r.Stores(ctx, Filter{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "no filter", all, "s-a", "s-b", "s-c")
	a, b := all.Stores[0], all.Stores[1]
	if !a.Online || a.OfflineForS != 0 || a.OpenConversations != 2 || a.Version != "1.4.0" || a.ClockSkewMS != 40 {
		t.Errorf("s-a = %+v", a)
	}
	if b.Online || b.OfflineForS != 5*3600 || b.Backlog != 120 || b.Errors != 3 || b.LastError == "" {
		t.Errorf("s-b = %+v", b)
	}
	// The oldest entry is 2h10m old by the store's clock, which is 10 min
	// behind: 2 h on HQ's.
	if b.BacklogAgeS != 2*3600 {
		t.Errorf("s-b backlog age %d s, want %d", b.BacklogAgeS, 2*3600)
	}
	if all.More {
		t.Error("More with every store listed")
	}

	for _, c := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"offline 4h", Filter{OfflineFor: 4 * time.Hour}, []string{"s-b"}},
		{"offline 6h", Filter{OfflineFor: 6 * time.Hour}, nil},
		{"backlog over 10", Filter{BacklogOver: 10}, []string{"s-b"}},
		{"backlog over 1", Filter{BacklogOver: 1}, []string{"s-b", "s-c"}},
		{"search name", Filter{Query: "PAWS"}, []string{"s-a", "s-c"}},
		{"search id", Filter{Query: "s-b"}, []string{"s-b"}},
		{"search wildcard is literal", Filter{Query: "%"}, nil},
		{"offline and backlog", Filter{OfflineFor: time.Hour, BacklogOver: 200}, nil},
	} {
		c.f.Now = now
		got, err := r.Stores(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sameIDs(t, c.name, got, c.want...)
	}

	p1, err := r.Stores(ctx, Filter{Limit: 2, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "page 1", p1, "s-a", "s-b")
	if !p1.More || p1.Next != "s-b" {
		t.Fatalf("page 1: more %v next %q", p1.More, p1.Next)
	}
	p2, err := r.Stores(ctx, Filter{Limit: 2, After: p1.Next, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "page 2", p2, "s-c")
	if p2.More {
		t.Error("page 2: More")
	}

	if _, err := r.Stores(ctx, Filter{Limit: MaxStoresLimit + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("limit over the maximum: %v, want ErrInvalid", err)
	}
	if _, err := r.Status(ctx, "nope", now); !errors.Is(err, ErrNoStore) {
		t.Errorf("unknown store: %v, want ErrNoStore", err)
	}
	st, err := r.Status(ctx, "s-b", now)
	if err != nil || st.Backlog != 120 || st.Online {
		t.Errorf("status of s-b: %+v %v", st, err)
	}
}

func TestStorePageTodayInItsTimeZone(t *testing.T) {
	r := openTest(t)
	seedFleet(t, r)
	ctx := context.Background()
	// s-a is in Shanghai: at 17:30 UTC on the 7th it is 01:30 on the 8th.
	exec(t, r, `INSERT INTO shop_info (store, version, info, ts) VALUES ('s-a', 3, '{"v":1,"version":3,"time_zone":"Asia/Shanghai","catalog":{}}', $1)`, now)
	sh, _ := time.LoadLocation("Asia/Shanghai")
	exec(t, r, `INSERT INTO bookings (store, booking, customer, service, start_at, end_at, status, resources, rev)
		VALUES ('s-a', 'b-today', 'cu1', 'bath', $1, $2, 'confirmed', '{room-1}', 2),
		       ('s-a', 'b-yesterday', 'cu2', 'trim', $3, $4, 'done', '{}', 1),
		       ('s-b', 'b-other-store', 'cu1', 'bath', $1, $2, 'confirmed', '{}', 1)`,
		time.Date(2026, 12, 8, 10, 0, 0, 0, sh), time.Date(2026, 12, 8, 11, 0, 0, 0, sh),
		time.Date(2026, 12, 7, 18, 0, 0, 0, sh), time.Date(2026, 12, 7, 19, 0, 0, 0, sh))
	exec(t, r, `INSERT INTO devices (store, device, online, last_seen, status)
		VALUES ('s-a', 'kiosk-1', true, $1, '{"battery":80}'), ('s-a', 'cam-2', false, $2, NULL)`,
		now.Add(-time.Minute), now.Add(-3*time.Hour))
	// c1: the customer wrote twice after the last human reply (an
	// automatic answer in between does not count): waiting since her
	// first of those. c2: the store had the last word.
	exec(t, r, `INSERT INTO messages (store, conversation, seq, sender, kind, ts, auto)
		VALUES ('s-a', 'c1', 1, 'staff-li', 'text', $1, false),
		       ('s-a', 'c1', 2, 'cu1', 'text', $2, false),
		       ('s-a', 'c1', 3, 'bot', 'text', $3, true),
		       ('s-a', 'c1', 4, 'cu1', 'text', $4, false),
		       ('s-a', 'c2', 1, 'cu2', 'text', $1, false),
		       ('s-a', 'c2', 2, 'staff-li', 'text', $2, false)`,
		now.Add(-50*time.Minute), now.Add(-40*time.Minute), now.Add(-39*time.Minute), now.Add(-30*time.Minute))
	// First responses: 60 s and 180 s this week (one of them today in
	// Shanghai, i.e. after 16:00 UTC on the 7th), 600 s eight days ago,
	// and one unanswered.
	exec(t, r, `UPDATE conversations SET first_customer_at = $1, first_reply_at = $1::timestamptz + interval '60 seconds' WHERE conversation = 'c1'`, now.Add(-time.Hour))
	exec(t, r, `UPDATE conversations SET first_customer_at = $1, first_reply_at = $1::timestamptz + interval '180 seconds' WHERE conversation = 'c2'`, now.Add(-3*24*time.Hour))
	exec(t, r, `INSERT INTO conversations (store, conversation, customer, opened_at, last_at, first_customer_at, first_reply_at)
		VALUES ('s-a', 'old', 'cu9', $1, $1, $1, $1::timestamptz + interval '600 seconds'), ('s-a', 'unanswered', 'cu8', $2, $3, $2, NULL)`,
		now.Add(-8*24*time.Hour), now.Add(-2*24*time.Hour), now.Add(-2*24*time.Hour))

	d, err := r.Store(ctx, "s-a", now)
	if err != nil {
		t.Fatal(err)
	}
	if d.Day != "2026-12-08" || d.TimeZone != "Asia/Shanghai" {
		t.Errorf("day %s in %s, want 2026-12-08 in Asia/Shanghai", d.Day, d.TimeZone)
	}
	if len(d.Bookings) != 1 || d.Bookings[0].Booking != "b-today" || d.Bookings[0].Resources[0] != "room-1" || d.Bookings[0].Rev != 2 {
		t.Errorf("today's bookings %+v, want b-today only", d.Bookings)
	}
	if len(d.Devices) != 2 || d.Devices[0].Device != "cam-2" || d.Devices[1].Device != "kiosk-1" ||
		!d.Devices[1].Online || !bytes.Contains(d.Devices[1].Status, []byte(`"battery"`)) {
		t.Errorf("devices %+v", d.Devices)
	}
	if len(d.Conversations) != 2 {
		t.Fatalf("open conversations %+v, want c1 and c2", d.Conversations)
	}
	for _, c := range d.Conversations {
		switch c.Conversation {
		case "c1":
			if c.WaitingSince == nil || !c.WaitingSince.Equal(now.Add(-40*time.Minute)) {
				t.Errorf("c1 waiting since %v, want %v", c.WaitingSince, now.Add(-40*time.Minute))
			}
		case "c2":
			if c.WaitingSince != nil {
				t.Errorf("c2 waiting since %v, want nil (the store answered)", c.WaitingSince)
			}
		default:
			t.Errorf("conversation %s is not open", c.Conversation)
		}
	}
	f := d.FirstResponse
	if f.WeekN != 2 || f.WeekS == nil || *f.WeekS != 120 || f.TodayN != 1 || f.TodayS == nil || *f.TodayS != 60 || f.Unanswered != 1 {
		t.Errorf("first response %+v (week %v today %v), want week 120 s of 2, today 60 s of 1, 1 unanswered",
			f, deref(f.WeekS), deref(f.TodayS))
	}

	day, err := r.Bookings(ctx, "s-a", "2026-12-07")
	if err != nil || len(day.Bookings) != 1 || day.Bookings[0].Booking != "b-yesterday" {
		t.Errorf("bookings of the 7th: %+v %v", day, err)
	}
	if _, err := r.Bookings(ctx, "s-a", "7 Dec"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad day: %v, want ErrInvalid", err)
	}
	if _, err := r.Bookings(ctx, "nope", "2026-12-07"); !errors.Is(err, ErrNoStore) {
		t.Errorf("unknown store: %v, want ErrNoStore", err)
	}
	if _, err := r.Store(ctx, "nope", now); !errors.Is(err, ErrNoStore) {
		t.Errorf("unknown store page: %v, want ErrNoStore", err)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestCustomerConversationsOpenTheirBodies(t *testing.T) {
	r := openTest(t)
	seedFleet(t, r)
	ctx := context.Background()
	body := func(text string) []byte {
		b, err := r.sealBody([]byte(`{"text":"` + text + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	exec(t, r, `INSERT INTO conversations (store, conversation, customer, opened_at, last_at, last_seq)
		VALUES ('s-c', 'k1', 'cu1', $1, $1, 2)`, now.Add(-2*time.Hour))
	exec(t, r, `INSERT INTO messages (store, conversation, seq, sender, kind, ts, body, recalled)
		VALUES ('s-a', 'c1', 1, 'cu1', 'text', $1, $2, false),
		       ('s-a', 'c1', 2, 'staff-li', 'text', $1, $3, false),
		       ('s-a', 'c1', 3, 'cu1', 'text', $1, $4, true),
		       ('s-c', 'k1', 1, 'cu1', 'text', $1, $5, false)`,
		now.Add(-time.Hour), body("Is Saturday free?"), body("Yes, 10:00"), body("oops"), body("Hello Jing'an"))

	got, err := r.CustomerConversations(ctx, "cu1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Conversations) != 2 || got.Conversations[0].Store != "s-a" || got.Conversations[1].Store != "s-c" {
		t.Fatalf("conversations %+v, want s-a/c1 then s-c/k1", got.Conversations)
	}
	ms := got.Conversations[0].Messages
	if len(ms) != 3 || ms[0].Seq != 1 || ms[2].Seq != 3 {
		t.Fatalf("messages %+v, want seq 1..3", ms)
	}
	var b struct{ Text string }
	if err := json.Unmarshal(ms[1].Body, &b); err != nil || b.Text != "Yes, 10:00" {
		t.Errorf("body of seq 2: %s %v", ms[1].Body, err)
	}
	if !ms[2].Recalled || ms[2].Body != nil {
		t.Errorf("recalled message shows %s", ms[2].Body)
	}
	// The body is sealed in the table: its text is not there in clear.
	var raw []byte
	if err := r.pool.QueryRow(ctx, `SELECT body FROM messages WHERE store='s-a' AND conversation='c1' AND seq=2`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("10:00")) {
		t.Error("a message body is stored in clear")
	}

	one, err := r.CustomerConversations(ctx, "cu1", 1)
	if err != nil || len(one.Conversations) != 1 || !one.More {
		t.Errorf("limit 1: %d conversations more=%v %v", len(one.Conversations), one.More, err)
	}
	if _, err := r.CustomerConversations(ctx, "cu1", MaxCustomerConvLimit+1); !errors.Is(err, ErrInvalid) {
		t.Errorf("limit over the maximum: %v", err)
	}
	none, err := r.CustomerConversations(ctx, "nobody", 0)
	if err != nil || len(none.Conversations) != 0 {
		t.Errorf("unknown customer: %+v %v", none, err)
	}
}
