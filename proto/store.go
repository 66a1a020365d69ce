package proto

import "time"

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
	// DiskMinFreeBytes is persistence.min_free_disk_bytes: below it on
	// the disk of data_dir writes are refused (0 = no floor).
	DiskMinFreeBytes uint64 `json:"disk_min_free_bytes,omitempty"`
	// WritesRefused says why the store refuses writes now (QoS 1/2
	// publishes 0x97, services quota_exceeded): "disk_full" (less free on
	// the disk than DiskMinFreeBytes, or a write ran out of disk and no
	// room has come back since), "db_full" (the database is at
	// persistence.max_db_bytes); absent while writes go in.
	WritesRefused string `json:"writes_refused,omitempty"`
	// Clock: whether the box's clock has been set from a time source.
	Clock *ClockHealth `json:"clock,omitempty"`
	// Backup: the daily backups' state (Enabled false when they are off).
	Backup *BackupHealth `json:"backup,omitempty"`
	// Schema is the database's schema version.
	Schema int `json:"schema,omitempty"`
	// Checks are storeedge doctor's checks, the same as on the box's shell.
	Checks []HealthCheck `json:"checks,omitempty"`
}

// ClockHealth is the box's clock as svc/store/health reports it.
type ClockHealth struct {
	// Synced: the kernel's clock has been set from a time source (NTP) since
	// boot. A box without a real-time clock boots in the past until then.
	Synced bool `json:"synced"`
	// Source names what said so: "kernel" (adjtimex) on a box.
	Source string `json:"source"`
	// Error: the source could not be read (the clock then counts as not
	// synced); "" when it could.
	Error string `json:"error,omitempty"`
	// Jumps counts the steps of the wall clock seen since the daemon
	// started (more than clock.jump_threshold either way); LastJumpAt is
	// when the last one landed and LastJumpSeconds how far it moved the
	// clock (negative: back). Absent before the first.
	Jumps           uint64     `json:"jumps,omitempty"`
	LastJumpAt      *time.Time `json:"last_jump_at,omitempty"`
	LastJumpSeconds float64    `json:"last_jump_s,omitempty"`
}

// BackupHealth is the daily backups' state as svc/store/health reports it.
type BackupHealth struct {
	// Last is when the last backup was attempted; nil when none yet.
	Last *time.Time `json:"last,omitempty"`
	// LastOK is when the last backup succeeded; nil when none yet.
	LastOK *time.Time `json:"last_ok,omitempty"`
	// Error is the last attempt's error in people's words; "" when it succeeded.
	Error string `json:"error,omitempty"`
	// Kept is how many backup files the backup folder holds.
	Kept int `json:"kept"`
	// Enabled: daily backups are on (a passphrase or a recipient is set);
	// Off says why not in people's words.
	Enabled bool   `json:"enabled"`
	Off     string `json:"off,omitempty"`
	// Dir is the backup folder; Bytes the newest backup's size; Next when
	// the next one is due.
	Dir   string     `json:"dir"`
	Bytes int64      `json:"bytes"`
	Next  *time.Time `json:"next,omitempty"`
}

// HealthCheck is one check of `storeedge doctor`, also in svc/store/health.
type HealthCheck struct {
	// Name is the check: config, database, keys, disk, inodes, certificate,
	// hq, clock, backup.
	Name string `json:"name"`
	// Severity is ok, warn or fail.
	Severity string `json:"severity"`
	// Code is a stable code for the console's words (e.g. disk_low).
	Code string `json:"code"`
	// Detail says what was found in people's words (English).
	Detail string `json:"detail"`
	// Advice says what to do about it, in people's words (English); ""
	// when the check is ok.
	Advice string `json:"advice,omitempty"`
	// Args are the values Detail and Advice are made of (a percentage, a
	// file, a time in RFC 3339, an error in English), for a page that says
	// the same in another language.
	Args map[string]string `json:"args,omitempty"`
	// Checked is when the check last ran, for a check the daemon runs
	// only now and then (database); nil when it ran for this answer.
	Checked *time.Time `json:"checked,omitempty"`
}
