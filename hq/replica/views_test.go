package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/storeedge/storeedge/proto"
)

func exec(t *testing.T, r *Replica, sql string, args ...any) {
	t.Helper()
	if _, err := r.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// now is the tests' fixed clock: 17:30 UTC is 01:30 the next day in
// Shanghai.
var now = time.Date(2026, 12, 7, 17, 30, 0, 0, time.UTC)

// uplink files messages for a store as its cloudsync would: one epoch,
// the outbox seq, and the stream sequences of chat and booking.
type uplink struct {
	t     *testing.T
	r     *Replica
	store string
	epoch string
	seq   uint64
	sseq  map[string]uint64
}

// uplinks are the stores' uplinks by replica, so a test carries on the
// sequences its seeding started.
var uplinks sync.Map // *Replica + store → *uplink

func newUplink(t *testing.T, r *Replica, store string) *uplink {
	type key struct {
		r     *Replica
		store string
	}
	u, _ := uplinks.LoadOrStore(key{r, store}, &uplink{r: r, store: store, epoch: "e-" + store, sseq: map[string]uint64{}})
	up := u.(*uplink)
	up.t = t
	return up
}

func (u *uplink) send(local string, payload any) {
	u.t.Helper()
	u.seq++
	stream := proto.StreamBooking
	switch {
	case len(local) > 5 && local[:5] == "chat/":
		stream = proto.StreamChat
	case len(local) > 8 && local[:8] == "devices/":
		stream = "telemetry"
	}
	var sseq uint64
	if stream == proto.StreamChat || stream == proto.StreamBooking {
		u.sseq[stream]++
		sseq = u.sseq[stream]
	}
	m := msg(u.store, u.epoch, stream, u.seq, sseq, local, payload)
	m.Stored = now.Add(-time.Minute)
	if out := apply(u.t, u.r, m); !out.Applied {
		u.t.Fatalf("%s %s: not applied: %+v", u.store, local, out)
	}
}

// chat files a conversation's message from `from` at `at`.
func (u *uplink) chat(conv, customer string, seq uint64, from string, at time.Time, text string, auto bool) {
	u.t.Helper()
	e := chatMsg(conv, customer, from, seq, text, auto)
	e.TS = at
	u.send("chat/"+conv+"/hq", e)
}

// status records the store's presence as HQ receives it at `received`,
// its own clock skewed by skew (HQ minus the store).
func status(t *testing.T, r *Replica, store string, st proto.StoreStatus, received time.Time, skew time.Duration) {
	t.Helper()
	st.V, st.Store = 1, store
	st.TS = received.Add(-skew)
	if err := r.ApplyStatus(context.Background(), store, st, received); err != nil {
		t.Fatal(err)
	}
}

// lastWill is the store's Last Will, published by the broker when its
// connection (started at connected, store clock) dropped.
func lastWill(t *testing.T, r *Replica, store string, connected time.Time) {
	t.Helper()
	if err := r.ApplyStatus(context.Background(), store, proto.StoreStatus{V: 1, Store: store, TS: connected}, connected); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// seedFleet: s-a online, nothing waiting, its clock 40 ms behind. s-b went
// offline 5 h ago with 120 entries waiting, the oldest then 1 h old by its
// own clock, which is 10 min behind HQ's. s-c online with 5 entries.
func seedFleet(t *testing.T, r *Replica) {
	t.Helper()
	status(t, r, "s-a", proto.StoreStatus{Online: true, Epoch: "e-s-a", Version: "1.4.0"}, now.Add(-10*time.Second), 40*time.Millisecond)
	skewB := 10 * time.Minute
	seenB := now.Add(-5 * time.Hour)
	status(t, r, "s-b", proto.StoreStatus{Online: true, Epoch: "e-s-b", Version: "1.3.9", Backlog: 120, BacklogBytes: 48000,
		OldestAt: ptr(seenB.Add(-skewB - time.Hour)), Errors: 3, LastError: "dial tcp: i/o timeout"}, seenB, skewB)
	lastWill(t, r, "s-b", seenB.Add(-skewB))
	status(t, r, "s-c", proto.StoreStatus{Online: true, Epoch: "e-s-c", Version: "1.4.0", Backlog: 5, BacklogBytes: 2000,
		OldestAt: ptr(now.Add(-20 * time.Second))}, now.Add(-10*time.Second), 0)
	// No uplink carries a store's display name: HQ's own data.
	exec(t, r, `UPDATE stores SET name = CASE store WHEN 's-a' THEN 'Paws Xuhui' WHEN 's-b' THEN 'Cradle Pudong' ELSE 'Paws Jing''an' END`)
	// s-a: one conversation in the last day, two older ones.
	a := newUplink(t, r, "s-a")
	a.chat("c1", "cu1", 1, "cu1", now.Add(-time.Hour), "hi", false)
	a.chat("c2", "cu2", 1, "cu2", now.Add(-3*24*time.Hour), "hello", false)
	a.chat("c3", "cu3", 1, "cu3", now.Add(-7*24*time.Hour-time.Hour), "old", false)
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
	r := newReplica(t)
	seedFleet(t, r)
	ctx := context.Background()

	all, err := r.Stores(ctx, Filter{View: View{Now: now}})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "no filter", all, "s-a", "s-b", "s-c")
	a, b := all.Stores[0], all.Stores[1]
	if !a.Online || a.OfflineForS != 0 || a.OpenConversations != 1 || a.Version != "1.4.0" || a.ClockSkewMS != 40 {
		t.Errorf("s-a = %+v", a)
	}
	if b.Online || b.OfflineForS != 5*3600 || b.Backlog != 120 || b.Errors != 3 || b.LastError == "" {
		t.Errorf("s-b = %+v", b)
	}
	// When last heard of, 5 h ago, its oldest entry was 1 h old by its
	// own clock (10 min behind HQ's): it has been waiting 6 h now.
	if b.BacklogAgeS != 6*3600 || b.ClockSkewMS != 600000 {
		t.Errorf("s-b backlog age %d s, skew %d ms; want %d s, 600000 ms", b.BacklogAgeS, b.ClockSkewMS, 6*3600)
	}
	if c := all.Stores[2]; c.BacklogAgeS != 20 {
		t.Errorf("s-c backlog age %d s, want 20", c.BacklogAgeS)
	}
	if all.More {
		t.Error("More with every store listed")
	}
	if c := all.Counts; c != (StoreCounts{Stores: 3, Online: 2, Offline: 1, Backlogged: 2}) {
		t.Errorf("counts %+v", c)
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
		{"online", Filter{State: StateOnline}, []string{"s-a", "s-c"}},
		{"offline", Filter{State: StateOffline}, []string{"s-b"}},
		{"offline with a backlog", Filter{State: StateOffline, BacklogOver: 1}, []string{"s-b"}},
	} {
		c.f.View = View{Now: now}
		got, err := r.Stores(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sameIDs(t, c.name, got, c.want...)
		if got.Counts.Stores != int64(len(c.want)) {
			t.Errorf("%s: counted %d stores, listed %d", c.name, got.Counts.Stores, len(c.want))
		}
	}

	p1, err := r.Stores(ctx, Filter{Limit: 2, View: View{Now: now}})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "page 1", p1, "s-a", "s-b")
	if !p1.More || p1.Next != "s-b" || p1.Counts.Stores != 3 {
		t.Fatalf("page 1: more %v next %q counts %+v", p1.More, p1.Next, p1.Counts)
	}
	p2, err := r.Stores(ctx, Filter{Limit: 2, After: p1.Next, View: View{Now: now}})
	if err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "page 2", p2, "s-c")
	if p2.More || p2.Counts.Stores != 3 {
		t.Error("page 2: More")
	}

	// Online stores whose status stopped coming are stale after
	// StaleAfter; an offline one never is.
	if all.Stores[0].Stale || all.Stores[1].Stale {
		t.Errorf("stale at once: %+v", all.Stores[:2])
	}
	later, err := r.Stores(ctx, Filter{View: View{Now: now.Add(3 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	if later.Counts.Stale != 2 || later.Counts.Online != 2 {
		t.Errorf("3 min later: counts %+v", later.Counts)
	}
	if !later.Stores[0].Stale || later.Stores[1].Stale || !later.Stores[2].Stale {
		t.Errorf("3 min later: stale %v %v %v, want true false true", later.Stores[0].Stale, later.Stores[1].Stale, later.Stores[2].Stale)
	}
	longer, err := r.Stores(ctx, Filter{View: View{Now: now.Add(3 * time.Minute), StaleAfter: 5 * time.Minute}})
	if err != nil || longer.Stores[0].Stale {
		t.Errorf("with StaleAfter 5 min: %+v %v", longer.Stores[0], err)
	}

	for _, bad := range []Filter{{Limit: MaxStoresLimit + 1}, {State: "asleep"}, {View: View{StaleAfter: -1}}, {OfflineFor: -1}} {
		if _, err := r.Stores(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := r.Stores(ctx, Filter{Limit: MaxStoresLimit + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("limit over the maximum: %v, want ErrInvalid", err)
	}
	if _, err := r.Status(ctx, "nope", View{Now: now}); !errors.Is(err, ErrNoStore) {
		t.Errorf("unknown store: %v, want ErrNoStore", err)
	}
	st, err := r.Status(ctx, "s-b", View{Now: now})
	if err != nil || st.Backlog != 120 || st.Online {
		t.Errorf("status of s-b: %+v %v", st, err)
	}
}

func TestStorePageTodayInItsTimeZone(t *testing.T) {
	r := newReplica(t)
	seedFleet(t, r)
	ctx := context.Background()
	a := newUplink(t, r, "s-a")
	// s-a is in Shanghai: at 17:30 UTC on the 7th it is 01:30 on the 8th.
	a.send(proto.TopicShopInfo, proto.ShopInfo{V: 1, Version: 3, TimeZone: "Asia/Shanghai", TS: now.Add(-time.Hour)})
	sh, _ := time.LoadLocation("Asia/Shanghai")
	a.send("booking/changes", proto.Change{V: 1, Seq: 1, Type: proto.ChangeCreated, Booking: "b-today", Customer: "cu1", Service: "bath",
		Start: time.Date(2026, 12, 8, 10, 0, 0, 0, sh), End: time.Date(2026, 12, 8, 11, 0, 0, 0, sh), Status: "confirmed",
		Resources: []string{"room-1"}, Rev: 1, TS: now.Add(-2 * time.Hour)})
	a.send("booking/changes", proto.Change{V: 1, Seq: 2, Type: proto.ChangeRescheduled, Booking: "b-today", Rev: 2, TS: now.Add(-time.Hour)})
	a.send("booking/changes", proto.Change{V: 1, Seq: 3, Type: proto.ChangeCreated, Booking: "b-yesterday", Customer: "cu2", Service: "trim",
		Start: time.Date(2026, 12, 7, 18, 0, 0, 0, sh), End: time.Date(2026, 12, 7, 19, 0, 0, 0, sh), Status: "done", Rev: 1, TS: now.Add(-3 * time.Hour)})
	newUplink(t, r, "s-b").send("booking/changes", proto.Change{V: 1, Seq: 1, Type: proto.ChangeCreated, Booking: "b-other-store", Customer: "cu1",
		Start: time.Date(2026, 12, 8, 10, 0, 0, 0, sh), End: time.Date(2026, 12, 8, 11, 0, 0, 0, sh), Rev: 1, TS: now})
	a.send("devices/kiosk-1/status", proto.DeviceStatus{V: 1, State: proto.StateOnline, TS: now.Add(-time.Minute).Format(time.RFC3339), App: "kiosk 2.1"})
	a.send("devices/cam-2/status", proto.DeviceStatus{V: 1, State: proto.StateOffline, TS: now.Add(-3 * time.Hour).Format(time.RFC3339)})
	// c1 (open): the customer's first message an hour ago, answered in
	// 60 s; then she wrote twice after the last human reply (an automatic
	// answer in between does not count): waiting since the first of those.
	a.chat("c1", "cu1", 2, "staff-li", now.Add(-59*time.Minute), "Yes", false)
	a.chat("c1", "cu1", 3, "cu1", now.Add(-40*time.Minute), "And a trim?", false)
	a.chat("c1", "cu1", 4, "bot", now.Add(-39*time.Minute), "A person will answer", true)
	a.chat("c1", "cu1", 5, "cu1", now.Add(-30*time.Minute), "?", false)
	// c2 (open): first asked 3 days ago, answered in 180 s; asked again 2 h
	// ago and answered: the store had the last word.
	a.chat("c2", "cu2", 2, "staff-li", now.Add(-3*24*time.Hour+3*time.Minute), "Sure", false)
	a.chat("c2", "cu2", 3, "cu2", now.Add(-2*time.Hour), "Again?", false)
	a.chat("c2", "cu2", 4, "staff-wu", now.Add(-110*time.Minute), "Yes", false)
	// Eight days ago, 600 s (outside the week); two days ago, unanswered.
	a.chat("old", "cu9", 1, "cu9", now.Add(-8*24*time.Hour), "hi", false)
	a.chat("old", "cu9", 2, "staff-li", now.Add(-8*24*time.Hour+10*time.Minute), "hello", false)
	a.chat("unanswered", "cu8", 1, "cu8", now.Add(-2*24*time.Hour), "anyone?", false)

	d, err := r.Store(ctx, "s-a", View{Now: now})
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
		!d.Devices[1].Online || !bytes.Contains(d.Devices[1].Status, []byte(`"kiosk 2.1"`)) {
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
	if _, err := r.Store(ctx, "nope", View{Now: now}); !errors.Is(err, ErrNoStore) {
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
	r := newReplica(t)
	seedFleet(t, r)
	ctx := context.Background()
	// cu1 talks with s-a (c1, from seedFleet: "hi") and with s-c; s-a's
	// staff answers, and she recalls her third message.
	a := newUplink(t, r, "s-a")
	a.chat("c1", "cu1", 2, "staff-li", now.Add(-50*time.Minute), "Yes, 10:00", false)
	a.chat("c1", "cu1", 3, "cu1", now.Add(-40*time.Minute), "oops", false)
	a.send("chat/c1/hq", proto.HQChatEntry{V: 1, Type: "recall", Origin: "c1/3/recall", Conversation: "c1", Customer: "cu1", Seq: 3, TS: now.Add(-39 * time.Minute)})
	newUplink(t, r, "s-c").chat("k1", "cu1", 1, "cu1", now.Add(-2*time.Hour), "Hello Jing'an", false)

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
