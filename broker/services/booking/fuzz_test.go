package booking

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/services/chat/faq"
	"github.com/storeedge/storeedge/broker/store"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/configs"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/mqtttest"
	"github.com/storeedge/storeedge/proto"
)

// deskNow is the rigs' clock: Monday 2026-11-23 08:00 in the store's zone.
var deskNow = time.Date(2026, 11, 23, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))

var (
	deskStaff    = auth.Identity{Device: "staff-f", Role: "staff", ClientID: "staff-f"}
	deskAdmin    = auth.Identity{Device: "admin-f", Role: "admin", ClientID: "admin-f"}
	deskCustomer = auth.Identity{Device: "cust-f", Role: "customer", ClientID: "cust-f", Customer: true}
)

// deskKeys is a fixed keyring: key id k1.
func deskKeys(tb testing.TB) *seal.Keyring {
	tb.Helper()
	key := make([]byte, seal.KeySize)
	for i := range key {
		key[i] = byte(i*11 + 5)
	}
	kr, err := seal.ParseKeys("k1:" + base64.StdEncoding.EncodeToString(key))
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}

// newDeskRig returns a Desk over a fresh bbolt file with the shipped
// catalogue and hours and a clock stopped at deskNow. Its ops are
// registered with a router over an in-process broker that is never
// started: tests call the handlers directly, and the events the Desk emits
// reach no one.
func newDeskRig(tb testing.TB) *Desk {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(store.Options{Path: filepath.Join(tb.TempDir(), "store.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	srv := mqtttest.NewServer(mqtttest.Options{InlineClient: true})
	router, err := svc.New(svc.Options{Server: srv, DB: db, Log: quiet,
		Identify: func(*mqtt.Client) (auth.Identity, bool) { return auth.Identity{}, false }})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := faq.Load(configs.FAQ)
	if err != nil {
		tb.Fatal(err)
	}
	cat, err := LoadCatalog(configs.Services, a.Hours())
	if err != nil {
		tb.Fatal(err)
	}
	d, err := New(Options{DB: db, Router: router, Seal: deskKeys(tb), Catalog: cat,
		Now: func() time.Time { return deskNow }, Log: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	if err := d.Register(); err != nil {
		tb.Fatal(err)
	}
	return d
}

// deskCall calls op's handler as who would through the router.
func deskCall(d *Desk, h svc.Handler, op, id string, who auth.Identity, body string) (any, error) {
	return h(context.Background(), &svc.Request{Service: ServiceName, Op: op, ID: id, V: 1,
		Body: json.RawMessage(body), From: who, Received: deskNow})
}

// deskMust calls op and fails the test unless it succeeds.
func deskMust(tb testing.TB, d *Desk, h svc.Handler, op, id string, who auth.Identity, body string) any {
	tb.Helper()
	res, err := deskCall(d, h, op, id, who, body)
	if err != nil {
		tb.Fatalf("%s %s: %v", op, body, err)
	}
	return res
}

// bookedID is the id of the booking a book op answered.
func bookedID(tb testing.TB, res any) string {
	tb.Helper()
	a, ok := res.(proto.BookingAnswer)
	if !ok || a.Booking.ID == "" {
		tb.Fatalf("book answered %#v", res)
	}
	return a.Booking.ID
}

// deskState is the change feed's last seq and a digest of every bucket.
func deskState(tb testing.TB, d *Desk) (uint64, [sha256.Size]byte) {
	tb.Helper()
	var seq uint64
	h := sha256.New()
	err := d.o.DB.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bMeta); b != nil {
			if v := b.Get(metaSeq); len(v) == 8 {
				seq = binary.BigEndian.Uint64(v)
			}
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h.Write(binary.AppendUvarint(nil, uint64(len(name))))
			h.Write(name)
			return b.ForEach(func(k, v []byte) error {
				h.Write(binary.AppendUvarint(nil, uint64(len(k))))
				h.Write(k)
				h.Write(binary.AppendUvarint(nil, uint64(len(v))))
				h.Write(v)
				return nil
			})
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return seq, sum
}

// FuzzDecode feeds the same bytes to every op of the booking service, as
// staff and as a customer, and to both HQ topics. Nothing may panic; every
// refusal is an *svc.Error with a stable code (HQ: ErrHQInput, or an
// outcome); a refused request changes nothing in the database; an answer
// marshals to a JSON object; and the free slots availability answers lie on
// the dates they are listed under, not before now.
func FuzzDecode(f *testing.F) {
	d := newDeskRig(f)
	book := func(id, service, start string) string {
		return bookedID(f, deskMust(f, d, d.book, "book", id, deskStaff,
			fmt.Sprintf(`{"service":%q,"start":%q,"customer":%q}`, service, start, deskCustomer.Device)))
	}
	// Bookings in every state the ops act on, all the customer's: one
	// checked in today (progress), one completed (survey), one ahead
	// (reschedule, cancel); and a profile of the customer's dog.
	today := book("setup-1", "dog-groom", "2026-11-23T10:00:00+08:00")
	deskMust(f, d, d.checkIn, "check_in", "setup-2", deskStaff, fmt.Sprintf(`{"booking":%q}`, today))
	done := book("setup-3", "dog-bath", "2026-11-23T13:00:00+08:00")
	deskMust(f, d, d.checkIn, "check_in", "setup-4", deskStaff, fmt.Sprintf(`{"booking":%q}`, done))
	deskMust(f, d, d.complete, "complete", "setup-5", deskStaff, fmt.Sprintf(`{"booking":%q}`, done))
	ahead := book("setup-6", "dog-bath", "2026-11-25T11:00:00+08:00")
	deskMust(f, d, d.profilePut, "profile_put", "setup-7", deskCustomer, `{"profile":{"kind":"pet","name":"Dou","species":"dog","size":"small"}}`)
	pet := derivedID("pf-", deskCustomer.Device, "setup-7")

	for _, s := range []string{
		`{"id":"f1","v":1,"service":"dog-groom","start":"2026-11-24T15:00:00+08:00","customer":"c1"}`,
		`{"service":"dog-groom","start":"2026-11-24T15:00:00+08:00","profile":"` + pet + `","notes":"afraid of the dryer","contact":{"name":"Wang","phone":"13800000000"}}`,
		`{"service":"dog-groom","start":"2026-11-24T15:00:00","customer":"c1"}`,
		`{"service":"dog-groom","start":"2026-11-24T16:00:00+08:00","source":"walk_in","contact":{"name":"Wang","phone":"13800000000"}}`,
		`{"service":"dog-groom","start":"2026-11-24T15:00:00+08:00","customer":"c1","confirm_overlap":true}`,
		`{"query":"wang"}`, `{"query":"138"}`, `{"from":"2026-11-24","days":7}`, `{"days":32}`,
		`{"service":"dog-groom","start":"next tuesday 3pm","customer":"c1"}`,
		`{"service":"dog-groom","start":"2026-11-24T15:00:00+08:00","customer":"c1","colour":"red"}`,
		`{"service":"dog-groom","start":"2026-11-24T15:00:00+08:00","customer":"c1","notes":"` + strings.Repeat("汪", 300) + `"}`,
		`{"service":{"a":[1,{"b":null}]},"start":[[[]]],"customer":{"":{}}}`,
		`{"service":"dog-groom","date":"2026-11-24","days":31}`,
		`{"service":"baby-swim","date":"0001-01-01","days":31}`,
		`{"booking":"` + ahead + `","start":"2026-11-26T11:00:00+08:00"}`,
		`{"booking":"` + ahead + `","reason":"the dog is ill"}`,
		`{"booking":"` + today + `","stage":"bathing","note":"calm so far"}`,
		`{"booking":"` + done + `","score":5,"comment":"很好"}`,
		`{"customer":"cust-f","profile":{"kind":"baby","name":"Xiaobao","birth_date":"2026-01-05","allergies":["milk"]}}`,
		`{"customer":"cust-f","from":"2026-11-01","after":0,"limit":5,"date":"2026-11-23"}`,
		`{"v":1,"id":"r1","customer":"hq-c1","service":"dog-groom","start":"2026-11-24T11:00:00+08:00","profile":{"kind":"pet","name":"Bao","species":"dog","size":"medium"}}`,
		`{"v":1,"id":"r2","customer":"hq-c1","booking":"` + derivedID("bk-", hqDevice, "r1") + `","reason":"plans changed"}`,
		`{"v":1,"id":"r3","customer":"hq-c2","service":"dog-groom","start":"2027-06-01T15:00:00+08:00"}`,
		`{"notes":"` + "\xff\xfe" + `"}`,
		`{"id":"f1","v":1} {}`,
		`[1,2,3]`, `"book"`, `42`, `null`, ``,
	} {
		f.Add([]byte(s))
	}

	ops := []struct {
		name string
		h    svc.Handler
	}{
		{"services", d.services}, {"availability", d.availability}, {"book", d.book},
		{"reschedule", d.reschedule}, {"cancel", d.cancel}, {"no_show", d.noShow},
		{"check_in", d.checkIn}, {"progress", d.progress}, {"complete", d.complete},
		{"survey", d.survey}, {"get", d.get}, {"list", d.list}, {"board", d.board},
		{"changes", d.changes}, {"profile_put", d.profilePut}, {"profile_list", d.profileList},
		{"profile_delete", d.profileDelete}, {"board_days", d.boardDays}, {"customers", d.customers},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, who := range []auth.Identity{deskStaff, deskCustomer} {
			for _, op := range ops {
				seq, sum := deskState(t, d)
				res, err := op.h(context.Background(), &svc.Request{Service: ServiceName, Op: op.name, ID: "f1", V: 1,
					Body: json.RawMessage(body), From: who, Received: deskNow})
				if err != nil {
					var se *svc.Error
					if !errors.As(err, &se) || se == nil {
						t.Fatalf("%s as %s: %q: not an *svc.Error: %v", op.name, who.Role, body, err)
					}
					switch se.Code {
					case svc.CodeBadRequest, svc.CodeTooLarge, svc.CodeNotFound, svc.CodeForbidden, svc.CodeConflict:
						if seq2, sum2 := deskState(t, d); seq2 != seq || sum2 != sum {
							t.Fatalf("%s as %s: %q: answered %v but changed the database (seq %d → %d)", op.name, who.Role, body, err, seq, seq2)
						}
					case svc.CodeQuotaExceeded:
						if op.name != "profile_put" {
							t.Fatalf("%s as %s: %q: %v", op.name, who.Role, body, err)
						}
					default:
						t.Fatalf("%s as %s: %q: code %q: %v", op.name, who.Role, body, se.Code, err)
					}
					if _, err := json.Marshal(se); err != nil {
						t.Fatalf("%s as %s: %q: error does not marshal: %v", op.name, who.Role, body, err)
					}
					continue
				}
				b, err := json.Marshal(res)
				if err != nil || (res != nil && (len(b) == 0 || b[0] != '{')) {
					t.Fatalf("%s as %s: %q: answer %T is not a JSON object: %s %v", op.name, who.Role, body, res, b, err)
				}
				if op.name == "availability" {
					checkAvailability(t, d, body, b)
				}
			}
		}
		for _, topic := range []string{HQRequestTopic, HQCancelTopic} {
			seq, sum := deskState(t, d)
			o, err := d.HandleHQ(context.Background(), topic, body)
			switch {
			case errors.Is(err, ErrHQInput):
				if seq2, sum2 := deskState(t, d); seq2 != seq || sum2 != sum {
					t.Fatalf("%s: %q: dropped (%v) but changed the database (seq %d → %d)", topic, body, err, seq, seq2)
				}
			case err != nil:
				t.Fatalf("%s: %q: %v", topic, body, err)
			case o == nil:
				t.Fatalf("%s: %q: no outcome and no error", topic, body)
			default:
				if _, err := json.Marshal(o); err != nil {
					t.Fatalf("%s: %q: outcome does not marshal: %v", topic, body, err)
				}
				if !o.OK && o.Code == "" {
					t.Fatalf("%s: %q: a refusal without a code: %+v", topic, body, o)
				}
			}
		}
	})
}

// checkAvailability checks an availability answer: every slot starts on the
// date it is listed under, not before now, and ends after it starts.
func checkAvailability(t *testing.T, d *Desk, body, answer []byte) {
	t.Helper()
	var a struct {
		Days []struct {
			Date  string `json:"date"`
			Slots []struct {
				Start string `json:"start"`
				End   string `json:"end"`
			} `json:"slots"`
		} `json:"days"`
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		t.Fatalf("availability: %q: answer %s: %v", body, answer, err)
	}
	loc := d.cat().Location()
	for _, day := range a.Days {
		for _, s := range day.Slots {
			start, err1 := time.Parse(time.RFC3339, s.Start)
			end, err2 := time.Parse(time.RFC3339, s.End)
			switch {
			case err1 != nil || err2 != nil:
				t.Fatalf("availability: %q: slot %+v: %v %v", body, s, err1, err2)
			case DateOf(start, loc).String() != day.Date:
				t.Fatalf("availability: %q: slot %s listed under %s", body, s.Start, day.Date)
			case start.Before(deskNow):
				t.Fatalf("availability: %q: slot %s is before now", body, s.Start)
			case !end.After(start):
				t.Fatalf("availability: %q: slot %s ends at %s", body, s.Start, s.End)
			}
		}
	}
}
