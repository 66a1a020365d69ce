package broker

import (
	"fmt"
	"os"
	"time"

	"github.com/storeedge/storeedge/broker/services/chat"
	"github.com/storeedge/storeedge/broker/services/homelink"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/cloudsync"
	"github.com/storeedge/storeedge/configs"
)

// HomeConfig configures "continue at home" (broker/services/homelink).
type HomeConfig struct {
	// LinkTTL is how long a link code made by svc/home/link may be
	// redeemed at HQ: 1m to 24h.
	LinkTTL time.Duration `yaml:"link_ttl"`
	// MaxLinks is how many links of one customer may be open at once: 1
	// to 100.
	MaxLinks int `yaml:"max_links"`
}

func (c HomeConfig) validate() error {
	if c.LinkTTL < homelink.MinLinkTTL || c.LinkTTL > homelink.MaxLinkTTL {
		return fmt.Errorf("home.link_ttl %s: from 1m to 24h", c.LinkTTL)
	}
	if c.MaxLinks < 1 || c.MaxLinks > homelink.MaxMaxLinks {
		return fmt.Errorf("home.max_links %d: from 1 to %d", c.MaxLinks, homelink.MaxMaxLinks)
	}
	return nil
}

// newHome builds the "continue at home" service: it vouches for the
// store's customers to HQ through cloudsync's outbox, and links open the
// page at cloud.yaml's home_url. Without the bridge or home_url its ops
// answer unavailable.
func (b *Broker) newHome(router *svc.Router, bridge *cloudsync.Bridge, cs *chat.Service) (*homelink.Service, error) {
	o := homelink.Options{DB: b.db, Router: router, Seal: b.keys, StoreID: b.cfg.StoreID, LinkTTL: b.cfg.Home.LinkTTL, MaxLinks: b.cfg.Home.MaxLinks,
		StaffRoles: b.cfg.Chat.StaffRoles, Customers: cs, Now: b.cfg.Now, Log: b.log}
	if bridge != nil {
		o.Outbox = bridge.Outbox()
		mapYAML := configs.Cloud
		if f := b.cfg.Cloud.MapFile; f != "" {
			var err error
			if mapYAML, err = os.ReadFile(f); err != nil {
				return nil, fmt.Errorf("cloud.map_file: %w", err)
			}
		}
		u, err := cloudsync.ParseHomeURL(mapYAML)
		if err != nil {
			return nil, err
		}
		o.HomeURL = u
		if b.cfg.Cloud.HomeURL != "" { // store.yaml's wins: validated with the rest
			o.HomeURL = b.cfg.Cloud.HomeURL
		}
	}
	h, err := homelink.New(o)
	if err != nil {
		return nil, err
	}
	return h, h.Register()
}
