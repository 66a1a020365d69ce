package broker_test

import (
	"strings"
	"testing"

	"github.com/storeedge/storeedge/broker"
)

// The activity log's limits are checked at start: a log kept too short to
// mean anything, a page out of range or nobody allowed to read it stops the
// daemon with the key named.
func TestAuditConfigValidated(t *testing.T) {
	for name, bad := range map[string]func(*broker.Config){
		"keep":      func(c *broker.Config) { c.Audit.Keep = 10 },
		"page_size": func(c *broker.Config) { c.Audit.PageSize = 500 },
		"roles":     func(c *broker.Config) { c.Audit.Roles = nil },
	} {
		c, err := broker.DefaultConfig()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("the default: %v", err)
		}
		bad(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "audit:") {
			t.Errorf("audit.%s out of range: %v", name, err)
		}
	}
}
