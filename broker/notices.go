package broker

import (
	"github.com/storeedge/storeedge/broker/services/notices"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/cloudsync"
)

// NoticesConfig configures the store's copy of HQ's notices
// (broker/services/notices).
type NoticesConfig struct {
	// Keep is how many notices are kept; past it the oldest go.
	Keep int `yaml:"keep"`
	// MaxBytes is the largest notice taken from HQ; a larger one is refused.
	MaxBytes int `yaml:"max_bytes"`
	// Roles may list the notices (svc/notices/list) and see them in the console.
	Roles []string `yaml:"roles"`
}

// newNotices builds the notices service, with cloudsync's outbox for the
// acknowledgements when the bridge runs.
func (b *Broker) newNotices(router *svc.Router, bridge *cloudsync.Bridge) (*notices.Service, error) {
	c := b.cfg.Notices
	o := notices.Options{DB: b.db, Router: router, Now: b.cfg.Now, Keep: c.Keep, MaxBytes: c.MaxBytes, Roles: c.Roles, Log: b.log}
	if bridge != nil {
		o.Outbox = bridge.Outbox()
	}
	n, err := notices.New(o)
	if err != nil {
		return nil, err
	}
	return n, n.Register()
}
