package proto

import (
	"encoding/json"
	"time"
)

// The activity log (broker/audit; PROTOCOL.md, "Activity log").

// ServiceAdmin is the service of the admins' ops: svc/admin/{op}.
const ServiceAdmin = "admin"

// OpAuditList lists the activity log: svc/admin/audit.list.
const OpAuditList = "audit.list"

// AuditListRequest asks for the entries older than Before (a seq; 0: the
// newest), newest first, at most Limit (0: the store's page size).
type AuditListRequest struct {
	Before uint64 `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// AuditEntry is one admin action: who (Actor, a device or staff id), what
// (Action, e.g. "booking.book"), on what (Target), when (TS, the store's
// clock, UTC) and the thing Before and After (JSON, absent for none). Seq
// numbers the store's entries. The same entry goes to HQ on
// stores/{store}/up/audit/entries.
type AuditEntry struct {
	V      int             `json:"v"`
	Seq    uint64          `json:"seq"`
	TS     time.Time       `json:"ts"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target,omitempty"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// AuditPage is the answer of audit.list. More says there are older
// entries: ask again with Before = Next. Kept is how many entries the
// store keeps now, Dropped how many older ones it let go (audit.keep).
type AuditPage struct {
	Entries []AuditEntry `json:"entries"`
	More    bool         `json:"more"`
	Next    uint64       `json:"next,omitempty"`
	Kept    uint64       `json:"kept"`
	Dropped uint64       `json:"dropped"`
}
