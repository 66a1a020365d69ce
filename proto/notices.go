package proto

import "time"

// The store's side of HQ's notices (PROTOCOL.md, "Notices from HQ"): what
// the notices service keeps of the Notices HQ sent (TopicNotice,
// TopicBroadcastNotice) and shows staff.

// ServiceNotices is the notices service: svc/notices/{op}.
const ServiceNotices = "notices"

// OpNoticesList lists the notices kept: svc/notices/list.
const OpNoticesList = "list"

// TopicNoticeEvents carries a NoticeEvent for each notice stored.
const TopicNoticeEvents = "notices/events"

// NoticesListRequest asks for the newest notices (Limit 0: the service's
// page size).
type NoticesListRequest struct {
	Limit int `json:"limit,omitempty"`
}

// StoreNotice is a notice as the store keeps it: HQ's Notice and when the
// store received it (its own clock).
type StoreNotice struct {
	Notice
	Received time.Time `json:"received"`
}

// NoticesList answers svc/notices/list: the notices kept and not expired,
// newest first.
type NoticesList struct {
	Notices []StoreNotice `json:"notices"`
}

// NoticeEvent is published on TopicNoticeEvents when a notice is stored.
type NoticeEvent struct {
	Type   string      `json:"type"` // "notice"
	Notice StoreNotice `json:"notice"`
}
