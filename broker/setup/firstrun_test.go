package setup_test

// The first run, against a whole broker: no admin account, a one-time
// setup address, the owner's POST, then a store with her name, her kind of
// shop's FAQ and her admin account — and an address that no longer works.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// catalogs records the catalogues the setup installs (the editable
// catalogue is another part of the store; here only what it is given
// matters).
type catalogs struct {
	mu  sync.Mutex
	got [][]byte
}

func (c *catalogs) ReplaceCatalog(_ context.Context, y []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, y)
	return nil
}

func (c *catalogs) all() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got
}

type firstRun struct {
	s      *storetest.Store
	admins *storetest.Admins
	cats   *catalogs
}

func startFirstRun(t *testing.T, cfg func(*broker.Config)) *firstRun {
	t.Helper()
	f := &firstRun{cats: &catalogs{}}
	f.s = storetest.Start(t, storetest.Options{
		Devices: []storetest.Device{{ID: "tab-1", Role: "chat-tablet"}},
		Config:  cfg,
		Wire: func(s *storetest.Store, c *broker.Config) {
			if f.admins == nil {
				f.admins = storetest.FileAdmins(s)
			}
			c.Admins, c.Catalogs = f.admins, f.cats
		},
	})
	return f
}

type setupAnswer struct {
	status int
	body   string
	err    struct {
		Code, Field, Message, MessageZH string
		RetryAfter                      int64
	}
}

func post(t *testing.T, httpAddr, path string, body any) setupAnswer {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(j))
	}
	resp, err := http.Post("http://"+httpAddr+path, "application/json", rd)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := setupAnswer{status: resp.StatusCode, body: string(raw)}
	var e struct {
		Error struct {
			Code       string `json:"code"`
			Field      string `json:"field"`
			Message    string `json:"message"`
			MessageZH  string `json:"message_zh"`
			RetryAfter int64  `json:"retry_after"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	a.err.Code, a.err.Field, a.err.Message, a.err.MessageZH, a.err.RetryAfter = e.Error.Code, e.Error.Field, e.Error.Message, e.Error.MessageZH, e.Error.RetryAfter
	return a
}

func storeName(t *testing.T, httpAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/client.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.Name
}

func codeOf(t *testing.T, addr string) string {
	t.Helper()
	u, err := url.Parse(addr)
	if err != nil || u.Path != "/setup" || u.Query().Get("code") == "" {
		t.Fatalf("setup address %q: want http://host:port/setup?code=…", addr)
	}
	return u.Query().Get("code")
}

func goodRequest(code string) map[string]any {
	return map[string]any{"code": code, "name": "汪汪洗护 Paws", "time_zone": "Asia/Shanghai", "languages": []string{"en", "zh"},
		"kind": "pet", "admin_name": "owner", "admin_password": "correct horse"}
}

func TestFirstRun(t *testing.T) {
	f := startFirstRun(t, nil)
	s := f.s
	addr := s.Broker().SetupAddress()
	code := codeOf(t, addr)
	if !strings.HasPrefix(addr, "http://"+s.HTTP+"/") {
		t.Errorf("setup address %q, want the HTTP listener's address %s", addr, s.HTTP)
	}
	// The printed address opens the page.
	resp, err := http.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/setup/" || resp.Request.URL.Query().Get("code") != code ||
		!strings.Contains(string(page), `src="/setup/setup.js"`) {
		t.Fatalf("GET %s = %d at %s, want the setup page with the code", addr, resp.StatusCode, resp.Request.URL)
	}
	if got := storeName(t, s.HTTP); got != "demo-store" {
		t.Fatalf("before the setup the store is called %q, want its id", got)
	}

	// A wrong code: 403, nothing changes; a wrong field: 400 naming it in
	// both languages, nothing changes, the code still works.
	wrong := goodRequest(strings.ToUpper(code))
	if a := post(t, s.HTTP, "/setup", wrong); a.status != http.StatusForbidden || a.err.Code != "forbidden" || a.err.MessageZH == "" {
		t.Fatalf("wrong code: %d %s", a.status, a.body)
	}
	for field, v := range map[string]any{
		"name": "  ", "time_zone": "Mars/Olympus", "languages": []string{"fr"}, "kind": "zoo",
		// 9 characters: short of the registry's minimum
		// (accounts.min_password_length, 10), so refused here, before
		// anything is saved, and not by the registry after the settings.
		"admin_name": "Owner!", "admin_password": "ninechars",
	} {
		r := goodRequest(code)
		r[field] = v
		a := post(t, s.HTTP, "/setup", r)
		if a.status != http.StatusBadRequest || a.err.Code != "bad_request" || a.err.Field != field || a.err.Message == "" || a.err.MessageZH == "" {
			t.Errorf("bad %s: %d %s, want 400 bad_request naming %s in both languages", field, a.status, a.body, field)
		}
		if field == "admin_password" && !strings.Contains(a.err.Message, "at least 10") {
			t.Errorf("a 9-character password: %q, want the minimum of 10", a.err.Message)
		}
	}
	if a := post(t, s.HTTP, "/setup", `{"code":"`+code+`","nmae":"x"}`); a.status != http.StatusBadRequest {
		t.Errorf("a misspelt field: %d %s, want 400", a.status, a.body)
	}
	if got := storeName(t, s.HTTP); got != "demo-store" || len(f.admins.Created) != 0 || len(f.cats.all()) != 0 {
		t.Fatalf("refused requests changed the store: name %q, admins %v, catalogues %d", got, f.admins.Created, len(f.cats.all()))
	}

	// The owner's setup.
	a := post(t, s.HTTP, "/setup", goodRequest(code))
	if a.status != http.StatusOK || !strings.Contains(a.body, `"console":"/console/"`) || !strings.Contains(a.body, `"admin":"owner"`) {
		t.Fatalf("setup: %d %s", a.status, a.body)
	}
	if got := storeName(t, s.HTTP); got != "汪汪洗护 Paws" {
		t.Errorf("after the setup the store is called %q", got)
	}
	if cats := f.cats.all(); len(cats) != 1 || !strings.Contains(string(cats[0]), "dog-groom") || strings.Contains(string(cats[0]), "baby-swim") {
		t.Errorf("installed catalogues: %d, want the pet starter", len(cats))
	}
	// Her account works, and is an admin (staff ops answer her).
	owner := s.ConnectAs(t, "owner", "correct horse", "console", false)
	var qr struct {
		QuickReplies []struct{ ID string } `json:"quick_replies"`
	}
	storetest.OK(t, owner.Call(t, "chat", "quick_replies", `{}`)).Decode(t, &qr)
	ids := fmt.Sprint(qr.QuickReplies)
	if !strings.Contains(ids, "see_vet") || strings.Contains(ids, "see_doctor") {
		t.Errorf("quick replies after a pet shop's setup: %s, want the pet starter's", ids)
	}
	// A customer writing before opening time gets the pet shop's
	// after-hours reply: a vet, not 120.
	afterHours := customerAsks(t, s, owner, "hello, is anyone there?")
	if strings.Contains(afterHours, "120") || !strings.Contains(afterHours, "vet") {
		t.Errorf("after-hours reply in a pet shop: %q", afterHours)
	}

	// The code is used up: the same request again is 403 and changes
	// nothing; the broker no longer gives the address.
	again := goodRequest(code)
	again["name"] = "Someone else"
	again["admin_name"] = "intruder"
	if a := post(t, s.HTTP, "/setup", again); a.status != http.StatusForbidden {
		t.Fatalf("the used code again: %d %s", a.status, a.body)
	}
	if s.Broker().SetupAddress() != "" || storeName(t, s.HTTP) != "汪汪洗护 Paws" || len(f.admins.Created) != 1 {
		t.Fatalf("after a used code: address %q, name %q, admins %v", s.Broker().SetupAddress(), storeName(t, s.HTTP), f.admins.Created)
	}

	// A restart keeps all of it and asks for no setup.
	s.Restart()
	if got := s.Broker().SetupAddress(); got != "" {
		t.Errorf("after a restart with an admin: setup address %q", got)
	}
	if got := storeName(t, s.HTTP); got != "汪汪洗护 Paws" {
		t.Errorf("after a restart the store is called %q", got)
	}
	owner = s.ConnectAs(t, "owner", "correct horse", "console2", false)
	storetest.OK(t, owner.Call(t, "chat", "quick_replies", `{}`)).Decode(t, &qr)
	if ids := fmt.Sprint(qr.QuickReplies); !strings.Contains(ids, "see_vet") {
		t.Errorf("quick replies after a restart: %s", ids)
	}
}

// customerAsks starts a chat as a phone scanning the counter code does,
// sends text and returns the automatic replies the customer got.
func customerAsks(t *testing.T, s *storetest.Store, staff *storetest.Client, text string) string {
	t.Helper()
	a := post(t, s.HTTP, "/chat/start", `{}`)
	var login struct{ Username, Password string }
	if err := json.Unmarshal([]byte(a.body), &login); a.status != http.StatusOK || err != nil || login.Username == "" {
		t.Fatalf("POST /chat/start: %d %s", a.status, a.body)
	}
	cust := s.ConnectAs(t, login.Username, login.Password, "phone", false)
	var open struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	storetest.OK(t, cust.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, open.Conversation, text)))
	var hist struct {
		Messages []struct {
			Auto bool   `json:"auto"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	storetest.OK(t, staff.Call(t, "chat", "history", fmt.Sprintf(`{"conversation":%q}`, open.Conversation))).Decode(t, &hist)
	var out []string
	for _, m := range hist.Messages {
		if m.Auto {
			out = append(out, m.Text)
		}
	}
	return strings.Join(out, "\n")
}

// Setup attempts are limited per address: a guesser gets 429 and then
// nothing, while the owner's one request still works once the minute
// has passed (the store's clock).
func TestSetupAttemptsAreLimited(t *testing.T) {
	f := startFirstRun(t, func(c *broker.Config) { c.Setup.AttemptsPerMinute = 3; c.Setup.AttemptsTotalPerMinute = 3 })
	s := f.s
	code := codeOf(t, s.Broker().SetupAddress())
	for i := range 3 {
		if a := post(t, s.HTTP, "/setup", goodRequest(fmt.Sprintf("guess-%d", i))); a.status != http.StatusForbidden {
			t.Fatalf("guess %d: %d %s", i, a.status, a.body)
		}
	}
	a := post(t, s.HTTP, "/setup", goodRequest(code))
	if a.status != http.StatusTooManyRequests || a.err.Code != "rate_limited" || a.err.RetryAfter < 1 || a.err.MessageZH == "" {
		t.Fatalf("4th attempt in a minute: %d %s, want 429 rate_limited", a.status, a.body)
	}
	if len(f.admins.Created) != 0 {
		t.Fatal("a refused attempt created an admin")
	}
	if m := metric(t, s.HTTP, `storeedge_http_rate_limited_total{limit="setup_attempts_per_address"}`); m != "1" {
		t.Errorf("refused attempts counted %q, want 1", m)
	}
	s.Advance(61e9)
	if a := post(t, s.HTTP, "/setup", goodRequest(code)); a.status != http.StatusOK {
		t.Fatalf("after a minute: %d %s", a.status, a.body)
	}
}

// A store that has an admin (here from its devices file, as a store
// provisioned by script has) needs no setup: no address, and POST /setup is
// refused.
func TestNoSetupWithAnAdmin(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "owner", Role: "admin"}}})
	if got := s.Broker().SetupAddress(); got != "" {
		t.Fatalf("setup address with an admin: %q", got)
	}
	if a := post(t, s.HTTP, "/setup", goodRequest("anything")); a.status != http.StatusForbidden {
		t.Fatalf("POST /setup with an admin: %d %s", a.status, a.body)
	}
}
