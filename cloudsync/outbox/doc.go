// Package outbox is cloudsync's durable queue of entries bound for HQ: a
// bbolt bucket written inside the transaction that produced the entry (chat
// and booking call Put from their own write transaction), read by the
// uplink in priority order and deleted only after HQ's broker acknowledged
// an entry (Ack). Restart or kill -9 at any moment loses nothing that was
// committed, and nothing that was not.
//
// Every method takes the caller's *bolt.Tx and touches nothing else: the
// caller owns the database and its batching, and broker/store's group
// commit may run a transaction function more than once, so an Outbox keeps
// no state in memory and is safe for concurrent use.
//
// # Buckets
//
// This package owns two buckets, created by the first Put.
//
// cloud_outbox holds the entries. Key: class id (1 byte) + Seq (8 bytes,
// big endian), so one cursor walk over a class prefix yields that class
// oldest first, and per local topic order holds because a topic always
// has one class. Seq comes from the bucket's NextSequence and so is unique
// and increasing per store, across classes and restarts. Value:
//
//	version      1 byte (1)
//	stored       8 bytes, Unix nanoseconds, big endian
//	topic        uvarint length + bytes
//	origin       uvarint length + bytes ("" means fmt.Sprint(Seq))
//	payload      the rest
//
// That is version 1, written in the clear before entries were sealed: still
// read, and sealed in place by SealOld (the bridge calls it when it starts). With Options.Seal (always, in the broker) an entry is
// version 2:
//
//	version      1 byte (2)
//	stored       8 bytes, Unix nanoseconds, big endian
//	size         uvarint: topic + origin + payload bytes (the budget's)
//	sealed       topic, origin and payload as in version 1, sealed
//	             (AES-256-GCM, internal/seal) with "cloud_outbox" 0x00 key
//	             as additional data
//
// so a chat message for a customer at home never reaches the file in the
// clear, nor stays in the pages bbolt frees when HQ has acknowledged it.
//
// cloud_outbox_meta holds one record per class that was ever Put, key
// "c/" + class name, value 33 bytes, big endian:
//
//	id              1 byte, the class's key prefix in cloud_outbox (1..255)
//	count           8 bytes, entries stored now
//	bytes           8 bytes, their size (topic + origin + payload)
//	evicted         8 bytes, entries ever evicted (cumulative)
//	evicted bytes   8 bytes, their size (cumulative)
//
// Class ids are handed out on a class's first Put and never change, which
// is why the key prefix is an id and not the class's rank: Options.Order
// may change between releases without old entries jumping ahead of newer
// ones of the same topic, or an evictable class's old prefix pointing at a
// protected class. The counters are updated in the same transaction as
// the entries, so Stats and the budget check are O(number of classes)
// instead of a scan.
//
// # Budget
//
// Options.MaxBytes bounds the size (topic + origin + payload; keys, the
// header and bbolt's own overhead come on top) of all entries. A Put that
// would go past it evicts the oldest entries of the classes in
// Options.Evict (telemetry first, then media), an entry evicting only
// classes at or before its own place in that list, so telemetry never
// pushes out media. Classes not in Evict (chat, booking) are never evicted
// and always stored, even over budget: losing them is worse than the
// overshoot, which Stats shows. An evictable entry that does not fit even
// after evicting all it may evict returns ErrQuota and changes nothing, not
// even evictions, so a caller that turns the error into quota_exceeded and
// commits the rest of its transaction does not lose telemetry for nothing.
// Admits asks the same question without writing. Evictions are counted per
// class in the meta bucket; the caller turns the counters into metrics and
// logs (once per burst: compare successive Stats).
package outbox
