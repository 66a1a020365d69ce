package broker

import (
	"encoding/json"
	"testing"

	"github.com/storeedge/storeedge/proto"
)

// The snapshot for HQ covers every service that keeps state HQ replicates:
// a conversation's messages as they were filed live, and the shop.
func TestSnapshottersCoverTheStore(t *testing.T) {
	b := startWithDevice(t, "staff-anna", "staff", nil)
	if err := b.svcs.chat.HandleHQ(t.Context(), "hq/chat/message",
		[]byte(`{"v":1,"id":"m-1","customer":"hq-c1","kind":"text","text":"What time do you open?"}`)); err != nil {
		t.Fatal(err)
	}
	topics := map[string]int{}
	var info proto.ShopInfo
	for _, s := range b.svcs.snapshotters() {
		if err := s.Snapshot(t.Context(), func(topic string, payload []byte) error {
			topics[topic]++
			if topic == proto.TopicShopInfo {
				return json.Unmarshal(payload, &info)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if topics["chat/hq-c1/hq"] < 1 || topics[proto.TopicShopInfo] != 1 || len(info.Catalog.Services) == 0 || info.TimeZone == "" {
		t.Fatalf("snapshot topics %v, shop %+v", topics, info)
	}
}
