package browsertest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/internal/testkit/browsertest"
)

// outcome records how New ended a test, without ending this one.
type outcome struct {
	testing.TB
	skipped, failed string
}

func (o *outcome) Helper()                   {}
func (o *outcome) Skip(args ...any)          { o.skipped = fmt.Sprint(args...) }
func (o *outcome) Fatal(args ...any)         { o.failed = fmt.Sprint(args...) }
func (o *outcome) Fatalf(f string, a ...any) { o.failed = fmt.Sprintf(f, a...) }

func TestMissingChromium(t *testing.T) {
	t.Setenv("CHROMIUM", "/nonexistent/chromium")
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		o := &outcome{TB: t}
		if ctx := browsertest.New(o); ctx != nil {
			t.Fatalf("CI=%q: New returned a browser without one installed", ci)
		}
		msg := o.skipped
		if ci == "true" {
			msg = o.failed
			if o.skipped != "" {
				t.Errorf("CI=true: skipped (%s), want a failure", o.skipped)
			}
		} else if o.failed != "" {
			t.Errorf("CI unset: failed (%s), want a skip", o.failed)
		}
		if !strings.Contains(msg, `Debian package "chromium"`) || !strings.Contains(msg, "/nonexistent/chromium") {
			t.Errorf("CI=%q: message %q does not name the package and the path", ci, msg)
		}
	}
}
