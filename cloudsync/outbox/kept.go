package outbox

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Epoch is the database's epoch (doc.go, "Epochs"). In a writable tx it is
// made when the database has none yet (adopting the database id an
// earlier version kept, if any); in a read-only tx the zero EpochInfo
// says there is none.
func (o *Outbox) Epoch(tx *bolt.Tx) (EpochInfo, error) {
	meta := tx.Bucket(bMeta)
	if meta != nil {
		if ep, ok := readEpoch(meta); ok {
			return ep, nil
		}
	}
	if !tx.Writable() {
		if lm := tx.Bucket(legacyMeta); lm != nil {
			if v := lm.Get(metaEpoch); v != nil {
				return EpochInfo{ID: string(v), Reason: EpochAdopted}, nil
			}
		}
		return EpochInfo{}, nil
	}
	meta, err := tx.CreateBucketIfNotExists(bMeta)
	if err != nil {
		return EpochInfo{}, fmt.Errorf("outbox: %w", err)
	}
	return o.ensureEpoch(tx, meta)
}

func readEpoch(meta *bolt.Bucket) (EpochInfo, bool) {
	v := meta.Get(metaEpoch)
	if v == nil {
		return EpochInfo{}, false
	}
	ep := EpochInfo{ID: string(v), Reason: string(meta.Get(metaEpochReason))}
	if m := meta.Get(metaEpochMade); len(m) == 8 {
		ep.Made = time.Unix(0, int64(binary.BigEndian.Uint64(m)))
	}
	return ep, true
}

// ensureEpoch returns the epoch, making it when there is none.
func (o *Outbox) ensureEpoch(tx *bolt.Tx, meta *bolt.Bucket) (EpochInfo, error) {
	if ep, ok := readEpoch(meta); ok {
		return ep, nil
	}
	if lm := tx.Bucket(legacyMeta); lm != nil {
		if v := lm.Get(metaEpoch); v != nil {
			return o.setEpoch(meta, EpochInfo{ID: string(v), Reason: EpochAdopted, Made: o.o.Now()})
		}
	}
	id, err := newEpochID()
	if err != nil {
		return EpochInfo{}, err
	}
	return o.setEpoch(meta, EpochInfo{ID: id, Reason: EpochNew, Made: o.o.Now()})
}

func (o *Outbox) setEpoch(meta *bolt.Bucket, ep EpochInfo) (EpochInfo, error) {
	for k, v := range map[string][]byte{
		string(metaEpoch): []byte(ep.ID), string(metaEpochReason): []byte(ep.Reason),
		string(metaEpochMade): binary.BigEndian.AppendUint64(nil, uint64(ep.Made.UnixNano())),
	} {
		if err := meta.Put([]byte(k), v); err != nil {
			return EpochInfo{}, fmt.Errorf("outbox: epoch: %w", err)
		}
	}
	return ep, nil
}

func newEpochID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("outbox: epoch: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// NewEpoch starts a new epoch in tx (writable), for a box restored from a
// backup: a new random id (reason "restored") and every stream's numbers
// start again at 1. Entries still waiting keep the epoch and numbers they
// were filed with (they are rewritten in the current version first, so
// that an entry from before epochs keeps the id it was always sent under).
func (o *Outbox) NewEpoch(tx *bolt.Tx) (EpochInfo, error) {
	if _, err := o.SealOld(tx); err != nil {
		return EpochInfo{}, err
	}
	meta, err := tx.CreateBucketIfNotExists(bMeta)
	if err != nil {
		return EpochInfo{}, fmt.Errorf("outbox: %w", err)
	}
	var counters [][]byte
	c := meta.Cursor()
	for k, _ := c.Seek(metaSSeqPrefix); k != nil && bytes.HasPrefix(k, metaSSeqPrefix); k, _ = c.Next() {
		counters = append(counters, bytes.Clone(k))
	}
	for _, k := range counters {
		if err := meta.Delete(k); err != nil {
			return EpochInfo{}, fmt.Errorf("outbox: %w", err)
		}
	}
	id, err := newEpochID()
	if err != nil {
		return EpochInfo{}, err
	}
	return o.setEpoch(meta, EpochInfo{ID: id, Reason: EpochRestored, Made: o.o.Now()})
}

// LastSSeq is the last number given in stream (a class) of the current
// epoch; 0 when none. tx may be read-only.
func (o *Outbox) LastSSeq(tx *bolt.Tx, stream string) uint64 {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		return 0
	}
	if v := meta.Get(append(slices.Clone(metaSSeqPrefix), stream...)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Sequenced reports whether entries of class get stream numbers: the
// classes that are never evicted.
func (o *Outbox) Sequenced(class string) bool {
	return slices.Contains(o.o.Order, class) && !o.evictable(class)
}

// keptRec is the kept range's record in the meta bucket ("kept"): count,
// bytes, dropped, dropped bytes, 8 bytes each, big endian.
type keptRec struct{ count, bytes, dropped, droppedBytes int64 }

func readKept(meta *bolt.Bucket) keptRec {
	if meta == nil {
		return keptRec{}
	}
	v := meta.Get(metaKept)
	if len(v) != 32 {
		return keptRec{}
	}
	return keptRec{
		count: int64(binary.BigEndian.Uint64(v)), bytes: int64(binary.BigEndian.Uint64(v[8:])),
		dropped: int64(binary.BigEndian.Uint64(v[16:])), droppedBytes: int64(binary.BigEndian.Uint64(v[24:])),
	}
}

func (r keptRec) write(meta *bolt.Bucket) error {
	v := make([]byte, 0, 32)
	for _, n := range []int64{r.count, r.bytes, r.dropped, r.droppedBytes} {
		v = binary.BigEndian.AppendUint64(v, uint64(n))
	}
	if err := meta.Put(metaKept, v); err != nil {
		return fmt.Errorf("outbox: kept: %w", err)
	}
	return nil
}

// keptKey is a kept entry's key: length of the epoch (1 byte), the epoch,
// the class id, the stream number (8 bytes big endian), so a stream of an
// epoch is one ordered prefix.
func keptKey(epoch string, classID byte, sseq uint64) []byte {
	k := keptPrefix(epoch, classID)
	return binary.BigEndian.AppendUint64(k, sseq)
}

func keptPrefix(epoch string, classID byte) []byte {
	k := make([]byte, 0, 2+len(epoch)+8)
	k = append(k, byte(len(epoch)))
	k = append(k, epoch...)
	return append(k, classID)
}

// TrimKept drops, in tx (writable), the kept entries older than
// Options.KeepFor and, oldest first, those past Options.KeepBytes; it
// returns how many, also counted in Stats. Ack calls it; call it now and
// then (the bridge does every minute) so that entries expire without new
// acknowledgements. The cost is one seek per kept stream per dropped entry.
func (o *Outbox) TrimKept(tx *bolt.Tx) (int, error) {
	kept, meta := tx.Bucket(bKept), tx.Bucket(bMeta)
	if kept == nil || meta == nil {
		return 0, nil
	}
	kr := readKept(meta)
	cutoff := o.o.Now().Add(-o.o.KeepFor)
	dropped := 0
	for {
		// The oldest first entry among the streams.
		var oldK []byte
		var oldAt time.Time
		var oldSize int64
		c := kept.Cursor()
		for k, v := c.First(); k != nil; {
			if len(k) < 10 || len(v) < 9 {
				return dropped, fmt.Errorf("outbox: kept %x: %w", k, ErrCorrupt)
			}
			h, err := parseHeader(v[9:])
			if err != nil {
				return dropped, fmt.Errorf("outbox: kept %x: %w", k, err)
			}
			if oldK == nil || h.stored.Before(oldAt) {
				oldK, oldAt, oldSize = bytes.Clone(k), h.stored, h.size
			}
			end := append(bytes.Clone(k[:len(k)-8]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
			if k, v = c.Seek(end); k != nil && bytes.Equal(k, end) {
				k, v = c.Next()
			}
		}
		if oldK == nil || (!oldAt.Before(cutoff) && (o.o.KeepBytes == 0 || kr.bytes <= o.o.KeepBytes)) {
			break
		}
		if err := kept.Delete(oldK); err != nil {
			return dropped, fmt.Errorf("outbox: trim kept: %w", err)
		}
		kr.count--
		kr.bytes -= oldSize
		kr.dropped++
		kr.droppedBytes += oldSize
		dropped++
	}
	if dropped > 0 {
		return dropped, kr.write(meta)
	}
	return 0, nil
}

// Refiled is what Refile did.
type Refiled struct {
	// Complete: every number of the range was kept or is still waiting
	// to be sent. When it is not, nothing was filed.
	Complete bool
	// Count is how many kept entries were filed again.
	Count int
	// Waiting is how many of the range had not been acknowledged yet
	// (they go up anyway).
	Waiting int
}

// Refile files again, in tx (writable), the entries numbered from..to of
// stream in the current epoch that HQ acknowledged and the kept range
// still holds, with the same epoch, origin, stream number and stamp (HQ
// drops what it had by origin). Only when the whole range is kept or still
// waiting; else nothing changes and Complete is false. Its cost is a walk
// over the range in the kept bucket and over the stream's waiting entries.
func (o *Outbox) Refile(tx *bolt.Tx, stream string, from, to uint64) (Refiled, error) {
	if from == 0 || to < from {
		return Refiled{}, fmt.Errorf("outbox: refile %s %d..%d: want 1 ≤ from ≤ to", stream, from, to)
	}
	meta, b := tx.Bucket(bMeta), tx.Bucket(bEntries)
	if meta == nil || b == nil || !o.Sequenced(stream) {
		return Refiled{}, nil
	}
	ep, ok := readEpoch(meta)
	if !ok || to > o.LastSSeq(tx, stream) {
		return Refiled{}, nil
	}
	classes, err := readClasses(meta)
	if err != nil {
		return Refiled{}, err
	}
	rec := classes[stream]
	if rec == nil {
		return Refiled{}, nil
	}
	want := to - from + 1
	if want > uint64(rec.count+readKept(meta).count) {
		return Refiled{}, nil // more than could be there
	}
	waiting := map[uint64]bool{}
	c := b.Cursor()
	for k, v := c.Seek([]byte{rec.id}); k != nil && k[0] == rec.id; k, v = c.Next() {
		h, err := parseHeader(v)
		if err != nil {
			return Refiled{}, fmt.Errorf("outbox: %s seq %d: %w", stream, binary.BigEndian.Uint64(k[1:]), err)
		}
		if h.epoch == ep.ID && h.sseq >= from && h.sseq <= to {
			waiting[h.sseq] = true
		}
	}
	type keptEntry struct {
		sseq uint64
		v    []byte
	}
	var again []keptEntry
	if kept := tx.Bucket(bKept); kept != nil {
		kc := kept.Cursor()
		end := keptKey(ep.ID, rec.id, to)
		for k, v := kc.Seek(keptKey(ep.ID, rec.id, from)); k != nil && bytes.Compare(k, end) <= 0; k, v = kc.Next() {
			sseq := binary.BigEndian.Uint64(k[len(k)-8:])
			if !waiting[sseq] {
				again = append(again, keptEntry{sseq, bytes.Clone(v)})
			}
		}
	}
	if uint64(len(again)+len(waiting)) != want {
		return Refiled{}, nil
	}
	for _, ke := range again {
		if len(ke.v) < 9 {
			return Refiled{}, fmt.Errorf("outbox: kept %s %d: %w", stream, ke.sseq, ErrCorrupt)
		}
		origKey, v := ke.v[:9], ke.v[9:]
		e, err := o.decode(origKey, v)
		if err != nil {
			return Refiled{}, fmt.Errorf("outbox: kept %s %d: %w", stream, ke.sseq, err)
		}
		if e.Origin == "" {
			e.Origin = fmt.Sprint(binary.BigEndian.Uint64(origKey[1:]))
		}
		e.Class = stream
		if err := o.put(tx, e, false); err != nil {
			return Refiled{}, err
		}
	}
	return Refiled{Complete: true, Count: len(again), Waiting: len(waiting)}, nil
}
