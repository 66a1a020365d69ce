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

	metaClassPrefix = []byte("c/")
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
	// Origin is the id HQ deduplicates by; fmt.Sprint(Seq) when Put was
	// given none.
	Origin  string
	Payload []byte
	Stored  time.Time
}

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
	Oldest time.Time
	// Classes has every class ever Put, including empty ones, so the
	// eviction counters stay visible.
	Classes map[string]ClassStats
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
	return &Outbox{o: o}, nil
}

// Put files payload under the local topic with Origin = fmt.Sprint(Seq).
// It implements the Outbox interfaces of broker/services/chat and broker/services/booking.
func (o *Outbox) Put(tx *bolt.Tx, topic string, payload []byte) error {
	return o.PutOrigin(tx, topic, "", payload)
}

// PutOrigin files payload under the local topic with the given origin id,
// in tx, which must be writable. It evicts as doc.go describes; on ErrQuota
// and on bad input it changes nothing.
func (o *Outbox) PutOrigin(tx *bolt.Tx, topic, origin string, payload []byte) error {
	switch {
	case topic == "":
		return errors.New("outbox: empty topic")
	case len(topic) > maxString:
		return fmt.Errorf("outbox: topic of %d bytes is longer than %d", len(topic), maxString)
	case len(origin) > maxString:
		return fmt.Errorf("outbox: origin of %d bytes is longer than %d", len(origin), maxString)
	}
	class := o.o.Classify(topic)
	if !slices.Contains(o.o.Order, class) {
		return fmt.Errorf("outbox: topic %q: class %q is not one of %v", topic, class, o.o.Order)
	}
	size := int64(len(topic) + len(origin) + len(payload))

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
	v, err := o.encode(k, o.o.Now(), topic, origin, payload)
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

// SealOld seals, in tx (writable), the entries an older version filed in
// the clear, keeping their place, stamp and size; it returns how many. It
// does nothing without Options.Seal.
func (o *Outbox) SealOld(tx *bolt.Tx) (int, error) {
	b := tx.Bucket(bEntries)
	if b == nil || o.o.Seal == nil {
		return 0, nil
	}
	type kv struct{ k, v []byte }
	var sealed []kv
	err := b.ForEach(func(k, v []byte) error {
		if len(v) == 0 || v[0] != entryVersion {
			return nil
		}
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("outbox: seq %d: %w", binary.BigEndian.Uint64(k[1:]), err)
		}
		nv, err := o.encode(k, e.Stored, e.Topic, e.Origin, e.Payload)
		if err != nil {
			return err
		}
		sealed = append(sealed, kv{bytes.Clone(k), nv})
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, e := range sealed {
		if err := b.Put(e.k, e.v); err != nil {
			return 0, fmt.Errorf("outbox: %w", err)
		}
	}
	return len(sealed), nil
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
// so a repeated PUBACK after a reconnect is harmless.
func (o *Outbox) Ack(tx *bolt.Tx, seqs ...uint64) error {
	b, meta := tx.Bucket(bEntries), tx.Bucket(bMeta)
	if b == nil || meta == nil || len(seqs) == 0 {
		return nil
	}
	classes, err := readClasses(meta)
	if err != nil {
		return err
	}
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
			n, err := entrySize(v)
			if err != nil {
				return fmt.Errorf("outbox: ack seq %d: %w", seq, err)
			}
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("outbox: ack: %w", err)
			}
			rec.count--
			rec.bytes -= n
			if !slices.Contains(changed, class) {
				changed = append(changed, class)
			}
			break
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
	if b := tx.Bucket(bEntries); b != nil {
		c := b.Cursor()
		for name, r := range classes {
			k, v := c.Seek([]byte{r.id})
			if k == nil || k[0] != r.id {
				continue
			}
			stored, err := storedAt(v)
			if err != nil {
				return s, fmt.Errorf("outbox: %s seq %d: %w", name, binary.BigEndian.Uint64(k[1:]), err)
			}
			if s.Oldest.IsZero() || stored.Before(s.Oldest) {
				s.Oldest = stored
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

// Entry versions: 1 in the clear, 2 sealed (doc.go).
const (
	entryVersion  = 1
	sealedVersion = 2
)

// encode makes the stored value of an entry under key k: sealed when
// Options.Seal is set.
func (o *Outbox) encode(k []byte, stored time.Time, topic, origin string, payload []byte) ([]byte, error) {
	if o.o.Seal == nil {
		return encodeEntry(stored, topic, origin, payload), nil
	}
	plain := encodeEntry(stored, topic, origin, payload)[9:]
	sealed, err := o.o.Seal.Seal(plain, entryAD(k))
	if err != nil {
		return nil, fmt.Errorf("outbox: seal entry: %w", err)
	}
	v := make([]byte, 0, 9+binary.MaxVarintLen64+len(sealed))
	v = append(v, sealedVersion)
	v = binary.BigEndian.AppendUint64(v, uint64(stored.UnixNano()))
	v = binary.AppendUvarint(v, uint64(len(topic)+len(origin)+len(payload)))
	return append(v, sealed...), nil
}

// decode reads the value stored under key k, sealed or in the clear.
func (o *Outbox) decode(k, v []byte) (Entry, error) {
	if len(v) < 9 || v[0] != sealedVersion {
		return decodeEntry(v)
	}
	_, w := binary.Uvarint(v[9:])
	if w <= 0 {
		return Entry{}, ErrCorrupt
	}
	if o.o.Seal == nil {
		return Entry{}, fmt.Errorf("%w: the entry is sealed and Options.Seal is not set", ErrCorrupt)
	}
	plain, err := o.o.Seal.Open(v[9+w:], entryAD(k))
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return decodeEntry(append(bytes.Clone(v[:9:9]), plain...))
}

// entryAD binds a sealed entry to its place: bucket name 0x00 key.
func entryAD(k []byte) []byte {
	ad := make([]byte, 0, len(bEntries)+1+len(k))
	return append(append(append(ad, bEntries...), 0), k...)
}

func encodeEntry(stored time.Time, topic, origin string, payload []byte) []byte {
	v := make([]byte, 0, 1+8+2*binary.MaxVarintLen64+len(topic)+len(origin)+len(payload))
	v = append(v, entryVersion)
	v = binary.BigEndian.AppendUint64(v, uint64(stored.UnixNano()))
	v = binary.AppendUvarint(v, uint64(len(topic)))
	v = append(v, topic...)
	v = binary.AppendUvarint(v, uint64(len(origin)))
	v = append(v, origin...)
	return append(v, payload...)
}

// decodeEntry decodes a version 1 value (the version byte is not checked:
// decode passes an opened version 2 value too), copying what it keeps:
// bbolt's memory is valid only during the transaction. Seq and Class come
// from the key.
func decodeEntry(v []byte) (Entry, error) {
	if len(v) < 9 || (v[0] != entryVersion && v[0] != sealedVersion) {
		return Entry{}, ErrCorrupt
	}
	e := Entry{Stored: time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9])))}
	rest := v[9:]
	topic, rest, ok := cutString(rest)
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

// storedAt is when an entry (either version) was stored.
func storedAt(v []byte) (time.Time, error) {
	if len(v) < 9 || (v[0] != entryVersion && v[0] != sealedVersion) {
		return time.Time{}, ErrCorrupt
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[1:9]))), nil
}

// entrySize is an entry's budget size (topic + origin + payload) without
// copying or opening it.
func entrySize(v []byte) (int64, error) {
	if len(v) >= 9 && v[0] == sealedVersion {
		n, w := binary.Uvarint(v[9:])
		if w <= 0 {
			return 0, ErrCorrupt
		}
		return int64(n), nil
	}
	if len(v) < 9 || v[0] != entryVersion {
		return 0, ErrCorrupt
	}
	header := 9
	rest := v[9:]
	for range 2 {
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n {
			return 0, ErrCorrupt
		}
		header += w
		rest = rest[w+int(n):]
	}
	return int64(len(v) - header), nil
}

func cutString(b []byte) (string, []byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", nil, false
	}
	return string(b[w : w+int(n)]), b[w+int(n):], true
}
