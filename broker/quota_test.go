package broker_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/storetest"
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
