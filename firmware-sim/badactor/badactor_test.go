package badactor

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/services/media"
	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

var kiosk = storetest.Device{ID: "kiosk-1", Role: "kiosk"}

func start(t *testing.T) (*storetest.Store, Target) {
	t.Helper()
	s := storetest.Start(t, storetest.Options{Devices: []storetest.Device{kiosk}})
	return s, Target{Addr: s.Addr, DeviceID: kiosk.ID, Password: "pw-" + kiosk.ID}
}

// Every misbehaviour is handled as documented and the store still serves
// an honest kiosk.
func TestRunAgainstTheBroker(t *testing.T) {
	_, target := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	results := Run(ctx, target)
	if len(results) != len(checks()) {
		t.Fatalf("%d results for %d checks", len(results), len(checks()))
	}
	for _, r := range results {
		t.Log(r)
		if !r.Pass {
			t.Errorf("%s", r)
		}
		if r.Detail == "" {
			t.Errorf("%s: no detail", r.Name)
		}
	}
	if last := results[len(results)-1]; last.Name != "honest device still served" {
		t.Errorf("the last check is %q", last.Name)
	}
	t.Logf("run took %v", time.Since(begin).Round(time.Millisecond))
}

// quick is a timing for the checks that must fail, so they fail fast.
var quick = timing{check: 10 * time.Second, closed: 300 * time.Millisecond, quiet: 300 * time.Millisecond, answer: 5 * time.Second}

// The helpers behind the checks fail when the broker does something other
// than what they expect: a check cannot pass whatever happens.
func TestChecksCanFail(t *testing.T) {
	_, target := start(t)
	r := &runner{t: target, tm: quick}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A wrong password is 0x86, not 0x85.
	if d, err := r.expectConnack(ctx, kiosk.ID, kiosk.ID, "nope", 0x85); err == nil || !strings.Contains(err.Error(), "CONNACK 0x86, want 0x85") {
		t.Errorf("wrong password expected as 0x85: %q, %v", d, err)
	}
	// Good credentials are accepted: a check that wants a refusal fails.
	if d, err := r.expectConnack(ctx, kiosk.ID, kiosk.ID, "pw-"+kiosk.ID, 0x86); err == nil || !strings.Contains(err.Error(), "accepted") {
		t.Errorf("good login expected refused: %q, %v", d, err)
	}

	// A broker that keeps the connection open fails expectClosed: after a
	// proper CONNECT it waits for the next packet.
	conn, done, err := dial(ctx, target.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.rawConnect(ctx, conn, r.clientID("t-open")); err != nil {
		t.Fatal(err)
	}
	if d, err := expectClosed(ctx, conn, quick.closed); err == nil || !strings.Contains(err.Error(), "still open") {
		t.Errorf("open connection seen as closed: %q, %v", d, err)
	}
	done()

	s, err := r.honest(ctx, r.clientID("t-req"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	// Malformed JSON is bad_request, not not_found.
	if _, d, err := r.expectError(ctx, s, []byte(`{oops`), "not_found"); err == nil || !strings.Contains(err.Error(), `"bad_request"`) {
		t.Errorf("bad_request expected as not_found: %q, %v", d, err)
	}
	// A proper request is answered ok: a check that wants an error fails.
	if _, d, err := r.expectError(ctx, s, r.servicesRequest(), "bad_request"); err == nil || !strings.Contains(err.Error(), `"ok":true`) {
		t.Errorf("ok answer expected as an error: %q, %v", d, err)
	}
	// Just over 64 KiB is under the broker's request limit: not too_large
	// (the op refuses the unknown field instead).
	head := fmt.Sprintf(`{"id":%q,"v":1,"pad":"`, r.reqID())
	over64k := []byte(head + strings.Repeat("x", 65<<10-len(head)-2) + `"}`)
	if _, d, err := r.expectError(ctx, s, over64k, "too_large"); err == nil || !strings.Contains(err.Error(), `"bad_request"`) {
		t.Errorf("a 65 KiB request: %q, %v", d, err)
	}
	// An answer that does come is seen (what the dropped-request check
	// relies on when it reports silence).
	if a, err := r.request(ctx, s, r.servicesRequest(), s.replyTopic("x"), quick.answer); err != nil || !a.OK {
		t.Errorf("own reply topic: %+v, %v", a, err)
	}
	// The forbidden-subscribe check's codes: the own reply topic is granted.
	if code, err := s.subscribe(ctx, s.replyFilter()); err != nil || code >= 0x80 {
		t.Errorf("own reply filter: 0x%02X, %v", code, err)
	}
}

// With nothing listening, every check fails quickly and none hangs.
func TestRunWithoutBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	begin := time.Now()
	results := run(ctx, Target{Addr: addr, DeviceID: "kiosk-1", Password: "x"}, quick, checks())
	for _, r := range results {
		if r.Pass {
			t.Errorf("passed without a broker: %s", r)
		}
	}
	if el := time.Since(begin); el > 20*time.Second {
		t.Errorf("took %v", el)
	}
}

// A broker that accepts connections and never answers: the checks end
// at their deadlines, and a cancelled context stops the rest at once.
func TestRunAgainstSilentListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read
		}
	}()
	tm := quick
	tm.check, tm.answer = 700*time.Millisecond, 500*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cs := checks()
	begin := time.Now()
	results := run(ctx, Target{Addr: ln.Addr().String(), DeviceID: "kiosk-1", Password: "x"}, tm, cs[:3])
	for _, r := range results {
		if r.Pass {
			t.Errorf("passed against a silent listener: %s", r)
		}
	}
	if el := time.Since(begin); el > 3*tm.check {
		t.Errorf("3 checks took %v", el)
	}
	cancel()
	for _, r := range run(ctx, Target{Addr: ln.Addr().String(), DeviceID: "kiosk-1"}, tm, cs) {
		if r.Pass || !strings.Contains(r.Detail, "not run") {
			t.Errorf("after cancel: %s", r)
		}
	}
}

func TestPublishPacketSize(t *testing.T) {
	for _, size := range []int{200, 16_383 + 3, 16_383 + 3 + 1, 16_384 + 3 + 1, 1 << 20, 1<<20 + 1024, 3 << 21} {
		b := publishPacket("devices/kiosk-1/telemetry", size)
		if len(b) != size && (len(b) != size+1 || size != 16_383+3+1) {
			t.Errorf("size %d: got %d bytes", size, len(b))
			continue
		}
		// the remaining length agrees with the bytes that follow it
		rem, mult, i := 0, 1, 1
		for ; ; i++ {
			rem += int(b[i]&0x7f) * mult
			mult *= 128
			if b[i]&0x80 == 0 {
				break
			}
		}
		if rem != len(b)-i-1 {
			t.Errorf("size %d: remaining length %d, %d bytes follow", size, rem, len(b)-i-1)
		}
	}
}

// The default request limit is the one the broker computes for its
// default media chunk size.
func TestDefaultMaxRequestBytes(t *testing.T) {
	if want := max(svc.DefaultMaxRequestBytes, media.RequestBytesFor(0)); DefaultMaxRequestBytes != want {
		t.Errorf("DefaultMaxRequestBytes = %d, the broker's default is %d", DefaultMaxRequestBytes, want)
	}
}
