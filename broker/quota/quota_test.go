package quota

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker/svc"
	"github.com/storeedge/storeedge/internal/testkit/testclock"
)

func TestLimiter(t *testing.T) {
	clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := New(Options{Name: "messages_per_minute", Unit: "messages", Per: 3, Window: time.Minute, Now: clock.Now, Log: slog.New(slog.DiscardHandler)})
	for i := range 3 {
		if err := l.Take("a", 1); err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
	}
	err := l.Take("a", 1)
	var se *svc.Error
	if !errors.As(err, &se) || se.Code != svc.CodeQuotaExceeded {
		t.Fatalf("4th take: %v", err)
	}
	b, _ := json.Marshal(se.Details)
	if string(b) != `{"reason":"messages_per_minute","retry_after":20}` {
		t.Fatalf("details %s", b)
	}
	if l.Take("b", 1) != nil {
		t.Fatal("another key shares the budget")
	}
	clock.Advance(20 * time.Second)
	if err := l.Take("a", 1); err != nil {
		t.Fatalf("after the retry hint: %v", err)
	}
	if l.Refused() != 1 {
		t.Fatalf("refused %d", l.Refused())
	}
	if err := l.Take("a", 10); !errors.As(err, &se) || se.Details.(Details).RetryAfter != 0 {
		t.Fatalf("a take larger than the budget: %v", err)
	}
	l.Give("a", 1)
	if err := l.Take("a", 1); err != nil {
		t.Fatalf("after give: %v", err)
	}
	var none *Limiter
	if none.Take("a", 1e9) != nil || New(Options{Per: 0, Window: time.Minute}) != nil {
		t.Fatal("a nil limiter limits")
	}
}

// A burst of refusals is logged once; after a success the next burst is
// logged again.
func TestLimiterLogsOncePerBurst(t *testing.T) {
	clock := testclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	l := New(Options{Name: "messages_per_minute", Unit: "messages", Per: 1, Window: time.Minute, Now: clock.Now, Log: log})
	_ = l.Take("a", 1)
	for range 100 {
		_ = l.Take("a", 1)
	}
	if n := strings.Count(buf.String(), "reached its limit"); n != 1 {
		t.Fatalf("a burst of 100 refusals logged %d times:\n%s", n, buf.String())
	}
	clock.Advance(time.Minute)
	_ = l.Take("a", 1)
	_ = l.Take("a", 1)
	if n := strings.Count(buf.String(), "reached its limit"); n != 2 || l.Refused() != 101 {
		t.Fatalf("second burst: %d log lines, %d refused", n, l.Refused())
	}
}
