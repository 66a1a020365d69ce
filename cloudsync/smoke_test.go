package cloudsync_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/mosquittotest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
	"github.com/storeedge/storeedge/proto"
)

func TestTelemetryReachesHQ(t *testing.T) {
	hqb := startMosquitto(t, mosquittotest.Options{})
	k := newConsumer(t, hqb.Addr, "hq-consumer", "stores/+/up/#")
	px := link(t, hqb.Addr)
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "kiosk-1", Role: "kiosk"}},
		Config: cloudConfig(px.Addr(), nil)})
	dev := s.Connect(t, storetest.Device{ID: "kiosk-1", Role: "kiosk"}, "")
	for i := range 100 {
		dev.Publish(t, "devices/kiosk-1/status", fmt.Appendf(nil, `{"n":%d}`, i))
	}
	k.waitFirst(100, 10*time.Second)
	for i, m := range k.messages() {
		if m.LocalTopic != "devices/kiosk-1/status" || string(m.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	// The first link's backfill carried the shop: HQ knows its catalogue
	// and time zone before anything in it changes.
	k.mu.Lock()
	shops := slices.Clone(k.shops)
	k.mu.Unlock()
	if len(shops) != 1 {
		t.Fatalf("HQ got the shop %d times, want once", len(shops))
	}
	var info proto.ShopInfo
	if err := json.Unmarshal(shops[0].Payload, &info); err != nil || info.TimeZone == "" || len(info.Catalog.Services) == 0 {
		t.Fatalf("the shop at HQ: %v, %+v", err, info)
	}
}
