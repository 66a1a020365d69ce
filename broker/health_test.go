package broker_test

import (
	"testing"

	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestStoreHealth: staff read the disk, database and media use; other
// roles may not.
func TestStoreHealth(t *testing.T) {
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{{ID: "staff-anna", Role: "staff"}, {ID: "cam-1", Role: "camera"}}})
	staff := s.Connect(t, storetest.Device{ID: "staff-anna", Role: "staff"}, "")
	var h struct {
		DBBytes        int64  `json:"db_bytes"`
		MediaBytes     int64  `json:"media_bytes"`
		MediaMaxBytes  int64  `json:"media_max_bytes"`
		DiskFreeBytes  uint64 `json:"disk_free_bytes"`
		DiskTotalBytes uint64 `json:"disk_total_bytes"`
		Connections    int64  `json:"connections"`
		Cloud          bool   `json:"cloud"`
	}
	storetest.OK(t, staff.Call(t, "store", "health", `{}`)).Decode(t, &h)
	if h.DBBytes <= 0 || h.DiskTotalBytes == 0 || h.DiskFreeBytes > h.DiskTotalBytes || h.MediaMaxBytes <= 0 || h.Connections < 1 || h.Cloud {
		t.Fatalf("health: %+v", h)
	}
	cam := s.Connect(t, storetest.Device{ID: "cam-1", Role: "camera"}, "")
	if a, err := cam.TryCall("store", "health", "h-1", `{}`); err == nil {
		storetest.Fails(t, a, "forbidden", "")
	}
}
