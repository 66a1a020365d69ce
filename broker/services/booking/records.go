package booking

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/storeedge/storeedge/proto"
	bolt "go.etcd.io/bbolt"
)

// Buckets, owned by this package (see doc.go).
var (
	bBookings = []byte("booking_bookings")
	bBusy     = []byte("booking_busy")
	bByCust   = []byte("booking_bycust")
	bByDay    = []byte("booking_byday")
	bIDs      = []byte("booking_ids")
	bHQ       = []byte("booking_hq")
	bProfiles = []byte("booking_profiles")
	bDue      = []byte("booking_due")
	bChanges  = []byte("booking_changes")
	bMeta     = []byte("booking_meta")
	bSurveys  = []byte("booking_surveys")

	allBuckets = [][]byte{bBookings, bBusy, bByCust, bByDay, bIDs, bHQ, bProfiles, bDue, bChanges, bMeta, bSurveys}

	metaSeq       = []byte("seq")
	metaPublished = []byte("published")
)

// errCorrupt marks a stored record that does not decode.
var errCorrupt = errors.New("booking: corrupt record")

// Booking states (proto.Status*).
const (
	StatusBooked    = proto.StatusBooked
	StatusCheckedIn = proto.StatusCheckedIn
	StatusCompleted = proto.StatusCompleted
	StatusCancelled = proto.StatusCancelled
	StatusNoShow    = proto.StatusNoShow
)

// record is a stored booking. Personal data (notes, contact) is sealed.
type record struct {
	ID        string     `json:"id"`
	Customer  string     `json:"customer"`
	Service   string     `json:"service"`
	Start     time.Time  `json:"start"`
	End       time.Time  `json:"end"`
	Resources []string   `json:"resources"`
	Status    string     `json:"status"`
	Stage     string     `json:"stage,omitempty"`
	Progress  []progress `json:"progress,omitempty"`
	Profile   string     `json:"profile,omitempty"`
	Source    string     `json:"source"`
	By        string     `json:"by"`
	HQRequest string     `json:"hq_request,omitempty"`
	Sealed    []byte     `json:"sealed,omitempty"` // personal{} sealed with AD sealAD(id)
	Created   time.Time  `json:"created"`
	Updated   time.Time  `json:"updated"`
	Rev       int        `json:"rev"`
	Reminded  []string   `json:"reminded,omitempty"`
	Surveyed  bool       `json:"surveyed,omitempty"`
}

// personal is the sealed part of a booking.
type personal struct {
	Notes   string   `json:"notes,omitempty"`
	Contact *Contact `json:"contact,omitempty"`
	Reason  string   `json:"reason,omitempty"` // why it was cancelled ("the dog is sick")
}

// Contact is how the store reaches a customer who booked at the kiosk.
type Contact = proto.Contact

// progress is one stage a booking went through. Its note may be personal
// ("found a tick behind the left ear"): it is stored sealed (SealedNote,
// progressAD); Note holds it in the clear only on its way in, and in
// records written before notes were sealed.
type progress struct {
	Stage      string    `json:"stage"`
	TS         time.Time `json:"ts"`
	By         string    `json:"by"`
	Note       string    `json:"note,omitempty"`
	SealedNote []byte    `json:"sealed_note,omitempty"`
	Photo      string    `json:"photo,omitempty"`
}

// progressAD binds the sealed note of a booking's i-th stage to its place.
func progressAD(booking string, i int) []byte {
	return sealAD("progress", booking+"/"+strconv.Itoa(i))
}

// holds reports whether a booking in this state holds its resources.
func holds(status string) bool {
	return status == StatusBooked || status == StatusCheckedIn || status == StatusCompleted
}

func sealAD(kind, id string) []byte { return []byte("booking/" + kind + "/" + id) }

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// derivedID makes the id of a thing created by a request: the same
// requester and request id always give the same id, so a transaction that
// runs twice, or a request repeated after a crash, lands on the same key.
func derivedID(prefix string, parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return prefix + strings.ToLower(b32.EncodeToString(h[:10]))
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func ms(t time.Time) []byte { return u64(uint64(t.UnixMilli())) }

func dayKey(d Date) []byte { return binary.BigEndian.AppendUint32(nil, uint32(d)) }

// busyKey: date (4 bytes) booking id 0x00 resource → from ms, to ms.
func busyKey(d Date, booking, resource string) []byte {
	k := dayKey(d)
	k = append(k, booking...)
	k = append(k, 0)
	return append(k, resource...)
}

// byDayKey: date, start ms, booking id → (empty): the board's order.
func byDayKey(d Date, start time.Time, booking string) []byte {
	return append(append(dayKey(d), ms(start)...), booking...)
}

// byCustKey: customer 0x00 start ms booking id → (empty).
func byCustKey(customer string, start time.Time, booking string) []byte {
	k := append([]byte(customer), 0)
	return append(append(k, ms(start)...), booking...)
}

// dueKey: due ms, booking id 0x00 what → (empty).
func dueKey(due time.Time, booking, what string) []byte {
	return append(append(ms(due), booking...), append([]byte{0}, what...)...)
}

func requestKey(requester, reqID string) []byte { return []byte(requester + "\x00" + reqID) }

// wtx is a write transaction with every bucket at hand.
type wtx struct {
	tx                                               *bolt.Tx
	bookings, busy, bycust, byday, ids, hq, profiles *bolt.Bucket
	due, changes, meta, surveys                      *bolt.Bucket
}

func writable(tx *bolt.Tx) (*wtx, error) {
	bs := make([]*bolt.Bucket, len(allBuckets))
	for i, name := range allBuckets {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return nil, fmt.Errorf("booking: bucket %s: %w", name, err)
		}
		bs[i] = b
	}
	return &wtx{tx: tx, bookings: bs[0], busy: bs[1], bycust: bs[2], byday: bs[3], ids: bs[4], hq: bs[5],
		profiles: bs[6], due: bs[7], changes: bs[8], meta: bs[9], surveys: bs[10]}, nil
}

func getBooking(tx *bolt.Tx, id string) (*record, error) {
	b := tx.Bucket(bBookings)
	if b == nil {
		return nil, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	var r record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("%w: booking %s: %w", errCorrupt, id, err)
	}
	return &r, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	p, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("booking: encode: %w", err)
	}
	if err := b.Put(key, p); err != nil {
		return fmt.Errorf("booking: put %s: %w", b, err)
	}
	return nil
}

// busyOn reads the busy intervals that can touch date day: the bookings
// starting that day and the day before (one may run past midnight when the
// hours do). Entries are filed under their booking's start date.
func busyOn(tx *bolt.Tx, day Date) ([]Busy, error) {
	out, err := busyStarting(tx, day.AddDays(-1), nil)
	if err != nil {
		return nil, err
	}
	return busyStarting(tx, day, out)
}

// busyStarting appends the busy intervals of bookings starting on day.
func busyStarting(tx *bolt.Tx, day Date, out []Busy) ([]Busy, error) {
	b := tx.Bucket(bBusy)
	if b == nil {
		return out, nil
	}
	prefix := dayKey(day)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		rest := k[len(prefix):]
		i := bytes.IndexByte(rest, 0)
		if i < 0 || len(v) != 16 {
			return nil, fmt.Errorf("%w: busy key %x", errCorrupt, k)
		}
		out = append(out, Busy{
			Booking:  string(rest[:i]),
			Resource: string(rest[i+1:]),
			From:     time.UnixMilli(int64(binary.BigEndian.Uint64(v[:8]))),
			To:       time.UnixMilli(int64(binary.BigEndian.Uint64(v[8:]))),
		})
	}
	return out, nil
}
