package broker

import (
	"strings"
	"testing"
	"time"
)

// home.link_ttl is 15m by default and 1m to 24h; outside, the error names
// the key and the range.
func TestHomeLinkTTL(t *testing.T) {
	c, err := DefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Home.LinkTTL != 15*time.Minute {
		t.Fatalf("default home.link_ttl %s", c.Home.LinkTTL)
	}
	for _, d := range []time.Duration{0, 30 * time.Second, 25 * time.Hour} {
		c.Home.LinkTTL = d
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "home.link_ttl") || !strings.Contains(err.Error(), "from 1m to 24h") {
			t.Errorf("home.link_ttl %s: %v", d, err)
		}
	}
	c.Home.LinkTTL = time.Hour
	if err := c.Validate(); err != nil && strings.Contains(err.Error(), "home.link_ttl") {
		t.Errorf("1h: %v", err)
	}
	for _, n := range []int{0, 101} {
		c.Home.MaxLinks = n
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "home.max_links") || !strings.Contains(err.Error(), "from 1 to 100") {
			t.Errorf("home.max_links %d: %v", n, err)
		}
	}
}
