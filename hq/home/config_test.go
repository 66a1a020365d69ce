package home

import (
	"strings"
	"testing"
	"time"
)

// Zero settings take the documented defaults; a setting that cannot work
// is named in the error.
func TestConfig(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.LoginTTL != 4320*time.Hour || c.PageSize != 100 || c.ReplyWait != 4*time.Second || c.MaxText != 4096 ||
		c.MessagesPerMinute != 30 || c.MaxMedia != 4<<20 || c.RecallWindow != 2*time.Minute || c.MaxWait != 25*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := Config{LoginTTL: time.Minute, PageSize: 5000, MaxMedia: 10, MaxWait: time.Minute}.Validate()
	for _, want := range []string{"home.login_ttl", "home.page_size", "home.max_media_bytes", "home.max_wait"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v does not name %s", err, want)
		}
	}
}
