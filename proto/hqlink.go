package proto

import (
	"encoding/json"
	"time"
)

// The link between a store and HQ (PROTOCOL.md, "The HQ link"): the user
// properties cloudsync puts on every uplink message, the store's presence,
// what the store files for HQ besides chat and bookings, and what HQ sends
// down. The store's side is cloudsync and the services; HQ's side is hq/.

// User properties of every uplink message (stores/{store}/up/{local}).
const (
	PropStore  = "store"  // the store id
	PropOrigin = "origin" // unique per store: HQ deduplicates by (store, origin)
	PropSeq    = "seq"    // the outbox sequence of this epoch
	PropStored = "ts"     // when the entry was stored, RFC 3339 with nanoseconds
	// PropEpoch is the box's incarnation: 16 hex chars made with the
	// outbox's first entry. A new or restored box has a new epoch and its
	// sequences start again.
	PropEpoch = "epoch"
	// PropStream is the entry's class: chat, booking, media or telemetry.
	PropStream = "stream"
	// PropSSeq numbers the entries of one stream of one epoch 1, 2, 3…
	// without gaps. Only the streams that are never evicted (chat,
	// booking) carry it; HQ applies them in this order.
	PropSSeq = "sseq"
)

// PropClock is present, with the value ClockUnsynced, on an uplink entry
// filed while the box's clock was not set from a time source: its ts may
// be far off (a box without a real-time clock boots in the past), and HQ
// places it by seq and sseq instead.
const (
	PropClock     = "clock"
	ClockUnsynced = "unsynced"
)

// Streams with a gap-free PropSSeq.
const (
	StreamChat    = "chat"
	StreamBooking = "booking"
)

// Local topics the store files for HQ (beside chat/{conversation}/hq,
// booking/changes, booking/hq/outcome and audit/entries).
const (
	TopicShopInfo    = "shop/info"   // ShopInfo
	TopicHello       = "store/hello" // StoreHello
	TopicSyncAnswer  = "sync/answer" // ResyncAnswer
	TopicConfigAck   = "config/ack"  // ConfigAck
	TopicNoticeAck   = "notice/ack"  // NoticeAck
	TopicMediaPrefix = "media/"      // media/{hash}: MediaBlob
)

// Local topics HQ's messages arrive on (cloudsync delivers
// stores/{store}/down/X as hq/X, and hq/broadcast/X as itself).
const (
	TopicResync          = "hq/sync/resync"      // ResyncRequest
	TopicConfigPush      = "hq/config/push"      // ConfigPush
	TopicNotice          = "hq/notice"           // Notice to this store
	TopicBroadcastNotice = "hq/broadcast/notice" // Notice to every store
	TopicMediaGet        = "hq/media/get"        // MediaGet
)

// CloudStatusTopic is where a store's presence is retained on HQ's broker.
func CloudStatusTopic(store string) string { return "stores/" + store + "/status" }

// CloudUpTopic is the cloud topic of a store's local topic.
func CloudUpTopic(store, local string) string { return "stores/" + store + "/up/" + local }

// CloudDownTopic is the cloud topic HQ publishes on for a store to receive
// local as hq/{local} (local without its "hq/" prefix).
func CloudDownTopic(store, local string) string { return "stores/" + store + "/down/" + local }

// StoreStatus is a store's presence on HQ's broker (CloudStatusTopic),
// retained, sent on connect, periodically and when the backlog empties; the
// connection's Last Will is the same with Online false. Times are the
// store's clock; HQ compares TS with its own to see the skew.
type StoreStatus struct {
	V            int        `json:"v"`
	Store        string     `json:"store"`
	Online       bool       `json:"online"`
	Epoch        string     `json:"epoch,omitempty"`
	Version      string     `json:"version,omitempty"`
	Backlog      int64      `json:"backlog"`
	BacklogBytes int64      `json:"backlog_bytes"`
	OldestAt     *time.Time `json:"oldest_at,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	Errors       uint64     `json:"errors"`
	// Since is when the connection this status came on began: the time
	// its Last Will carries. HQ takes a Will as the store going offline
	// only when it is not older than the connection HQ last heard from, so
	// an old connection's Will that comes late (after a quick reconnect)
	// does not mark an online store offline.
	Since *time.Time `json:"since,omitempty"`
	TS    time.Time  `json:"ts"`
	// ClockSynced: the store's clock is set from a time source (NTP);
	// absent from a store that does not say. While it is false the
	// store's times (TS included) may be far off, and its entries come
	// marked clock=unsynced.
	ClockSynced *bool `json:"clock_synced,omitempty"`
}

// StoreHello announces an epoch (TopicHello): a new box, a restored one,
// or the link configured for the first time.
type StoreHello struct {
	V       int       `json:"v"`
	Epoch   string    `json:"epoch"`
	Version string    `json:"version,omitempty"`
	Started time.Time `json:"started"`
	Reason  string    `json:"reason"` // HelloNew, HelloRestored or HelloLinked
	TS      time.Time `json:"ts"`
}

// StoreHello reasons.
const (
	HelloNew      = "new"
	HelloRestored = "restored"
	HelloLinked   = "linked"
)

// StaffMember is a member of staff as HQ sees one: no credentials.
type StaffMember struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// ShopInfo is what HQ knows of a store's offer (TopicShopInfo), sent whole
// whenever the catalogue, hours, closures, staff or FAQ change.
type ShopInfo struct {
	V        int             `json:"v"`
	Version  int64           `json:"version"`        // the catalogue's version
	Name     string          `json:"name,omitempty"` // the store's name as customers see it
	TimeZone string          `json:"time_zone,omitempty"`
	Catalog  ShopCatalog     `json:"catalog"`
	Closures []DateSpan      `json:"closures,omitempty"`
	Staff    []StaffMember   `json:"staff,omitempty"`
	FAQ      json.RawMessage `json:"faq,omitempty"`
	TS       time.Time       `json:"ts"`
}

// ResyncRequest asks a store to send a range of a stream again, or a
// snapshot of everything it holds (TopicResync).
type ResyncRequest struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Stream   string `json:"stream,omitempty"`
	From     uint64 `json:"from,omitempty"`
	To       uint64 `json:"to,omitempty"`
	Snapshot bool   `json:"snapshot,omitempty"`
}

// ResyncAnswer is the store's answer to a ResyncRequest (TopicSyncAnswer).
type ResyncAnswer struct {
	V      int       `json:"v"`
	ID     string    `json:"id"`
	Status string    `json:"status"` // ResyncResent, ResyncGone or ResyncSnapshot
	Stream string    `json:"stream,omitempty"`
	From   uint64    `json:"from,omitempty"`
	To     uint64    `json:"to,omitempty"`
	Count  int       `json:"count"`
	TS     time.Time `json:"ts"`
}

// ResyncAnswer statuses.
const (
	ResyncResent   = "resent"   // the range was filed again, same origins and sseqs
	ResyncGone     = "gone"     // the store no longer keeps (all of) the range
	ResyncSnapshot = "snapshot" // a snapshot was filed
)

// ConfigPush is a versioned push of a store's catalogue and/or FAQ from HQ
// (TopicConfigPush). The store stays the judge: it applies the push with
// its own rules or refuses it whole, and answers with a ConfigAck.
type ConfigPush struct {
	V       int             `json:"v"`
	ID      string          `json:"id"`
	Version int64           `json:"version"`
	Catalog *ShopCatalog    `json:"catalog,omitempty"`
	FAQ     json.RawMessage `json:"faq,omitempty"`
	By      string          `json:"by,omitempty"`
}

// ConfigAck is the store's answer to a ConfigPush (TopicConfigAck).
type ConfigAck struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Version int64     `json:"version"`
	OK      bool      `json:"ok"`
	Code    string    `json:"code,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Errors  []string  `json:"errors,omitempty"`
	TS      time.Time `json:"ts"`
}

// Notice is a promotion or notice from HQ to one store, a list, or all
// (TopicNotice, TopicBroadcastNotice).
type Notice struct {
	V       int       `json:"v"`
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // NoticePromotion or NoticeNotice
	Title   string    `json:"title"`
	Body    string    `json:"body,omitempty"`
	From    string    `json:"from,omitempty"`
	SentAt  time.Time `json:"sent_at"`
	Expires time.Time `json:"expires,omitzero"`
}

// Notice kinds.
const (
	NoticePromotion = "promotion"
	NoticeNotice    = "notice"
)

// NoticeAck says a store has stored a notice (TopicNoticeAck).
type NoticeAck struct {
	V  int       `json:"v"`
	ID string    `json:"id"`
	TS time.Time `json:"ts"`
}

// MediaGet asks a store for a blob a conversation refers to (TopicMediaGet).
type MediaGet struct {
	V    int    `json:"v"`
	ID   string `json:"id"`
	Hash string `json:"hash"`
}

// MediaBlob is a blob sent to HQ on TopicMediaPrefix + Hash.
type MediaBlob struct {
	V    int    `json:"v"`
	Hash string `json:"hash"`
	Mime string `json:"mime"`
	Size int64  `json:"size"`
	Data []byte `json:"data"`
}
