// Package cloudsync is the store's bridge to HQ's MQTT broker. It runs
// inside the daemon (broker.Start starts it when cloud.url is set) and is
// usable as a library: New, then Run.
//
// Uplink. Everything bound for HQ is an entry in the outbox
// (cloudsync/outbox), written inside the transaction that produced it: the
// chat and booking services Put from their own commits, and device
// publishes on mapped topics are filed by Capture (before the device's
// PUBACK for QoS 1). The uplink is autopaho's publish queue implemented
// over the outbox: entries go out in priority order (chat, booking, media,
// telemetry), oldest first within a class, so order holds per local topic;
// at most Config.Inflight (and HQ's Receive Maximum) await a PUBACK, and
// Config.Rate caps messages per second. An entry is deleted only when HQ's
// PUBACK arrives; paho's session is a wrapper that tells the uplink which
// packet id carries which entry. A restart, kill -9 or lost session sends
// unacknowledged entries again, so HQ sees each at least once and
// deduplicates by the user properties store and origin (the hq package
// shows how).
//
// Downlink. The same connection keeps a persistent session (Clean Start
// false, Config.SessionExpiry) subscribed to stores/{store}/down/# and
// hq/broadcast/#, so HQ's broker queues while the store is away. Each
// message is delivered (Options.Deliver) one at a time, its id (user
// property "id") recorded in the bucket cloud_down_seen for
// Config.DedupTTL, and only then acknowledged; a repeated id is
// acknowledged and not delivered again. Nothing under hq/ goes back up.
//
// The HQ link (PROTOCOL.md, "The HQ link"). Every uplink message carries
// the epoch it was filed in and its stream (class); chat and booking
// entries carry their gap-free number (sseq), given by the outbox. When it
// starts, the bridge files store/hello for an epoch HQ was never told of
// or a link configured anew, and on the first link of a database a snapshot
// by itself (the backfill). It keeps the store's presence retained on
// stores/{store}/status, with a Last Will saying offline. A resync request
// from HQ (hq/sync/resync, taken by the bridge, never delivered) is
// recorded as a job and done in the background: a range is filed again
// from the outbox's kept range (outbox.Refile), a snapshot asks every
// Snapshotter for its state; the answer goes up on sync/answer.
//
// Status. Status and Collector report the link, the backlog, the drain
// rate, evictions and the last error; the daemon publishes the status
// retained on cloudsync/status.
package cloudsync
