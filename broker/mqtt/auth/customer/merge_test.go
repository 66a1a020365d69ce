package customer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Two phones, two ids, one person: after Merge(b, a) the second phone's
// password is a login of a (after Relogin tells it so), b's own logins have
// ended, and a code issued for b is one for a.
func TestMerge(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	a := e.redeem(t, e.issue(t, "").Token)
	b := e.redeem(t, e.issue(t, "").Token)
	if err := e.s.Merge(ctx, b.Customer, a.Customer); err != nil {
		t.Fatal(err)
	}
	if e.verify(t, b.Username, b.Password) || e.s.CustomerActive(b.Customer) {
		t.Fatal("the merged id still logs in as itself")
	}
	if !e.verify(t, a.Username, b.Password) || !e.verify(t, a.Username, a.Password) {
		t.Fatal("after the merge both phones' passwords should be logins of the kept id")
	}
	l, err := e.s.Relogin(b.Username, b.Password)
	if err != nil || l.Customer != a.Customer || l.Username != a.Customer || l.Password != b.Password {
		t.Fatalf("relogin: %+v, %v", l, err)
	}
	for _, c := range [][2]string{{b.Username, "wrong"}, {a.Username, a.Password}, {"cust-nobody", "x"}} {
		if _, err := e.s.Relogin(c[0], c[1]); err == nil {
			t.Fatalf("relogin %v accepted", c)
		}
	}
	if tk := e.issue(t, b.Customer); tk.Customer != a.Customer {
		t.Fatalf("a code for the merged id is for %s, want %s", tk.Customer, a.Customer)
	}
	if err := e.s.Merge(ctx, b.Customer, a.Customer); err != nil {
		t.Fatalf("a repeated merge: %v", err)
	}
	c := e.redeem(t, e.issue(t, "").Token)
	wantErr(t, e.s.Merge(ctx, b.Customer, c.Customer), ErrInvalid) // b is a's already
	wantErr(t, e.s.Merge(ctx, c.Customer, b.Customer), ErrInvalid) // into an alias
	wantErr(t, e.s.Merge(ctx, a.Customer, a.Customer), ErrInvalid)
	// a merged into c: b follows to c.
	if err := e.s.Merge(ctx, a.Customer, c.Customer); err != nil {
		t.Fatal(err)
	}
	if into, _ := e.s.AliasOf(b.Customer); into != c.Customer {
		t.Fatalf("b is an alias of %q, want %s", into, c.Customer)
	}

	// Over HTTP, as the chat page does on a refused login.
	srv := httptest.NewServer(e.s.Handler())
	defer srv.Close()
	res, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"username":"`+b.Username+`","password":"`+b.Password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("relogin over HTTP: %d", res.StatusCode)
	}
	res, err = http.Post(srv.URL, "application/json", strings.NewReader(`{"username":"`+c.Username+`","password":"`+c.Password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("relogin of an id not merged: %d, want 404", res.StatusCode)
	}
}
