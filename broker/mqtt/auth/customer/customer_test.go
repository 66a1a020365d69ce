package customer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/store"
)

var newIDPattern = regexp.MustCompile(`^cust-[a-z2-7]{16}$`)

// The whole flow: a ticket for a new customer, its URL, the redeem, the login.
func TestIssueRedeemVerify(t *testing.T) {
	e := newEnv(t, Options{})
	tk := e.issue(t, "")
	if !newIDPattern.MatchString(tk.Customer) || !ValidCustomerID(tk.Customer) {
		t.Fatalf("new customer id %q", tk.Customer)
	}
	if len(tk.Token) != 43 || !wellFormedToken(tk.Token) {
		t.Fatalf("token %q", tk.Token)
	}
	if !tk.Expires.Equal(t0.Add(DefaultTokenTTL)) {
		t.Fatalf("ticket expires %v, want %v", tk.Expires, t0.Add(DefaultTokenTTL))
	}
	u, err := url.Parse(tk.URL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "http" || u.Host != "storeedge.local:8080" || u.Path != "/chat" || u.Query().Get("t") != tk.Token {
		t.Fatalf("ticket URL %q", tk.URL)
	}
	if tk2 := e.issue(t, ""); tk2.Customer == tk.Customer || tk2.Token == tk.Token {
		t.Fatal("two tickets share a customer id or token")
	}

	// The device that asked is recorded with the token.
	var rec tokenRecord
	key := hashKey(tk.Token)
	if err := e.db.View(func(tx *bolt.Tx) error {
		return json.Unmarshal(tx.Bucket(bucketTokens).Get(key[:]), &rec)
	}); err != nil {
		t.Fatal(err)
	}
	if rec.IssuedBy != "tablet-01" || rec.Customer != tk.Customer || !rec.Issued.Equal(t0) || rec.Redeemed != nil {
		t.Fatalf("stored record %+v", rec)
	}

	if e.s.CustomerActive(tk.Customer) {
		t.Fatal("customer active before redeeming")
	}
	e.clock.Advance(time.Minute)
	l := e.redeem(t, tk.Token)
	if l.Customer != tk.Customer || l.Username != tk.Customer || len(l.Password) != 43 {
		t.Fatalf("login %+v", l)
	}
	if want := t0.Add(time.Minute + DefaultSessionTTL); !l.Expires.Equal(want) {
		t.Fatalf("login expires %v, want %v", l.Expires, want)
	}
	if !e.verify(t, l.Username, l.Password) {
		t.Fatal("the login does not verify")
	}
	if !e.s.CustomerActive(l.Customer) {
		t.Fatal("customer not active after redeeming")
	}
	for _, c := range []struct{ id, pw string }{
		{l.Username, l.Password + "x"},
		{l.Username, l.Password[:42]},
		{l.Username, ""},
		{l.Username, tk.Token},
		{"cust-someoneelse", l.Password},
		{"not a customer", l.Password},
	} {
		if e.verify(t, c.id, c.pw) {
			t.Errorf("VerifyCustomer(%q, %q) = true", c.id, c.pw)
		}
	}
	if e.s.CustomerActive("cust-someoneelse") || e.s.CustomerActive("") {
		t.Fatal("unknown customer active")
	}
}

// A token works once; a replay is ErrUsed and adds no session.
func TestReplay(t *testing.T) {
	e := newEnv(t, Options{})
	tk := e.issue(t, "")
	e.redeem(t, tk.Token)
	for range 2 {
		_, err := e.s.Redeem(context.Background(), tk.Token)
		wantErr(t, err, ErrUsed)
	}
	if n := e.keys(t, bucketSessions); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	// Unknown and malformed tokens.
	other := e.issue(t, "").Token
	for _, tok := range []string{"", "x", tk.Token + "A", other[:42] + "!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		_, err := e.s.Redeem(context.Background(), tok)
		wantErr(t, err, ErrNotFound)
	}
}

func TestTokenExpiry(t *testing.T) {
	e := newEnv(t, Options{TokenTTL: 5 * time.Minute})
	a, b := e.issue(t, ""), e.issue(t, "")
	e.clock.Advance(5*time.Minute - time.Millisecond)
	e.redeem(t, a.Token)
	e.clock.Advance(time.Millisecond)
	_, err := e.s.Redeem(context.Background(), b.Token)
	wantErr(t, err, ErrExpired)
	// A used token stays "used" after its expiry, until swept.
	_, err = e.s.Redeem(context.Background(), a.Token)
	wantErr(t, err, ErrUsed)
}

// A session not used after its redeem ends SessionTTL later (a login that
// verifies renews it: TestLoginRenewedByUse).
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, Options{SessionTTL: time.Hour})
	l := e.redeem(t, e.issue(t, "").Token)
	e.clock.Advance(time.Hour - time.Millisecond)
	if !e.s.CustomerActive(l.Customer) {
		t.Fatal("session ended early")
	}
	e.clock.Advance(time.Millisecond)
	if e.verify(t, l.Username, l.Password) {
		t.Fatal("expired session verifies")
	}
	if e.s.CustomerActive(l.Customer) {
		t.Fatal("customer active after the session expired")
	}
}

// Concurrent redeems of one token: exactly one wins, the rest are ErrUsed.
func TestConcurrentRedeemOneWinner(t *testing.T) {
	e := newEnv(t, Options{})
	const tokens, racers = 8, 16
	for i := range tokens {
		tk := e.issue(t, "")
		start := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var wins []Login
		var used int
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				l, err := e.s.Redeem(context.Background(), tk.Token)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins = append(wins, l)
				case errors.Is(err, ErrUsed):
					used++
				default:
					t.Errorf("redeem: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(wins) != 1 || used != racers-1 {
			t.Fatalf("token %d: %d winners, %d used", i, len(wins), used)
		}
		if !e.verify(t, wins[0].Username, wins[0].Password) {
			t.Fatal("the winner's login does not verify")
		}
	}
	if n := e.keys(t, bucketSessions); n != tokens {
		t.Fatalf("%d sessions, want %d", n, tokens)
	}
}

// Issue for a known customer resumes the id; each redeem adds a session.
func TestResumeCustomer(t *testing.T) {
	e := newEnv(t, Options{})
	first := e.redeem(t, e.issue(t, "").Token)
	tk := e.issue(t, first.Customer)
	if tk.Customer != first.Customer {
		t.Fatalf("resumed %q as %q", first.Customer, tk.Customer)
	}
	second := e.redeem(t, tk.Token)
	if second.Customer != first.Customer || second.Password == first.Password {
		t.Fatalf("second login %+v", second)
	}
	if !e.verify(t, first.Username, first.Password) || !e.verify(t, second.Username, second.Password) {
		t.Fatal("both sessions must verify")
	}
	// A given id from elsewhere is taken as it is.
	if l := e.redeem(t, e.issue(t, "cust-0042").Token); l.Username != "cust-0042" {
		t.Fatalf("login %+v", l)
	}
}

func TestIssueInvalid(t *testing.T) {
	e := newEnv(t, Options{})
	long := "cust-" + string(bytes.Repeat([]byte("a"), 41))
	for _, id := range []string{"cust-", "cust-abc", "Cust-abcd", "cust-ABCD", "cust-ab_d", "cust-abcd ", "x-abcd", long, "cust-abcd\x00"} {
		_, err := e.s.Issue(context.Background(), id, "tablet-01")
		wantErr(t, err, ErrInvalid)
	}
	_, err := e.s.Issue(context.Background(), "", string(bytes.Repeat([]byte("d"), 257)))
	wantErr(t, err, ErrInvalid)
	_, err = e.s.Issue(context.Background(), "", "\xff")
	wantErr(t, err, ErrInvalid)
	if _, err := e.s.Issue(context.Background(), "cust-"+string(bytes.Repeat([]byte("z"), 40)), ""); err != nil {
		t.Fatal(err)
	}
	if n := e.keys(t, bucketTokens); n != 1 {
		t.Fatalf("%d tokens stored, want 1", n)
	}
}

// A customer keeps at most MaxSessionsPerCustomer sessions; the oldest go.
func TestSessionsPerCustomerCapped(t *testing.T) {
	e := newEnv(t, Options{})
	var logins []Login
	for range MaxSessionsPerCustomer + 2 {
		logins = append(logins, e.redeem(t, e.issue(t, "cust-busy").Token))
		e.clock.Advance(time.Second)
	}
	if n := e.keys(t, bucketSessions); n != MaxSessionsPerCustomer {
		t.Fatalf("%d sessions, want %d", n, MaxSessionsPerCustomer)
	}
	for i, l := range logins {
		if got, want := e.verify(t, l.Username, l.Password), i >= 2; got != want {
			t.Errorf("login %d verifies %v, want %v", i, got, want)
		}
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, Options{MaxActiveTokens: 3, TokenTTL: time.Minute})
	var tks []Ticket
	for range 3 {
		tks = append(tks, e.issue(t, ""))
	}
	_, err := e.s.Issue(context.Background(), "", "tablet-01")
	wantErr(t, err, ErrQuota)
	// A redeemed token no longer counts.
	e.redeem(t, tks[0].Token)
	e.issue(t, "")
	_, err = e.s.Issue(context.Background(), "", "tablet-01")
	wantErr(t, err, ErrQuota)
	// Nor do expired ones, swept or not.
	e.clock.Advance(time.Minute)
	for range 3 {
		e.issue(t, "")
	}
	_, err = e.s.Issue(context.Background(), "", "tablet-01")
	wantErr(t, err, ErrQuota)
}

func TestSweep(t *testing.T) {
	e := newEnv(t, Options{TokenTTL: time.Minute, SessionTTL: time.Hour})
	redeemed := e.issue(t, "")
	unused := e.issue(t, "")
	l := e.redeem(t, redeemed.Token)
	if n, err := e.s.Sweep(context.Background()); err != nil || n != 0 {
		t.Fatalf("early sweep: %d, %v", n, err)
	}
	e.clock.Advance(time.Minute)
	e.issue(t, "") // "fresh"
	l2 := e.redeem(t, e.issue(t, "").Token)
	n, err := e.s.Sweep(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("sweep removed %d (%v), want the 2 expired tokens", n, err)
	}
	for _, tok := range []string{redeemed.Token, unused.Token} {
		_, err := e.s.Redeem(context.Background(), tok)
		wantErr(t, err, ErrNotFound)
	}
	if !e.verify(t, l.Username, l.Password) {
		t.Fatal("sweep took an unexpired session")
	}
	e.clock.Advance(time.Hour - time.Second)
	// Left: fresh (expired now), the redeemed token of l2 (expired), the
	// sessions of l (expired) and l2 (live for another second).
	if n, err = e.s.Sweep(context.Background()); err != nil || n != 3 {
		t.Fatalf("sweep removed %d (%v), want 3", n, err)
	}
	if e.keys(t, bucketTokens) != 0 || e.keys(t, bucketSessions) != 1 {
		t.Fatalf("left %d tokens, %d sessions", e.keys(t, bucketTokens), e.keys(t, bucketSessions))
	}
	if e.s.CustomerActive(l.Customer) || !e.s.CustomerActive(l2.Customer) || !e.verify(t, l2.Username, l2.Password) {
		t.Fatal("active after sweep is wrong")
	}
	e.s.mu.RLock()
	_, cached := e.s.active[l.Customer]
	e.s.mu.RUnlock()
	if cached {
		t.Fatal("the sweep left an expired customer in the cache")
	}
}

// Sessions and tokens survive closing and reopening the database file; the
// new Store loads its cache from disk.
func TestRestart(t *testing.T) {
	e := newEnv(t, Options{})
	used := e.issue(t, "")
	l := e.redeem(t, used.Token)
	pending := e.issue(t, "")
	e.restart(t)
	if !e.s.CustomerActive(l.Customer) || !e.verify(t, l.Username, l.Password) {
		t.Fatal("session lost in the restart")
	}
	_, err := e.s.Redeem(context.Background(), used.Token)
	wantErr(t, err, ErrUsed)
	l2 := e.redeem(t, pending.Token)
	if !e.s.CustomerActive(l2.Customer) {
		t.Fatal("a redeem after the cache loaded is not in it")
	}
	e.restart(t)
	// First touch through VerifyCustomer loads the cache too.
	if !e.verify(t, l2.Username, l2.Password) || !e.s.CustomerActive(l.Customer) {
		t.Fatal("second restart lost a session")
	}
}

// The raw database file holds neither the token nor the password.
func TestNoSecretsAtRest(t *testing.T) {
	e := newEnv(t, Options{})
	tk := e.issue(t, "")
	l := e.redeem(t, tk.Token)
	pending := e.issue(t, "")
	e.stop(t)
	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte("customer_sessions")) || !bytes.Contains(raw, []byte(l.Customer)) {
		t.Fatal("the search looked at the wrong file")
	}
	for _, s := range []string{tk.Token, pending.Token, l.Password} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("the database file contains the secret %q", s)
		}
	}
}

// Every Update function survives running twice (once rolled back).
func TestUpdateFunctionsRunTwice(t *testing.T) {
	db, err := store.Open(store.Options{Path: t.TempDir() + "/store.db"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := newEnv(t, Options{}).clock
	s, err := New(Options{DB: twiceDB{db}, PublicURL: publicURL, Now: clock.Now, MaxActiveTokens: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := s.Issue(ctx, "", "tablet-01")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Issue(ctx, "", "tablet-01"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Issue(ctx, "", "tablet-01")
	wantErr(t, err, ErrQuota)
	l, err := s.Redeem(ctx, a.Token)
	if err != nil || l.Customer != a.Customer {
		t.Fatalf("redeem: %+v, %v", l, err)
	}
	if ok, err := s.VerifyCustomer(l.Username, []byte(l.Password)); !ok || err != nil {
		t.Fatalf("verify: %v, %v", ok, err)
	}
	_, err = s.Redeem(ctx, a.Token)
	wantErr(t, err, ErrUsed)
	clock.Advance(DefaultSessionTTL)
	if n, err := s.Sweep(ctx); err != nil || n != 3 {
		t.Fatalf("sweep: %d, %v; want 3", n, err)
	}
}

func TestNewValidation(t *testing.T) {
	e := newEnv(t, Options{})
	for i, o := range []Options{
		{PublicURL: publicURL},
		{DB: e.db},
		{DB: e.db, PublicURL: "storeedge.local/chat"},
		{DB: e.db, PublicURL: "/chat"},
		{DB: e.db, PublicURL: "ftp://storeedge.local/chat"},
		{DB: e.db, PublicURL: "http://user:pw@storeedge.local/chat"},
		{DB: e.db, PublicURL: "http://%zz"},
		{DB: e.db, PublicURL: publicURL, TokenTTL: -1},
		{DB: e.db, PublicURL: publicURL, SessionTTL: -1},
		{DB: e.db, PublicURL: publicURL, MaxActiveTokens: -1},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("options %d accepted", i)
		}
	}
	s, err := New(Options{DB: e.db, PublicURL: "https://shop.example/c?lang=de"})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := s.Issue(context.Background(), "", "tablet-01")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("https://shop.example/c?lang=de&t=%s", tk.Token); tk.URL != want {
		t.Fatalf("URL %q, want %q", tk.URL, want)
	}
}

// The cache is loaded once while redeems and checks run concurrently.
func TestConcurrentActiveChecks(t *testing.T) {
	e := newEnv(t, Options{})
	old := e.redeem(t, e.issue(t, "").Token)
	e.restart(t)
	var tks []Ticket
	for range 8 {
		tks = append(tks, e.issue(t, ""))
	}
	var wg sync.WaitGroup
	for _, tk := range tks {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := e.s.Redeem(context.Background(), tk.Token); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if !e.s.CustomerActive(old.Customer) {
				t.Error("old customer not active")
			}
		}()
	}
	wg.Wait()
	for _, tk := range tks {
		if !e.s.CustomerActive(tk.Customer) {
			t.Errorf("customer %s not active after its redeem", tk.Customer)
		}
	}
}
