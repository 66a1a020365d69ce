package media

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/blob"
	"github.com/storeedge/storeedge/broker/quota"
)

// declared is a begin request for size bytes that are never sent (n makes
// the content, and so the hash, distinct).
func declared(upload string, size, n int) string {
	return fmt.Sprintf(`{"upload":%q,"type":"video/mp4","size":%d,"sha256":%q}`, upload, size, hashOf(bytes.Repeat([]byte{byte(n)}, size)))
}

// quotaRefusal asserts quota_exceeded with details.reason and returns
// details.retry_after (0 when absent).
func quotaRefusal(t *testing.T, a answer, reason string) float64 {
	t.Helper()
	fails(t, a, "quota_exceeded")
	d, _ := a.Error.Details.(map[string]any)
	if d["reason"] != reason {
		t.Fatalf("want reason %s: %s", reason, a.raw)
	}
	retry, _ := d["retry_after"].(float64)
	return retry
}

// Customers who reserve uploads and send nothing can no longer lock staff
// photos and camera snapshots out: each customer reserves at most
// CustomerMaxUploads uploads and CustomerMaxReservedBytes bytes, all
// customers together not the last StaffReserveBytes, and an upload without
// progress for media.DefaultUploadIdle lapses and gives its bytes back.
// Before, four customers reserving 16 uploads each filled MaxTotalBytes for
// a day and staff got quota_exceeded.
func TestCustomersCannotStarveStaffUploads(t *testing.T) {
	const mib = 1 << 20
	l := testLimits()
	l.MaxTotalBytes = 4 * mib // the staff reserve is a quarter: 1 MiB
	l.CustomerMaxReservedBytes = 2 * mib
	e := newEnv(t, envOptions{limits: l})
	custs := []*client{e.customerLogin(t), e.customerLogin(t), e.customerLogin(t), e.customerLogin(t)}

	var refused int
	for i, c := range custs {
		for j := range 16 {
			a := c.call(t, "begin", "", declared(fmt.Sprintf("clip-%d", j), mib, 16*i+j))
			if !a.OK {
				fails(t, a, "quota_exceeded")
				refused++
			}
		}
	}
	if refused != 64-3 {
		t.Fatalf("customers had %d uploads refused, want 61: together they reserve at most 3 MiB of 4", refused)
	}
	// The first customer is at her own limit: the hint is when her first
	// upload lapses.
	if retry := quotaRefusal(t, custs[0].call(t, "begin", "", declared("more", mib, 99)), blob.ReasonReservedBytes); retry != blob.DefaultUploadIdle.Seconds() {
		t.Fatalf("retry_after %v, want %v", retry, blob.DefaultUploadIdle.Seconds())
	}
	quotaRefusal(t, custs[2].call(t, "begin", "", declared("more", mib, 98)), blob.ReasonFull)
	if n := e.svc.QuotaRefusals(); n[blob.ReasonReservedBytes]+n[blob.ReasonFull]+n[blob.ReasonUploads] != 63 {
		t.Fatalf("refusals counted %v, want 63 in all", n)
	}

	// Staff photos and camera stills still fit.
	img := testPNG(t, 64, 64)
	staff := e.connect(t, anna)
	ok(t, staff.call(t, "begin", "", beginBody("staff-photo", "image/png", img)))
	for i := 0; i*l.ChunkBytes < len(img); i++ {
		ok(t, staff.call(t, "chunk", "", chunkBody("staff-photo", i, chunkOf(img, l.ChunkBytes, i))))
	}
	ok(t, staff.call(t, "complete", "", `{"upload":"staff-photo"}`))
	camera := e.connect(t, cam)
	ok(t, camera.call(t, "begin", "", declared("snap-1", mib/2, 200)))

	// Progress keeps an upload alive; one without progress lapses after the
	// idle timeout, and its bytes go to the next customer.
	e.clock.Advance(blob.DefaultUploadIdle - time.Minute)
	ok(t, custs[0].call(t, "chunk", "", chunkBody("clip-0", 0, make([]byte, l.ChunkBytes))))
	e.clock.Advance(time.Minute)
	if a := ok(t, custs[0].call(t, "status", "", `{"upload":"clip-0"}`)); a.Received != 1 {
		t.Fatalf("status of the upload with progress: %s", a.raw)
	}
	fails(t, custs[0].call(t, "status", "", `{"upload":"clip-1"}`), "not_found")
	ok(t, custs[3].call(t, "begin", "", declared("late", mib, 300)))
}

// A customer's uploads spend the daily bytes budget shared with chat
// (CustomerBytes): a new upload past it is quota_exceeded; resuming an
// upload already begun is not charged again; staff are not counted.
func TestCustomerUploadBytesPerDay(t *testing.T) {
	const mib = 1 << 20
	l := testLimits()
	l.CustomerMaxReservedBytes = 8 * mib
	e := newEnv(t, envOptions{limits: l})
	e.o.svc.CustomerBytes = quota.New(quota.Options{Name: "bytes_per_day", Unit: "bytes", Per: 3 * mib / 2, Window: 24 * time.Hour, Now: e.clock.Now, Log: quietLog()})
	e.stop()
	e.start(t)
	c := e.customerLogin(t)
	ok(t, c.call(t, "begin", "", declared("a", mib, 1)))
	ok(t, c.call(t, "begin", "", declared("a", mib, 1))) // a resume
	if retry := quotaRefusal(t, c.call(t, "begin", "", declared("b", mib, 2)), "bytes_per_day"); retry != 28800 {
		t.Fatalf("retry_after %v, want 28800 (half a MiB short of 1.5 MiB a day: 8 h)", retry)
	}
	staff := e.connect(t, anna)
	ok(t, staff.call(t, "begin", "", declared("s", mib, 3)))
	e.clock.Advance(8 * time.Hour)
	ok(t, c.call(t, "begin", "", declared("b", mib, 2)))
}
