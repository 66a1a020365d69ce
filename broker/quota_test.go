package broker_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

// With the default configuration one customer sending texts as fast as she
// can is stopped after chat.customer_messages_per_minute with
// quota_exceeded and a retry hint, the refusals are counted on /metrics,
// and staff go on. Before, 20,000 texts went in at 2,000 a second.
func TestCustomerFloodStoppedByDefaults(t *testing.T) {
	cfg, err := broker.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	perMin := cfg.Chat.CustomerMessagesPerMinute
	if perMin < 1 || cfg.Chat.CustomerBytesPerDay < 1 {
		t.Fatalf("the default config has no customer budgets: %+v", cfg.Chat)
	}
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev}})
	staff := s.Connect(t, staffDev, "")
	cust := s.CustomerLogin(t, staff, "", "phone", false)
	var open struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, cust.Call(t, "chat", "open", `{}`)).Decode(t, &open)
	send := func(c *storetest.Client, i int) storetest.Answer {
		return c.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":"message %d"}`, open.Conversation, i))
	}
	for i := range perMin {
		storetest.OK(t, send(cust, i))
	}
	for i := range 10 {
		a := storetest.Fails(t, send(cust, perMin+i), "quota_exceeded", "messages_per_minute")
		var d struct {
			Error struct {
				Details struct {
					RetryAfter int `json:"retry_after"`
				} `json:"details"`
			} `json:"error"`
		}
		a.Decode(t, &d)
		if d.Error.Details.RetryAfter < 1 || d.Error.Details.RetryAfter > 60 {
			t.Fatalf("retry_after: %s", a.Raw)
		}
	}
	storetest.OK(t, staff.Call(t, "chat", "open", fmt.Sprintf(`{"conversation":%q}`, open.Conversation)))
	storetest.OK(t, send(staff, 0))

	resp, err := http.Get("http://" + s.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := `storeedge_quota_refused_total{limit="messages_per_minute"} 10`; !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
	// Her logins renewed as she used them, none failed to.
	if want := "storeedge_customer_login_renew_failed_total 0"; !strings.Contains(string(body), want) {
		t.Fatalf("/metrics lacks %s", want)
	}
}

// The default database cap holds all media with room for the rest, and the
// new limits are validated.
func TestQuotaConfig(t *testing.T) {
	c, err := broker.DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Persistence.MaxDBBytes != 4<<30 || c.Persistence.MaxDBBytes < c.Media.MaxTotalBytes+512<<20 {
		t.Fatalf("persistence.max_db_bytes %d (media.max_total_bytes %d)", c.Persistence.MaxDBBytes, c.Media.MaxTotalBytes)
	}
	if c.Media.UploadIdleTimeout <= 0 || c.Media.UploadIdleTimeout >= c.Media.UploadTTL || c.Media.CustomerMaxUploads >= c.Media.MaxUploads ||
		c.Media.StaffReserveBytes <= 0 || c.Media.CustomerMaxReservedBytes <= 0 {
		t.Fatalf("media customer limits: %+v", c.Media)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(*broker.Config){
		"negative messages":     func(c *broker.Config) { c.Chat.CustomerMessagesPerMinute = -1 },
		"bytes below a message": func(c *broker.Config) { c.Chat.CustomerBytesPerDay = 10 },
		"tiny db cap":           func(c *broker.Config) { c.Persistence.MaxDBBytes = 1 << 20 },
		"idle over ttl":         func(c *broker.Config) { c.Media.UploadIdleTimeout = 48 * 3600e9 },
		"no customer uploads":   func(c *broker.Config) { c.Media.CustomerMaxUploads = 0 },
		"reserve over total":    func(c *broker.Config) { c.Media.StaffReserveBytes = c.Media.MaxTotalBytes },
	} {
		bad := c
		f(&bad)
		if bad.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	off := c
	off.Chat.CustomerMessagesPerMinute, off.Chat.CustomerBytesPerDay, off.Persistence.MaxDBBytes = 0, 0, 0
	if err := off.Validate(); err != nil {
		t.Fatalf("0 (no limit) refused: %v", err)
	}
}

// At persistence.max_db_bytes a write is answered quota_exceeded and stores
// nothing, reads go on, and the store recovers by itself: the upload that
// filled it lapses after media.upload_idle_timeout, the media clean-up
// deletes it, and writes fit again.
func TestFullDatabaseAnswersAndRecovers(t *testing.T) {
	staffDev := storetest.Device{ID: "staff-anna", Role: "staff"}
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{staffDev}, Config: func(c *broker.Config) {
		c.Persistence.MaxDBBytes = 16 << 20
		c.Media.CleanupInterval = time.Second
	}})
	staff := s.Connect(t, staffDev, "")
	chunk := make([]byte, 256<<10)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	data := base64.StdEncoding.EncodeToString(chunk)
	begin := func(upload string, n int) {
		storetest.OK(t, staff.Call(t, "media", "begin", fmt.Sprintf(`{"upload":%q,"type":"application/pdf","size":%d,"sha256":%q}`,
			upload, 10<<20, strings.Repeat(fmt.Sprintf("%x", n), 64))))
	}
	put := func(upload string, i int) storetest.Answer {
		return staff.Call(t, "media", "chunk", fmt.Sprintf(`{"upload":%q,"index":%d,"data":%q}`, upload, i, data))
	}
	// Fill until chunks are refused five times in a row (a refused 256 KiB
	// chunk may leave room for a smaller write; five in a row is full).
	var refused []storetest.Answer
	for u := 0; u < 4 && len(refused) < 5; u++ {
		up := fmt.Sprintf("fill-%d", u)
		begin(up, u+1)
		for i := 0; i < 40 && len(refused) < 5; i++ {
			if a := put(up, i); a.OK {
				refused = nil
			} else {
				refused = append(refused, a)
			}
		}
	}
	if len(refused) < 5 {
		t.Fatal("80 MiB of chunks fitted in a 16 MiB database")
	}
	for _, a := range refused {
		storetest.Fails(t, a, "quota_exceeded", "")
	}
	// Fill what room is left to the last page with chat messages, large
	// then tiny: there even a delete needs room bbolt would not give.
	var group struct {
		Conversation string `json:"conversation"`
	}
	storetest.OK(t, staff.Call(t, "chat", "group_create", `{"title":"fill","members":[]}`)).Decode(t, &group)
	for _, size := range []int{4000, 100, 1} {
		text := strings.Repeat("x", size)
		for fails := 0; fails < 5; {
			a := staff.Call(t, "chat", "send", fmt.Sprintf(`{"conversation":%q,"kind":"text","text":%q}`, group.Conversation, text))
			if a.OK {
				fails = 0
				continue
			}
			storetest.Fails(t, a, "quota_exceeded", "")
			fails++
		}
	}
	// Reads go on, and the health op says why writes are refused.
	storetest.OK(t, staff.Call(t, "chat", "list", `{}`))
	storetest.OK(t, staff.Call(t, "media", "status", `{"upload":"fill-0"}`))
	var health proto.StoreHealth
	storetest.OK(t, staff.Call(t, "store", "health", `{}`)).Decode(t, &health)
	if health.WritesRefused != "db_full" {
		t.Fatalf("health of a full database: writes_refused %q, want db_full", health.WritesRefused)
	}

	// The uploads lapse (status says so at once), the clean-up deletes them
	// within a second, and writes fit again.
	s.Advance(11 * time.Minute)
	storetest.Fails(t, staff.Call(t, "media", "status", `{"upload":"fill-0"}`), "not_found", "")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if a := staff.Call(t, "media", "begin", fmt.Sprintf(`{"upload":"after","type":"application/pdf","size":%d,"sha256":%q}`,
			10<<20, strings.Repeat("9", 64))); a.OK && put("after", 0).OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover within 20 s of its uploads lapsing")
		}
		time.Sleep(100 * time.Millisecond) // polling the clean-up, which runs every second
	}
	for i := 1; i < 5; i++ {
		storetest.OK(t, put("after", i))
	}
	var after proto.StoreHealth
	storetest.OK(t, staff.Call(t, "store", "health", `{}`)).Decode(t, &after)
	if after.WritesRefused != "" {
		t.Fatalf("health once writes fit again: writes_refused %q", after.WritesRefused)
	}
}
