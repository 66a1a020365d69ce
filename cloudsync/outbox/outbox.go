package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets, owned by this package (layouts in doc.go).
var (
	bEntries = []byte("cloud_outbox")
	bMeta    = []byte("cloud_outbox_meta")
	bKept    = []byte("cloud_outbox_kept")

	metaClassPrefix = []byte("c/")
	metaSSeqPrefix  = []byte("s/")
	metaEpoch       = []byte("epoch")
	metaEpochReason = []byte("epoch_reason")
	metaEpochMade   = []byte("epoch_made")
	metaKept        = []byte("kept")

	// legacyMeta is the bucket where cloudsync kept the database id before
	// the outbox kept the epoch; an existing id is adopted as the epoch so
	// that entries filed before the upgrade keep their origins.
	legacyMeta = []byte("cloud_meta")
)

// Priority classes of the topic map.
const (
	ClassChat      = "chat"
	ClassBooking   = "booking"
	ClassMedia     = "media"
	ClassTelemetry = "telemetry"
)

// DefaultOrder is the sending priority when Options.Order is empty: what a
// person waits for first, then previews, then device chatter.
var DefaultOrder = []string{ClassChat, ClassBooking, ClassMedia, ClassTelemetry}

// DefaultEvict is the eviction order when Options.Evict is nil: telemetry
// is superseded by the next reading anyway, media previews can be made
// again from the store's copy; chat and booking are never evicted.
var DefaultEvict = []string{ClassTelemetry, ClassMedia}

// ErrQuota is returned (wrapped) by Put for an evictable entry that does not
// fit in Options.MaxBytes even after evicting what it may evict; services
// answer the request with quota_exceeded.
var ErrQuota = errors.New("outbox: over budget")

// ErrCorrupt is returned (wrapped) for a stored record that does not decode.
var ErrCorrupt = errors.New("outbox: corrupt record")

// Limits of MQTT 5 strings: a topic and a user property value longer than
// this cannot be sent, so they are refused at Put instead of at the uplink.
const maxString = 65535

// Options configure New.
type Options struct {
	// MaxBytes is the byte budget of topic + origin + payload over all
	// entries; 0 means no budget.
	MaxBytes int64
	// Classify gives a local topic's priority class, one of Order.
	// Required; topicmap.Map.Class fits.
	Classify func(topic string) string
	// Order is the sending priority, highest first (default DefaultOrder).
	// It also lists the classes Put accepts.
	Order []string
	// Evict lists the classes that may be evicted, first evicted first
	// (nil means DefaultEvict, empty means none). Each must be in Order.
	Evict []string
	// Now stamps entries (default time.Now).
	Now func() time.Time
	// Committed, when set, is called after a transaction that Put an entry
	// has committed (bbolt's Tx.OnCommit), so the uplink learns of new work
	// without polling. It must not block.
	Committed func()
	// Seal encrypts each entry's topic, origin and payload at rest (a chat
	// message for a customer at home is personal); the broker always sets
	// it. Nil stores entries in the clear.
	Seal Sealer
	// KeepFor is how long an acknowledged entry of a sequenced class
	// (those not in Evict: chat, booking) is kept for Refile; 0 keeps
	// none. KeepBytes bounds the kept entries' size (topic + origin +
	// payload; 0 means no bound). Past either the oldest are dropped
	// first, and counted.
	KeepFor   time.Duration
	KeepBytes int64
	// ClockSynced says whether the box's clock is set from a time source
	// (internal/timesync.Watcher.Synced); an entry Put while it says no is
	// marked Entry.ClockUnsynced. Nil: always synced.
	ClockSynced func() bool
}

// Sealer encrypts entries at rest (internal/seal.Keyring implements it).
type Sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(sealed, additionalData []byte) ([]byte, error)
}

// Outbox is the outbox over a caller's bbolt transactions. It holds no
// state besides its options.
type Outbox struct {
	o Options
}

// Entry is one stored entry.
type Entry struct {
	// Seq is monotonic per store: the uplink's order within a class and the
	// "outbox sequence" user property.
	Seq uint64
	// Topic is the local topic the entry is filed under.
	Topic string
	// Class is the topic's priority class at Put.
	Class string
	// Origin is the entry's id within its epoch; fmt.Sprint(Seq) when
	// Put was given none. HQ deduplicates by Epoch + "/" + Origin.
	Origin  string
	Payload []byte
	Stored  time.Time
	// Epoch is the epoch the entry was filed in (Epoch). SSeq is its
	// number in its stream (class) of that epoch, 1, 2, 3… without gaps,
	// for the classes that are never evicted; 0 for the others and for
	// entries filed by a version before streams.
	Epoch string
	SSeq  uint64
	// ClockUnsynced: the entry was filed while the box's clock was not
	// set from a time source, so Stored may be far off (HQ is told).
	ClockUnsynced bool
}

// EpochInfo is the box's incarnation (doc.go, "Epochs").
type EpochInfo struct {
	// ID is 16 lowercase hex characters, made at random.
	ID string
	// Reason is "new" (made with the database's first entry), "restored"
	// (NewEpoch) or "adopted" (the database id of an earlier version).
	Reason string
	Made   time.Time
}

// Epoch reasons.
const (
	EpochNew      = "new"
	EpochRestored = "restored"
	EpochAdopted  = "adopted"
)

// ClassStats are one class's figures.
type ClassStats struct {
	Count int64 // entries stored
	Bytes int64 // their topic + origin + payload bytes
	// Evicted and EvictedBytes count evictions since the database was
	// made; they survive restarts.
	Evicted      int64
	EvictedBytes int64
}

// Stats describe the outbox in one transaction.
type Stats struct {
	Count int64
	Bytes int64
	// Over is how far Bytes is past Options.MaxBytes (chat and booking are
	// stored even over budget); 0 when within.
	Over int64
	// Oldest is when the oldest entry was stored; zero when empty.
	// OldestUnsynced: that entry was filed on a clock not yet set (its
	// stamp may be decades off, so its age means nothing).
	Oldest         time.Time
	OldestUnsynced bool
	// Classes has every class ever Put, including empty ones, so the
	// eviction counters stay visible.
	Classes map[string]ClassStats
	// Kept is the acknowledged entries kept for Refile.
	Kept KeptStats
}

// KeptStats are the figures of the kept range.
type KeptStats struct {
	Count int64 // entries kept now
	Bytes int64 // their topic + origin + payload bytes
	// Dropped and DroppedBytes count entries dropped from the kept range
	// (older than KeepFor, or past KeepBytes) since the database was made.
	Dropped      int64
	DroppedBytes int64
}

// New validates the options.
func New(o Options) (*Outbox, error) {
	if o.Classify == nil {
		return nil, errors.New("outbox: Options.Classify is required")
	}
	if o.MaxBytes < 0 {
		return nil, fmt.Errorf("outbox: Options.MaxBytes %d is negative", o.MaxBytes)
	}
	if len(o.Order) == 0 {
		o.Order = DefaultOrder
	}
	if o.Evict == nil {
		o.Evict = DefaultEvict
	}
	o.Order = slices.Clone(o.Order)
	o.Evict = slices.Clone(o.Evict)
	if len(o.Order) > 255 {
		return nil, errors.New("outbox: Options.Order has more than 255 classes")
	}
	for i, c := range o.Order {
		if c == "" {
			return nil, errors.New("outbox: Options.Order has an empty class")
		}
		if slices.Index(o.Order, c) != i {
			return nil, fmt.Errorf("outbox: Options.Order lists %q twice", c)
		}
	}
	for i, c := range o.Evict {
		if !slices.Contains(o.Order, c) {
			return nil, fmt.Errorf("outbox: Options.Evict class %q is not in Options.Order", c)
		}
		if slices.Index(o.Evict, c) != i {
			return nil, fmt.Errorf("outbox: Options.Evict lists %q twice", c)
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.KeepFor < 0 || o.KeepBytes < 0 {
		return nil, fmt.Errorf("outbox: Options.KeepFor %s and KeepBytes %d must not be negative", o.KeepFor, o.KeepBytes)
	}
	return &Outbox{o: o}, nil
}

// Put files payload under the local topic with Origin = fmt.Sprint(Seq).
// It implements the Outbox interfaces of broker/services/chat and broker/services/booking.
func (o *Outbox) Put(tx *bolt.Tx, topic string, payload []byte) error {
	return o.PutOrigin(tx, topic, "", payload)
}

// PutOrigin files payload under the local topic with the given origin id,
// in tx, which must be writable. It evicts as doc.go describes; on ErrQuota
// and on bad input it changes nothing. The entry is filed in the current
// epoch (made now when the database has none); an entry of a class that is
// never evicted takes the next number of its stream.
func (o *Outbox) PutOrigin(tx *bolt.Tx, topic, origin string, payload []byte) error {
	switch {
	case topic == "":
		return errors.New("outbox: empty topic")
	case len(topic) > maxString:
		return fmt.Errorf("outbox: topic of %d bytes is longer than %d", len(topic), maxString)
	case len(origin) > maxString-17:
		return fmt.Errorf("outbox: origin of %d bytes is longer than %d", len(origin), maxString-17)
	}
	class := o.o.Classify(topic)
	if !slices.Contains(o.o.Order, class) {
		return fmt.Errorf("outbox: topic %q: class %q is not one of %v", topic, class, o.o.Order)
	}
	unsynced := o.o.ClockSynced != nil && !o.o.ClockSynced()
	return o.put(tx, Entry{Topic: topic, Class: class, Origin: origin, Payload: payload, Stored: o.o.Now(), ClockUnsynced: unsynced}, true)
}

// put stores e (Topic, Class, Origin, Payload, Stored; with number set,
// Epoch and SSeq are the current epoch's and the stream's next, else e's
// own, for a re-filed entry).
func (o *Outbox) put(tx *bolt.Tx, e Entry, number bool) error {
	topic, class := e.Topic, e.Class
	size := int64(len(topic) + len(e.Origin) + len(e.Payload))

	// Decide before writing: an entry that will not fit must not evict.
	classes, err := readClasses(tx.Bucket(bMeta))
	if err != nil {
		return err
	}
	rec := classes[class]
	if rec == nil {
		rec = &classRec{id: classes.nextID()}
		if rec.id == 0 {
			return errors.New("outbox: more than 255 classes were ever used")
		}
		classes[class] = rec
	}
	var evict []string
	if o.o.MaxBytes > 0 && classes.total()+size > o.o.MaxBytes {
		evict = o.mayEvict(class)
		if o.evictable(class) && classes.total()-classes.sum(evict)+size > o.o.MaxBytes {
			return fmt.Errorf("%w: %s entry of %d bytes for %q: %d of %d bytes used by entries it may not evict",
				ErrQuota, class, size, topic, classes.total()-classes.sum(evict), o.o.MaxBytes)
		}
	}

	b, err := tx.CreateBucketIfNotExists(bEntries)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	meta, err := tx.CreateBucketIfNotExists(bMeta)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if number {
		ep, err := o.ensureEpoch(tx, meta)
		if err != nil {
			return err
		}
		e.Epoch, e.SSeq = ep.ID, 0
		if !o.evictable(class) {
			k := append(slices.Clone(metaSSeqPrefix), class...)
			var last uint64
			if v := meta.Get(k); len(v) == 8 {
				last = binary.BigEndian.Uint64(v)
			}
			e.SSeq = last + 1
			if err := meta.Put(k, binary.BigEndian.AppendUint64(nil, e.SSeq)); err != nil {
				return fmt.Errorf("outbox: %w", err)
			}
		}
	}
	changed := []string{class}
	for _, ec := range evict {
		if classes.total()+size <= o.o.MaxBytes {
			break
		}
		er := classes[ec]
		if er == nil || er.count == 0 {
			continue
		}
		if err := o.evictOldest(b, ec, er, classes.total()+size-o.o.MaxBytes); err != nil {
			return err
		}
		changed = append(changed, ec)
	}

	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	k := entryKey(rec.id, seq)
	v, err := o.encode(k, e)
	if err != nil {
		return err
	}
	if err := b.Put(k, v); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	rec.count++
	rec.bytes += size
	if o.o.Committed != nil {
		tx.OnCommit(o.o.Committed)
	}
	return classes.write(meta, changed...)
}

// evictOldest deletes the oldest entries of class (record rec) until at
// least need bytes are freed or the class is empty, counting them in rec.
func (o *Outbox) evictOldest(b *bolt.Bucket, class string, rec *classRec, need int64) error {
	var keys [][]byte
	var freed int64
	c := b.Cursor()
	prefix := []byte{rec.id}
	for k, v := c.Seek(prefix); k != nil && k[0] == rec.id && freed < need; k, v = c.Next() {
		n, err := entrySize(v)
		if err != nil {
			return fmt.Errorf("outbox: evict %s seq %d: %w", class, binary.BigEndian.Uint64(k[1:]), err)
		}
		freed += n
		rec.count--
		rec.bytes -= n
		rec.evicted++
		rec.evictedBytes += n
		keys = append(keys, bytes.Clone(k))
	}
	// Deleting after the walk: deleting under a bbolt cursor can make its
	// Next skip a key.
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("outbox: evict: %w", err)
		}
	}
	return nil
}

// evictable reports whether class may be evicted.
func (o *Outbox) evictable(class string) bool { return slices.Contains(o.o.Evict, class) }

// mayEvict lists the classes a Put of class may evict, first evicted first:
// all of Evict for a protected class, else Evict up to and including class.
func (o *Outbox) mayEvict(class string) []string {
	if i := slices.Index(o.o.Evict, class); i >= 0 {
		return o.o.Evict[:i+1]
	}
	return o.o.Evict
}

// Admits reports whether a Put of class with size bytes (topic + origin +
// payload) would be stored now, so a service can refuse low-priority work
// with quota_exceeded before doing it. tx may be read-only.
func (o *Outbox) Admits(tx *bolt.Tx, class string, size int) bool {
	if !slices.Contains(o.o.Order, class) {
		return false
	}
	if o.o.MaxBytes == 0 || !o.evictable(class) {
		return true
	}
	classes, err := readClasses(tx.Bucket(bMeta))
	if err != nil {
		return false
	}
	return classes.total()-classes.sum(o.mayEvict(class))+int64(size) <= o.o.MaxBytes
}

// SealOld rewrites, in tx (writable), the entries an older version filed
// (versions 1 and 2) or filed in the clear (version 3) in the current
// version, sealed when Options.Seal is set, keeping their place, stamp,
// size, epoch and stream number (an entry from before epochs is given the
// current epoch, under which it was always sent); it returns how many. The
// bridge calls it when it starts.
func (o *Outbox) SealOld(tx *bolt.Tx) (int, error) {
	b := tx.Bucket(bEntries)
	if b == nil {
		return 0, nil
	}
	ep, err := o.Epoch(tx)
	if err != nil {
		return 0, err
	}
	type kv struct{ k, v []byte }
	var rewritten []kv
	err = b.ForEach(func(k, v []byte) error {
		h, err := parseHeader(v)
		if err != nil {
			return fmt.Errorf("outbox: seq %d: %w", binary.BigEndian.Uint64(k[1:]), err)
		}
		switch {
		case h.version == sealedVersion4, h.version == sealedVersion6,
			(h.version == entryVersion3 || h.version == entryVersion5) && o.o.Seal == nil:
			return nil // current
		case h.version == sealedVersion && o.o.Seal == nil:
			return nil // cannot be opened here; read where it can
		}
		e, err := o.decode(k, v)
		if err != nil {
			return fmt.Errorf("outbox: seq %d: %w", binary.BigEndian.Uint64(k[1:]), err)
		}
		if h.version < entryVersion3 {
			e.Epoch = ep.ID
		}
		nv, err := o.encode(k, e)
		if err != nil {
			return err
		}
		rewritten = append(rewritten, kv{bytes.Clone(k), nv})
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, e := range rewritten {
		if err := b.Put(e.k, e.v); err != nil {
			return 0, fmt.Errorf("outbox: %w", err)
		}
	}
	return len(rewritten), nil
}

// Next returns up to n entries in sending order — by Options.Order, then
// classes no longer in it, each oldest first — leaving out those for which
// skip (may be nil) is true, typically the ones in flight. tx may be
// read-only. The cost is one seek per class plus one step per skipped or
// returned entry.
func (o *Outbox) Next(tx *bolt.Tx, n int, skip func(seq uint64) bool) ([]Entry, error) {
	b := tx.Bucket(bEntries)
	if b == nil || n <= 0 {
		return nil, nil
	}
	classes, err := readClasses(tx.Bucket(bMeta))
	if err != nil {
		return nil, err
	}
	ep, err := o.Epoch(tx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	c := b.Cursor()
	for _, class := range o.sendOrder(classes) {
		id := classes[class].id
		for k, v := c.Seek([]byte{id}); k != nil && k[0] == id; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k[1:])
			if skip != nil && skip(seq) {
				continue
			}
			e, err := o.decode(k, v)
			if err != nil {
				return out, fmt.Errorf("outbox: %s seq %d: %w", class, seq, err)
			}
			e.Seq, e.Class = seq, class
			if e.Origin == "" {
				e.Origin = fmt.Sprint(seq)
			}
			if e.Epoch == "" {
				e.Epoch = ep.ID // filed before epochs: sent under the database id it had
			}
			out = append(out, e)
			if len(out) == n {
				return out, nil
			}
		}
	}
	return out, nil
}

// sendOrder is Options.Order followed by stored classes no longer in it,
// by id, so nothing stored is ever left unsent.
func (o *Outbox) sendOrder(classes classMap) []string {
	var order []string
	for _, c := range o.o.Order {
		if classes[c] != nil {
			order = append(order, c)
		}
	}
	var rest []string
	for c := range classes {
		if !slices.Contains(o.o.Order, c) {
			rest = append(rest, c)
		}
	}
	slices.SortFunc(rest, func(a, b string) int { return int(classes[a].id) - int(classes[b].id) })
	return append(order, rest...)
}

// Ack deletes the entries HQ's broker acknowledged, in tx, which must be
// writable. A seq that is not stored (acked before, evicted) is ignored,
// so a repeated PUBACK after a reconnect is harmless. With Options.KeepFor,
// an entry with a stream number moves to the kept range (doc.go) as it
// is, sealed, and the kept range is trimmed to its limits.
func (o *Outbox) Ack(tx *bolt.Tx, seqs ...uint64) error {
	b, meta := tx.Bucket(bEntries), tx.Bucket(bMeta)
	if b == nil || meta == nil || len(seqs) == 0 {
		return nil
	}
	classes, err := readClasses(meta)
	if err != nil {
		return err
	}
	var kept *bolt.Bucket
	var kr keptRec
	var keptAny bool
	var changed []string
	for _, seq := range seqs {
		// The key holds the class id, which the sender does not pass back;
		// trying each class costs a lookup per class ever used (a handful).
		for class, rec := range classes {
			k := entryKey(rec.id, seq)
			v := b.Get(k)
			if v == nil {
				continue
			}
			h, err := parseHeader(v)
			if err != nil {
				return fmt.Errorf("outbox: ack seq %d: %w", seq, err)
			}
			if h.sseq > 0 && o.o.KeepFor > 0 {
				if kept == nil {
					if kept, err = tx.CreateBucketIfNotExists(bKept); err != nil {
						return fmt.Errorf("outbox: %w", err)
					}
					kr = readKept(meta)
				}
				kk := keptKey(h.epoch, rec.id, h.sseq)
				if old := kept.Get(kk); old != nil {
					// A re-filed entry acknowledged again: it replaces itself.
					if oh, err := parseHeader(old[9:]); err == nil {
						kr.count--
						kr.bytes -= oh.size
					}
				}
				kv := make([]byte, 0, len(k)+len(v))
				if err := kept.Put(kk, append(append(kv, k...), v...)); err != nil {
					return fmt.Errorf("outbox: keep: %w", err)
				}
				kr.count++
				kr.bytes += h.size
				keptAny = true
			}
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("outbox: ack: %w", err)
			}
			rec.count--
			rec.bytes -= h.size
			if !slices.Contains(changed, class) {
				changed = append(changed, class)
			}
			break
		}
	}
	if keptAny {
		if err := kr.write(meta); err != nil {
			return err
		}
		if _, err := o.TrimKept(tx); err != nil {
			return err
		}
	}
	return classes.write(meta, changed...)
}

// Stats reads the counters (one lookup per class) and the oldest entry (one
// seek per class). tx may be read-only.
func (o *Outbox) Stats(tx *bolt.Tx) (Stats, error) {
	classes, err := readClasses(tx.Bucket(bMeta))
	if err != nil {
		return Stats{}, err
	}
	s := Stats{Classes: make(map[string]ClassStats, len(classes))}
	for name, r := range classes {
		s.Classes[name] = ClassStats{Count: r.count, Bytes: r.bytes, Evicted: r.evicted, EvictedBytes: r.evictedBytes}
		s.Count += r.count
		s.Bytes += r.bytes
	}
	if o.o.MaxBytes > 0 && s.Bytes > o.o.MaxBytes {
		s.Over = s.Bytes - o.o.MaxBytes
	}
	kr := readKept(tx.Bucket(bMeta))
	s.Kept = KeptStats{Count: kr.count, Bytes: kr.bytes, Dropped: kr.dropped, DroppedBytes: kr.droppedBytes}
	if b := tx.Bucket(bEntries); b != nil {
		c := b.Cursor()
		for name, r := range classes {
			k, v := c.Seek([]byte{r.id})
			if k == nil || k[0] != r.id {
				continue
			}
			h, err := parseHeader(v)
			if err != nil {
				return s, fmt.Errorf("outbox: %s seq %d: %w", name, binary.BigEndian.Uint64(k[1:]), err)
			}
			if s.Oldest.IsZero() || h.stored.Before(s.Oldest) {
				s.Oldest, s.OldestUnsynced = h.stored, h.flags&flagClockUnsynced != 0
			}
		}
	}
	return s, nil
}

// classRec is a class's record in cloud_outbox_meta.
type classRec struct {
	id                                  byte
	count, bytes, evicted, evictedBytes int64
}

const classRecLen = 1 + 4*8

// classMap is every class record by class name.
type classMap map[string]*classRec

// readClasses reads every class record; a nil bucket (nothing Put yet) is
// an empty map.
func readClasses(meta *bolt.Bucket) (classMap, error) {
	m := classMap{}
	if meta == nil {
		return m, nil
	}
	c := meta.Cursor()
	for k, v := c.Seek(metaClassPrefix); k != nil && bytes.HasPrefix(k, metaClassPrefix); k, v = c.Next() {
		if len(v) != classRecLen || v[0] == 0 {
			return nil, fmt.Errorf("outbox: meta %q: %w", k, ErrCorrupt)
		}
		m[string(k[len(metaClassPrefix):])] = &classRec{
			id:           v[0],
			count:        int64(binary.BigEndian.Uint64(v[1:])),
			bytes:        int64(binary.BigEndian.Uint64(v[9:])),
			evicted:      int64(binary.BigEndian.Uint64(v[17:])),
			evictedBytes: int64(binary.BigEndian.Uint64(v[25:])),
		}
	}
	return m, nil
}

// write stores the named classes' records.
func (m classMap) write(meta *bolt.Bucket, names ...string) error {
	for _, name := range names {
		r := m[name]
		v := make([]byte, classRecLen)
		v[0] = r.id
		binary.BigEndian.PutUint64(v[1:], uint64(r.count))
		binary.BigEndian.PutUint64(v[9:], uint64(r.bytes))
		binary.BigEndian.PutUint64(v[17:], uint64(r.evicted))
		binary.BigEndian.PutUint64(v[25:], uint64(r.evictedBytes))
		if err := meta.Put(append(slices.Clone(metaClassPrefix), name...), v); err != nil {
			return fmt.Errorf("outbox: meta: %w", err)
		}
	}
	return nil
}

// nextID is the id for a new class; 0 when all 255 are taken.
func (m classMap) nextID() byte {
	var top byte
	for _, r := range m {
		top = max(top, r.id)
	}
	if top == 255 {
		return 0
	}
	return top + 1
}

func (m classMap) total() int64 {
	var t int64
	for _, r := range m {
		t += r.bytes
	}
	return t
}

// sum is the bytes stored in the named classes.
func (m classMap) sum(names []string) int64 {
	var t int64
	for _, n := range names {
		if r := m[n]; r != nil {
			t += r.bytes
		}
	}
	return t
}

func entryKey(id byte, seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = id
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

// Entry versions (doc.go): 1 in the clear and 2 sealed, without epoch and
// stream number (still read); 3 in the clear and 4 sealed, with them; 5
// and 6 are 3 and 4 with flags, written only for an entry with a flag set,
// so an entry without one stays readable by a binary that knows only 4.
const (
	entryVersion   = 1
	sealedVersion  = 2
	entryVersion3  = 3
	sealedVersion4 = 4
	entryVersion5  = 5
	sealedVersion6 = 6
)

// Entry flags (versions 5 and 6).
const flagClockUnsynced = 1 << 0

// header is the part of a stored value read without opening it.
type header struct {
	version byte
	stored  time.Time
	sseq    uint64
	epoch   string
	size    int64
	flags   uint64
	body    int // offset of the body (sealed or not)
}

func parseHeader(v []byte) (header, error) {
	if len(v) < 9 {
		return header{}, ErrCorrupt
	}
	h := header{version: v[0], stored: time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))), body: 9}
	rest := v[9:]
	uv := func() (uint64, bool) {
		n, w := binary.Uvarint(rest)
		if w <= 0 {
			return 0, false
		}
		rest = rest[w:]
		h.body += w
		return n, true
	}
	switch h.version {
	case entryVersion:
		n, err := plainSize(v[9:])
		if err != nil {
			return header{}, err
		}
		h.size = n
	case sealedVersion:
		n, ok := uv()
		if !ok {
			return header{}, ErrCorrupt
		}
		h.size = int64(n)
	case entryVersion3, sealedVersion4, entryVersion5, sealedVersion6:
		var ok bool
		if h.sseq, ok = uv(); !ok {
			return header{}, ErrCorrupt
		}
		n, ok := uv()
		if !ok || uint64(len(rest)) < n {
			return header{}, ErrCorrupt
		}
		h.epoch = string(rest[:n])
		rest = rest[n:]
		h.body += int(n)
		if h.version >= entryVersion5 {
			if h.flags, ok = uv(); !ok {
				return header{}, ErrCorrupt
			}
		}
		size, ok := uv()
		if !ok {
			return header{}, ErrCorrupt
		}
		h.size = int64(size)
	default:
		return header{}, ErrCorrupt
	}
	return h, nil
}

func (h header) sealed() bool {
	return h.version == sealedVersion || h.version == sealedVersion4 || h.version == sealedVersion6
}

// encode makes the stored value of e under key k (version 3, or 4 sealed
// when Options.Seal is set; 5 or 6 when e has a flag).
func (o *Outbox) encode(k []byte, e Entry) ([]byte, error) {
	body := encodeBody(e.Topic, e.Origin, e.Payload)
	var flags uint64
	if e.ClockUnsynced {
		flags |= flagClockUnsynced
	}
	version := byte(entryVersion3)
	if flags != 0 {
		version = entryVersion5
	}
	if o.o.Seal != nil {
		sealed, err := o.o.Seal.Seal(body, entryAD(k))
		if err != nil {
			return nil, fmt.Errorf("outbox: seal entry: %w", err)
		}
		body, version = sealed, version+1
	}
	v := make([]byte, 0, 9+3*binary.MaxVarintLen64+len(e.Epoch)+len(body))
	v = append(v, version)
	v = binary.BigEndian.AppendUint64(v, uint64(e.Stored.UnixNano()))
	v = binary.AppendUvarint(v, e.SSeq)
	v = binary.AppendUvarint(v, uint64(len(e.Epoch)))
	v = append(v, e.Epoch...)
	if flags != 0 {
		v = binary.AppendUvarint(v, flags)
	}
	v = binary.AppendUvarint(v, uint64(len(e.Topic)+len(e.Origin)+len(e.Payload)))
	return append(v, body...), nil
}

// decode reads the value stored under key k, of any version. Seq, Class,
// and for versions 1 and 2 Epoch, are the caller's to fill in.
func (o *Outbox) decode(k, v []byte) (Entry, error) {
	h, err := parseHeader(v)
	if err != nil {
		return Entry{}, err
	}
	body := v[h.body:]
	if h.sealed() {
		if o.o.Seal == nil {
			return Entry{}, fmt.Errorf("%w: the entry is sealed and Options.Seal is not set", ErrCorrupt)
		}
		if body, err = o.o.Seal.Open(body, entryAD(k)); err != nil {
			return Entry{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	e := Entry{Stored: h.stored, Epoch: h.epoch, SSeq: h.sseq, ClockUnsynced: h.flags&flagClockUnsynced != 0}
	topic, rest, ok := cutString(body)
	if !ok {
		return Entry{}, ErrCorrupt
	}
	origin, rest, ok := cutString(rest)
	if !ok {
		return Entry{}, ErrCorrupt
	}
	e.Topic, e.Origin, e.Payload = topic, origin, bytes.Clone(rest)
	if e.Payload == nil {
		e.Payload = []byte{}
	}
	return e, nil
}

// entryAD binds a sealed entry to its place: bucket name 0x00 key.
func entryAD(k []byte) []byte {
	ad := make([]byte, 0, len(bEntries)+1+len(k))
	return append(append(append(ad, bEntries...), 0), k...)
}

func encodeBody(topic, origin string, payload []byte) []byte {
	v := make([]byte, 0, 2*binary.MaxVarintLen64+len(topic)+len(origin)+len(payload))
	v = binary.AppendUvarint(v, uint64(len(topic)))
	v = append(v, topic...)
	v = binary.AppendUvarint(v, uint64(len(origin)))
	v = append(v, origin...)
	return append(v, payload...)
}

// storedAt is when an entry (any version) was stored.
func storedAt(v []byte) (time.Time, error) {
	h, err := parseHeader(v)
	return h.stored, err
}

// entrySize is an entry's budget size (topic + origin + payload) without
// copying or opening it.
func entrySize(v []byte) (int64, error) {
	h, err := parseHeader(v)
	return h.size, err
}

// plainSize is the size of a version 1 body.
func plainSize(body []byte) (int64, error) {
	header := 0
	rest := body
	for range 2 {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return 0, ErrCorrupt
		}
		header += w
		rest = rest[w+int(n):]
	}
	return int64(len(body) - header), nil
}

func cutString(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", nil, false
	}
	return string(b[w : w+int(n)]), b[w+int(n):], true
}
