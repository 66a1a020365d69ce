package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/hq/replica"
)

func TestNothingIsReadAnonymously(t *testing.T) {
	f := newFixture(t, Options{})
	for _, p := range []string{"/api/v1/stores", "/api/v1/stores/s-a", "/api/v1/stores/s-a/status",
		"/api/v1/stores/s-a/bookings?day=2026-12-08", "/api/v1/customers/cu1/conversations", "/api/v1/me",
		"/api/v1/notices", "/api/v1/stores/s-a/config", "/api/v1/anything", "/fleet.js", "/store.js"} {
		res := f.call(t, "GET", p, "", "")
		wantStatus(t, res, http.StatusUnauthorized, "forbidden")
		if res.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", p)
		}
	}
	// A wrong key, a key without "Bearer", a forged actor: still nothing.
	wantStatus(t, f.call(t, "GET", "/api/v1/stores", "hqk_000000000000_nope", ""), http.StatusUnauthorized, "forbidden")
	wantStatus(t, f.call(t, "GET", "/api/v1/stores", "", "", "Authorization", f.key), http.StatusUnauthorized, "forbidden")
	wantStatus(t, f.call(t, "POST", "/api/v1/notices", "", `{"kind":"notice","title":"x","all":true}`, ActorHeader, "ops-li"),
		http.StatusUnauthorized, "forbidden")
	if n := len(f.down.list()); n != 0 {
		t.Fatalf("the downlink was called %d times without a sign-in", n)
	}
	// Pages send a visitor to the sign-in, and back afterwards.
	for _, p := range []string{"/", "/stores/s-a"} {
		res := f.call(t, "GET", p, "", "")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin?next="+strings.ReplaceAll(p, "/", "%2F") {
			t.Errorf("GET %s anonymously: %d to %q", p, res.StatusCode, res.Header.Get("Location"))
		}
	}
	// The sign-in page and what it loads are open.
	for _, p := range []string{"/signin", "/app.css", "/app.js", "/signin.js", "/lib/i18n.js"} {
		res := f.call(t, "GET", p, "", "")
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d, CSP %q", p, res.StatusCode, res.Header.Get("Content-Security-Policy"))
		}
	}
}

func TestBearerKeySetsTheActorForTheDownlink(t *testing.T) {
	f := newFixture(t, Options{})
	res := f.call(t, "POST", "/api/v1/notices", f.key, `{"kind":"notice","title":"Closed on the 1st","all":true}`, ActorHeader, "someone-else")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("notice: %d", res.StatusCode)
	}
	f.call(t, "GET", "/api/v1/stores/s-a/config", f.key, "")
	calls := f.down.list()
	if len(calls) != 2 {
		t.Fatalf("downlink calls %+v", calls)
	}
	for _, c := range calls {
		if c.Actor != "ops-li" {
			t.Errorf("%s %s reached the downlink as %q, want ops-li (the key's name, not the forged header)", c.Method, c.Path, c.Actor)
		}
	}
	if !strings.Contains(string(calls[0].Body), "Closed on the 1st") {
		t.Errorf("body %s", calls[0].Body)
	}

	// Without a downlink: a clear 404.
	g := newFixture(t, Options{Down: nil})
	g.srv.Config.Handler = New(Options{Replica: g.r, Now: g.clock.Now})
	wantStatus(t, g.call(t, "POST", "/api/v1/notices", g.key, `{}`), http.StatusNotFound, "not_found")
}

func TestTheAPI(t *testing.T) {
	f := newFixture(t, Options{})

	list := decode[replica.StoreList](t, f.call(t, "GET", "/api/v1/stores", f.key, ""))
	if len(list.Stores) != 3 {
		t.Fatalf("stores %+v", list)
	}
	b := list.Stores[1]
	if b.Store != "s-b" || b.Online || b.OfflineForS != 5*3600 || b.Backlog != 120 || b.BacklogAgeS != 6*3600 || b.ClockSkewMS != 600000 {
		t.Errorf("s-b %+v", b)
	}
	page := decode[replica.StoreList](t, f.call(t, "GET", "/api/v1/stores?limit=1&backlog_over=1", f.key, ""))
	if len(page.Stores) != 1 || !page.More || page.Next != "s-b" || page.Counts.Stores != 2 || page.Counts.Offline != 1 {
		t.Errorf("a page of one: %+v", page)
	}
	for q, want := range map[string]string{
		"offline_hours=4":            "s-b",
		"offline_hours=4.5":          "s-b",
		"backlog_over=10":            "s-b",
		"q=jing":                     "s-c",
		"backlog_over=1&q=pudong":    "s-b",
		"offline_hours=6":            "",
		"limit=1&after=s-b":          "s-c",
		"backlog_over=0&q=XUHUI":     "s-a",
		"offline_hours=0&q=Xuhui%20": "s-a",
		"state=online":               "s-a,s-c",
		"state=offline":              "s-b",
	} {
		got := decode[replica.StoreList](t, f.call(t, "GET", "/api/v1/stores?"+q, f.key, ""))
		ids := []string{}
		for _, s := range got.Stores {
			ids = append(ids, s.Store)
		}
		if strings.Join(ids, ",") != want {
			t.Errorf("?%s: %v, want %q", q, ids, want)
		}
	}
	for _, q := range []string{"offline_hours=x", "offline_hours=-1", "backlog_over=1.5", "limit=5000", "limit=x", "state=asleep", "q=" + strings.Repeat("a", 101)} {
		wantStatus(t, f.call(t, "GET", "/api/v1/stores?"+q, f.key, ""), http.StatusBadRequest, "bad_request")
	}

	d := decode[replica.StoreDetail](t, f.call(t, "GET", "/api/v1/stores/s-a", f.key, ""))
	if d.Day != "2026-12-08" || len(d.Bookings) != 1 || d.Bookings[0].Booking != "b-today" || len(d.Devices) != 2 ||
		len(d.Conversations) != 1 || d.Conversations[0].WaitingSince == nil || d.FirstResponse.TodayN != 1 || *d.FirstResponse.TodayS != 90 {
		t.Errorf("store page %+v", d)
	}
	wantStatus(t, f.call(t, "GET", "/api/v1/stores/nope", f.key, ""), http.StatusNotFound, "not_found")
	st := decode[replica.StoreRow](t, f.call(t, "GET", "/api/v1/stores/s-b/status", f.key, ""))
	if st.Online || st.Backlog != 120 || st.LastError == "" {
		t.Errorf("status %+v", st)
	}

	// Bookings: today in the store's zone by default, or the day asked.
	day := decode[replica.BookingDay](t, f.call(t, "GET", "/api/v1/stores/s-a/bookings", f.key, ""))
	if day.Day != "2026-12-08" || len(day.Bookings) != 1 || day.Bookings[0].Booking != "b-today" {
		t.Errorf("today's bookings %+v", day)
	}
	day = decode[replica.BookingDay](t, f.call(t, "GET", "/api/v1/stores/s-a/bookings?day=2026-12-07", f.key, ""))
	if len(day.Bookings) != 1 || day.Bookings[0].Booking != "b-yesterday" || day.TimeZone != "Asia/Shanghai" {
		t.Errorf("bookings of the 7th %+v", day)
	}
	wantStatus(t, f.call(t, "GET", "/api/v1/stores/s-a/bookings?day=tomorrow", f.key, ""), http.StatusBadRequest, "bad_request")
	wantStatus(t, f.call(t, "GET", "/api/v1/stores/nope/bookings", f.key, ""), http.StatusNotFound, "not_found")

	c := decode[replica.CustomerConversations](t, f.call(t, "GET", "/api/v1/customers/cu1/conversations", f.key, ""))
	if len(c.Conversations) != 1 || len(c.Conversations[0].Messages) != 3 ||
		!strings.Contains(string(c.Conversations[0].Messages[2].Body), "Yes please, 10:00") {
		t.Errorf("conversations of cu1 %+v", c)
	}
	wantStatus(t, f.call(t, "GET", "/api/v1/customers/cu1/conversations?limit=1000", f.key, ""), http.StatusBadRequest, "bad_request")

	wantStatus(t, f.call(t, "GET", "/api/v1/nothing", f.key, ""), http.StatusNotFound, "not_found")
	wantStatus(t, f.call(t, "DELETE", "/api/v1/stores", f.key, ""), http.StatusNotFound, "not_found")
}

// signIn posts a key to the sign-in and returns the answer.
func (f *fixture) signIn(t *testing.T, key string, hdr ...string) *http.Response {
	t.Helper()
	return f.call(t, "POST", "/auth/signin", "", `{"key":"`+key+`"}`, hdr...)
}

func sessionCookie(t *testing.T, res *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", CookieName, res.Header["Set-Cookie"])
	return nil
}

func TestSignInCookie(t *testing.T) {
	f := newFixture(t, Options{Config: Config{SessionTTL: time.Hour}})
	wantStatus(t, f.signIn(t, "hqk_000000000000_wrong"), http.StatusUnauthorized, "forbidden")
	wantStatus(t, f.call(t, "POST", "/auth/signin", "", `not json`), http.StatusBadRequest, "bad_request")

	res := f.signIn(t, f.key)
	wantStatus(t, res, http.StatusOK, "")
	c := sessionCookie(t, res)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) < 40 || strings.Contains(c.Value, f.key) {
		t.Fatalf("cookie %+v", c)
	}
	cookie := CookieName + "=" + c.Value
	me := decode[map[string]string](t, f.call(t, "GET", "/api/v1/me", "", "", "Cookie", cookie))
	if me["name"] != "ops-li" {
		t.Errorf("me %v", me)
	}
	if res := f.call(t, "GET", "/", "", "", "Cookie", cookie); res.StatusCode != http.StatusOK {
		t.Errorf("the fleet page signed in: %d", res.StatusCode)
	}
	// The cookie reaches the downlink as the key's name.
	f.call(t, "POST", "/api/v1/notices", "", `{"kind":"notice","title":"t","all":true}`, "Cookie", cookie, "Origin", f.srv.URL)
	if calls := f.down.list(); len(calls) != 1 || calls[0].Actor != "ops-li" {
		t.Errorf("downlink calls %+v", calls)
	}
	// A page of another site cannot post with it.
	wantStatus(t, f.call(t, "POST", "/api/v1/notices", "", `{"kind":"notice","title":"t","all":true}`, "Cookie", cookie, "Origin", "http://evil.example"),
		http.StatusForbidden, "forbidden")
	if n := len(f.down.list()); n != 1 {
		t.Errorf("a cross-site post reached the downlink")
	}

	// It lasts SessionTTL.
	f.clock.Add(59 * time.Minute)
	wantStatus(t, f.call(t, "GET", "/api/v1/me", "", "", "Cookie", cookie), http.StatusOK, "")
	f.clock.Add(2 * time.Minute)
	wantStatus(t, f.call(t, "GET", "/api/v1/me", "", "", "Cookie", cookie), http.StatusUnauthorized, "forbidden")

	// Signing out ends it.
	c2 := sessionCookie(t, f.signIn(t, f.key))
	cookie2 := CookieName + "=" + c2.Value
	wantStatus(t, f.call(t, "GET", "/api/v1/me", "", "", "Cookie", cookie2), http.StatusOK, "")
	if res := f.call(t, "POST", "/auth/signout", "", "", "Cookie", cookie2); res.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out: %d", res.StatusCode)
	}
	wantStatus(t, f.call(t, "GET", "/api/v1/me", "", "", "Cookie", cookie2), http.StatusUnauthorized, "forbidden")

	// Revoking the key ends its sessions at once.
	c3 := sessionCookie(t, f.signIn(t, f.key))
	cookie3 := CookieName + "=" + c3.Value
	if err := f.r.RevokeKey(context.Background(), replica.KeyID(f.key)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.call(t, "GET", "/api/v1/me", "", "", "Cookie", cookie3), http.StatusUnauthorized, "forbidden")
	wantStatus(t, f.call(t, "GET", "/api/v1/me", f.key, ""), http.StatusUnauthorized, "forbidden")
	wantStatus(t, f.signIn(t, f.key), http.StatusUnauthorized, "forbidden")
}

func TestFailedSignInsAreLimited(t *testing.T) {
	f := newFixture(t, Options{Config: Config{SignInFailuresPerMin: 3}})
	for i := 0; i < 2; i++ {
		wantStatus(t, f.signIn(t, "hqk_000000000000_guess"), http.StatusUnauthorized, "forbidden")
	}
	// Wrong Bearer keys count too.
	wantStatus(t, f.call(t, "GET", "/api/v1/stores", "hqk_000000000000_guess", ""), http.StatusUnauthorized, "forbidden")
	// The fourth try is refused before the key is looked at, even a right one.
	res := f.signIn(t, f.key)
	wantStatus(t, res, http.StatusTooManyRequests, "quota_exceeded")
	if res.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	wantStatus(t, f.call(t, "GET", "/api/v1/stores", f.key, ""), http.StatusTooManyRequests, "quota_exceeded")
	// A minute later, the right key works.
	f.clock.Add(61 * time.Second)
	wantStatus(t, f.signIn(t, f.key), http.StatusOK, "")
	wantStatus(t, f.call(t, "GET", "/api/v1/stores", f.key, ""), http.StatusOK, "")
}

func TestSignInLimitBehindAProxy(t *testing.T) {
	f := newFixture(t, Options{Config: Config{SignInFailuresPerMin: 1, ClientIPHeader: "X-Forwarded-For"}})
	wantStatus(t, f.signIn(t, "hqk_000000000000_guess", "X-Forwarded-For", "10.0.0.1, 203.0.113.7"), http.StatusUnauthorized, "forbidden")
	wantStatus(t, f.signIn(t, f.key, "X-Forwarded-For", "203.0.113.7"), http.StatusTooManyRequests, "quota_exceeded")
	// Another client behind the same proxy is not held back.
	wantStatus(t, f.signIn(t, f.key, "X-Forwarded-For", "203.0.113.8"), http.StatusOK, "")
}

func TestStaleStores(t *testing.T) {
	f := newFixture(t, Options{Config: Config{StaleAfter: 5 * time.Minute}})
	f.clock.Add(3 * time.Minute)
	st := decode[replica.StoreRow](t, f.call(t, "GET", "/api/v1/stores/s-a/status", f.key, ""))
	if st.Stale {
		t.Errorf("stale after 3 min with StaleAfter 5 min")
	}
	f.clock.Add(3 * time.Minute)
	st = decode[replica.StoreRow](t, f.call(t, "GET", "/api/v1/stores/s-a/status", f.key, ""))
	if !st.Stale || !st.Online {
		t.Errorf("after 6 min: online %v stale %v", st.Online, st.Stale)
	}
}

func TestSessionsAreBounded(t *testing.T) {
	f := newFixture(t, Options{Config: Config{MaxSessions: 2, SessionTTL: time.Hour}})
	wantStatus(t, f.signIn(t, f.key), http.StatusOK, "")
	wantStatus(t, f.signIn(t, f.key), http.StatusOK, "")
	wantStatus(t, f.signIn(t, f.key), http.StatusServiceUnavailable, "unavailable")
	// Expired ones make room.
	f.clock.Add(time.Hour)
	wantStatus(t, f.signIn(t, f.key), http.StatusOK, "")
}
