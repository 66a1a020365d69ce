package booking

import (
	"errors"
	"fmt"
	"time"

	"github.com/storeedge/storeedge/proto"
)

// CatalogOfShopInfo builds the catalogue a store's shop info describes
// (what HQ's replica keeps of it: the catalogue, its zone and its
// closures), so that HQ offers free times by the same rules as the store
// when it cannot ask the store.
func CatalogOfShopInfo(si proto.ShopInfo) (*Catalog, error) {
	zoneName := si.TimeZone
	if zoneName == "" {
		zoneName = si.Catalog.TimeZone
	}
	zone, err := time.LoadLocation(zoneName)
	if err != nil {
		return nil, fmt.Errorf("booking: shop info: time zone %q: %w", zoneName, err)
	}
	closures := make([]proto.Closure, 0, len(si.Closures))
	for _, c := range si.Closures {
		closures = append(closures, proto.Closure{Date: c.Date, Until: c.Until, Reason: proto.Text{ZH: c.Name, EN: c.Name}})
	}
	cat, errs := buildCatalog(configFrom(si.Catalog, zone, closures), nil)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("booking: shop info: %w", err)
	}
	return cat, nil
}
