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
// This package owns three buckets, created by the first Put and the first
// Ack that keeps an entry.
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
// read, and rewritten in place by SealOld (the bridge calls it when it
// starts). Version 2 is version 1 sealed:
//
//	version      1 byte (2)
//	stored       8 bytes, Unix nanoseconds, big endian
//	size         uvarint: topic + origin + payload bytes (the budget's)
//	sealed       topic, origin and payload as in version 1, sealed
//	             (AES-256-GCM, internal/seal) with "cloud_outbox" 0x00 key
//	             as additional data
//
// Versions 1 and 2 carry no epoch and no stream number: they are read (the
// epoch is the database's, the one they were always sent under) and go up
// without a number. Entries are now written as version 4 (version 3 is the
// same in the clear, without Options.Seal):
//
//	version      1 byte (4)
//	stored       8 bytes, Unix nanoseconds, big endian
//	sseq         uvarint: the stream number, 0 for classes without
//	epoch        uvarint length + bytes: the epoch the entry was filed in
//	size         uvarint: topic + origin + payload bytes (the budget's)
//	sealed       topic, origin and payload as in version 1, sealed
//	             (AES-256-GCM, internal/seal) with "cloud_outbox" 0x00 key
//	             as additional data
//
// so a chat message for a customer at home never reaches the file in the
// clear, nor stays in the pages bbolt frees when HQ has acknowledged it.
// Versions 5 (in the clear) and 6 (sealed) are 3 and 4 with one more field
// after the epoch:
//
//	flags        uvarint: bit 0, the box's clock was not set from a time
//	             source when the entry was filed (Entry.ClockUnsynced)
//
// They are written only for an entry with a flag, so an entry without one
// stays readable by a binary that knows only version 4.
// The epoch and the number are in the clear so that Ack, Refile and the
// kept range work without opening entries.
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
// instead of a scan. The same bucket holds:
//
//	"epoch"         the current epoch, 16 lowercase hex characters
//	"epoch_reason"  new, restored or adopted
//	"epoch_made"    8 bytes, Unix nanoseconds
//	"s/" + class    8 bytes: the last stream number given in the class,
//	                in the current epoch (deleted by NewEpoch)
//	"kept"          32 bytes: kept entries, their bytes, entries dropped
//	                from the kept range and their bytes (cumulative)
//
// cloud_outbox_kept holds acknowledged entries of the numbered classes for
// Refile. Key: length of the epoch (1 byte), the epoch, the class id, the
// stream number (8 bytes big endian), so one stream of one epoch is one
// ordered range. Value: the entry's cloud_outbox key (9 bytes, its sealing's
// additional data) and its value as it was, still sealed.
//
// # Epochs and streams
//
// The epoch is the box's incarnation, made at random by the first Put in a
// database (or adopted from the database id an earlier version kept in
// cloudsync's bucket cloud_meta, so entries filed before the upgrade keep
// their origins). NewEpoch makes another one, for a box restored from a
// backup whose numbers the old box may have used since. Every entry records
// its epoch; HQ's deduplication key is epoch + "/" + origin, the origin
// being the outbox seq unless the caller named one.
//
// Classes that are never evicted (not in Options.Evict: chat and booking)
// are streams: each entry is given the next number of its class in the
// current epoch, 1, 2, 3… in the Put's own transaction, so a committed
// stream has no gaps and HQ can apply it in order and see what is missing.
//
// # Kept range
//
// With Options.KeepFor, Ack moves a numbered entry to cloud_outbox_kept
// instead of deleting it, and drops kept entries older than KeepFor and,
// oldest first, past KeepBytes (TrimKept, counted in Stats.Kept). Refile
// files a range of a stream again, with the same epoch, origin, number and
// stamp, when every number of it is kept or still waiting; otherwise it
// files nothing, and HQ is told the range is gone.
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
