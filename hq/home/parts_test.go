package home

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/storeedge/storeedge/internal/httpjson"
)

// shopPart is a part of the page served by another package: one path that
// answers with the customer it was given.
type shopPart struct{}

func (shopPart) Mount(mux *http.ServeMux, auth func(HandlerFunc) http.HandlerFunc) {
	mux.HandleFunc("GET /home/api/v1/part-test", auth(func(w http.ResponseWriter, _ *http.Request, c Customer) {
		httpjson.Write(w, http.StatusOK, map[string]string{"id": c.ID, "store": c.Store, "customer": c.Customer, "login": c.Login})
	}))
}

// The other parts' routes are served under /home/api/v1/ behind the same
// login, and get the signed-in customer.
func TestPartsAreMountedBehindTheLogin(t *testing.T) {
	e := start(t, Config{})
	mux := http.NewServeMux()
	srv, err := New(Options{Pool: e.rep.Pool(), Keys: e.keys, Publisher: e.srv.o.Publisher, Parts: []Routes{shopPart{}}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/home/", srv.Handler())
	e.web = httptest.NewServer(mux)
	t.Cleanup(e.web.Close)
	tok := e.signIn(t, "s-a", "cust-1")
	e.call(t, "GET", "/part-test", "", nil, 401, nil)
	var got struct{ ID, Store, Customer, Login string }
	e.call(t, "GET", "/part-test", tok, nil, 200, &got)
	var me struct {
		Customer customerJSON
		Login    string
	}
	e.call(t, "GET", "/me", tok, nil, 200, &me)
	if got.Store != "s-a" || got.Customer != "cust-1" || got.ID != me.Customer.ID || got.Login != me.Login {
		t.Fatalf("the part got %+v", got)
	}
}
