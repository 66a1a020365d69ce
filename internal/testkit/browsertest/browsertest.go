// Package browsertest runs headless Chromium for tests of the broker's web
// pages (the camera viewer, say), with the command-line flags this machine
// and WebRTC on loopback need, and small helpers to wait on the page and to
// keep screenshots.
//
// A test gets a chromedp context with New and drives it with chromedp:
//
//	ctx := browsertest.New(t)
//	browsertest.Navigate(t, ctx, url)
//	browsertest.WaitJS(t, ctx, `window.cameraView.framesDecoded > 10`, 10*time.Second)
//
// Chromium is /usr/bin/chromium (Debian's package "chromium") or $CHROMIUM.
// Without it the test is skipped, or fails when CI is "true", so a CI
// machine that lost the package does not pass by skipping.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Option adjusts the browser New starts.
type Option func(*config)

type config struct {
	width, height int
	phone         bool
	flags         map[string]any
	netns         string
}

// WindowSize sets the browser window in CSS pixels (default 1280×800).
// Headless Chromium makes no window narrower than 500 px; use Phone for a
// phone's screen.
func WindowSize(width, height int) Option {
	return func(c *config) { c.width, c.height = width, height }
}

// Phone emulates a phone's screen: a 390×844 CSS pixel viewport, the
// mobile viewport rules (<meta name="viewport">) and touch input.
func Phone() Option {
	return func(c *config) { c.phone = true }
}

// InNamespace runs Chromium inside the network namespace name (ip netns;
// see internal/testkit/netnstest): the page reaches only what that
// namespace reaches. chromedp still drives it, over the pipe it opens
// before the browser starts.
func InNamespace(name string) Option {
	return func(c *config) { c.netns = name }
}

// Flag adds or overrides one Chromium command-line flag (a bool switch or a
// string value), for a test that needs a browser set up differently.
func Flag(name string, value any) Option {
	return func(c *config) { c.flags[name] = value }
}

// Flags are the Chromium flags New passes on top of chromedp's defaults
// (which already include --headless, --no-first-run, --disable-sync and
// --disable-background-networking). Each is here for a reason found on this
// machine; see the comments. Read it, do not change it: a test that needs
// another flag passes the Flag option.
var Flags = map[string]any{
	// Root in a container: Chromium's sandbox needs user namespaces that
	// are not there.
	"no-sandbox": true,
	// No GPU here; software rendering and software video decoding.
	"disable-gpu": true,
	// The machine's network is closed: every background fetch Chromium
	// makes at start (component updates, QUIC probes, Google hosts) is
	// refused, many at a time, which only slows it and fills the log.
	"disable-quic":                  true,
	"disable-component-update":      true,
	"disable-background-networking": true,
	"disable-sync":                  true,
	"no-first-run":                  true,
	// WebRTC with a peer on 127.0.0.1 on a host whose only interface is
	// loopback (a CI container; a test in a network namespace with only lo
	// up): with either of these two missing, Chromium 156 stayed in ICE
	// gathering and never connected. It gathers nothing on loopback
	// unless allowed, and by default it hides its addresses behind mDNS
	// names. With another interface up (eth0 here) the peer is reached
	// without them, but the tests must not depend on the machine's
	// network. The disable-features value repeats chromedp's default
	// list, which it replaces.
	"allow-loopback-in-peer-connection": true,
	"disable-features":                  "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns",
	// Not needed: --autoplay-policy=no-user-gesture-required. Muted
	// <video autoplay> plays without a gesture under the default policy,
	// and the camera pages mute their video.
}

// chromiumPath finds the browser: $CHROMIUM, else /usr/bin/chromium, else
// "chromium" on $PATH.
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$CHROMIUM=%s: %w", p, err)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", errors.New("no /usr/bin/chromium and none on $PATH")
}

// Available reports whether a browser is installed, and why not.
func Available() error {
	_, err := chromiumPath()
	return err
}

// missing skips the test, or fails it on CI, when there is no browser.
func missing(t testing.TB, err error) {
	t.Helper()
	msg := fmt.Sprintf("browsertest: no Chromium (%v): install the Debian package \"chromium\" (apt-get install chromium) or set $CHROMIUM", err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
		return
	}
	t.Skip(msg)
}

// startTimeout bounds the start of the browser (about 0.3 s here).
const startTimeout = 30 * time.Second

// New starts a headless Chromium with a fresh profile and returns the
// context of its first tab. The browser is closed when the test ends; if
// the test failed, the page's console messages and uncaught exceptions and
// the browser's own output are logged.
func New(t testing.TB, opts ...Option) context.Context {
	t.Helper()
	path, err := chromiumPath()
	if err != nil {
		missing(t, err)
		return nil // not reached: Skip and Fatal end the test's goroutine
	}
	c := config{width: 1280, height: 800, flags: map[string]any{}}
	for k, v := range Flags {
		c.flags[k] = v
	}
	for _, o := range opts {
		o(&c)
	}

	if c.netns != "" {
		if _, err := exec.LookPath("ip"); err != nil {
			t.Fatalf("browsertest: a browser in namespace %s needs the ip command (Debian's iproute2): %v", c.netns, err)
		}
		wrapper := filepath.Join(t.TempDir(), "chromium-in-"+c.netns)
		script := fmt.Sprintf("#!/bin/sh\nexec ip netns exec %s %s \"$@\"\n", c.netns, path)
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			t.Fatalf("browsertest: %v", err)
		}
		path = wrapper
	}
	out := &logBuffer{}
	aopts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(c.width, c.height),
		chromedp.CombinedOutput(out),
	)
	for k, v := range c.flags {
		aopts = append(aopts, chromedp.Flag(k, v))
	}
	// No UserDataDir: chromedp makes a fresh temporary profile and removes
	// it, with any helper process still writing into it, when the browser
	// exits.
	actx, acancel := chromedp.NewExecAllocator(context.Background(), aopts...)
	ctx, cancel := chromedp.NewContext(actx)

	page := &logBuffer{}
	// The first action starts the browser, which then lives as long as the
	// context of that action: so no deadline on that context, but a timer
	// beside it keeps a browser that hangs at start from hanging the test.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	var startErr error
	select {
	case startErr = <-started:
	case <-time.After(startTimeout):
		startErr = fmt.Errorf("not started within %v", startTimeout)
	}
	if startErr != nil {
		cancel()
		acancel()
		t.Fatalf("browsertest: start %s: %v\n%s", path, startErr, out)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				if a.Value != nil {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			page.printf("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			page.printf("exception at %s:%d: %s", d.URL, d.LineNumber+1, msg)
		}
	}); err != nil {
		cancel()
		acancel()
		t.Fatalf("browsertest: listen: %v", err)
	}

	if c.phone {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
			cancel()
			acancel()
			t.Fatalf("browsertest: phone viewport: %v", err)
		}
	}

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("browsertest: page console:\n%s", page)
			t.Logf("browsertest: chromium output:\n%s", out)
		}
		// A graceful close lets Chromium flush and exit; cancel afterwards
		// kills whatever is left and waits for the process and the removal
		// of its profile.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		cancel()
		acancel()
	})
	return ctx
}

// Navigate loads url in the tab and waits for its load event.
func Navigate(t testing.TB, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("browsertest: navigate %s: %v", url, err)
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its value
// (JSON) into T. Promises are awaited.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("browsertest: eval %s: %v", expr, err)
	}
	return v
}

// pollInterval is how often WaitJS evaluates its expression in the page. A
// timer, not requestAnimationFrame: headless Chromium may throttle frames
// of a page it considers hidden.
const pollInterval = 20 * time.Millisecond

// Until evaluates expr in the page until it is truthy or timeout passes,
// and returns how long that took. The expression runs inside the page, so
// no round trip to the test sits between the change and its detection.
func Until(ctx context.Context, expr string, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(pollInterval), chromedp.WithPollingTimeout(timeout)))
	return time.Since(start), err
}

// WaitJS is Until that fails the test on timeout, showing what the
// expression's parts looked like: pass show (a JavaScript expression, e.g.
// `JSON.stringify(window.cameraView)`) to log the page's state then.
func WaitJS(t testing.TB, ctx context.Context, expr string, timeout time.Duration, show ...string) time.Duration {
	t.Helper()
	d, err := Until(ctx, expr, timeout)
	if err == nil {
		return d
	}
	var state []string
	for _, s := range show {
		v, serr := chromedp.Run(ctx, chromedp.Evaluate[[]byte](s))
		if serr != nil {
			state = append(state, fmt.Sprintf("%s: %v", s, serr))
			continue
		}
		state = append(state, fmt.Sprintf("%s = %s", s, v))
	}
	t.Fatalf("browsertest: %s not true within %v: %v\n%s", expr, timeout, err, strings.Join(state, "\n"))
	return 0
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// ScreenshotDir is where Screenshot writes: $BROWSERTEST_SCREENSHOTS when
// set, else out/screenshots at the root of the module (git-ignored), so the
// pages as the last test run saw them can be looked at afterwards; `make
// screenshots` copies the ones the README shows into docs/screenshots.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("BROWSERTEST_SCREENSHOTS")
	if d == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		d = filepath.Join(root, "out", "screenshots")
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// moduleRoot is the nearest directory above the working directory (a
// test's package) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("browsertest: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("browsertest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Screenshot writes a PNG of the viewport to dir/<test>-<name>.png and
// returns its path.
func Screenshot(t testing.TB, ctx context.Context, dir, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	file := unsafeName.ReplaceAllString(t.Name()+"-"+name, "_") + ".png"
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// logBuffer collects text from several goroutines, keeping the last 64 KiB.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

const logKeep = 64 << 10

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if l.b.Len() > 2*logKeep {
		tail := append([]byte(nil), l.b.Bytes()[l.b.Len()-logKeep:]...)
		l.b.Reset()
		l.b.WriteString("…\n")
		l.b.Write(tail)
	}
	return len(p), nil
}

func (l *logBuffer) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(l, format+"\n", args...)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
