package proto

// StoreHealth is the answer of svc/store/health (staff): what the staff
// console's store health panel shows beside the devices' status topics and
// cloudsync/status.
type StoreHealth struct {
	DBBytes            int64  `json:"db_bytes"`
	MediaBytes         int64  `json:"media_bytes"`
	MediaReservedBytes int64  `json:"media_reserved_bytes"`
	MediaMaxBytes      int64  `json:"media_max_bytes"`
	DiskFreeBytes      uint64 `json:"disk_free_bytes"`
	DiskTotalBytes     uint64 `json:"disk_total_bytes"`
	Connections        int64  `json:"connections"`
	Cloud              bool   `json:"cloud"` // the link to HQ is configured
	CloudConnected     bool   `json:"cloud_connected"`
	OutboxEntries      int64  `json:"outbox_entries"`
	OutboxBytes        int64  `json:"outbox_bytes"`
}
