package pagetest

// The store health page lists storeedge doctor's checks in words a store
// owner reads, in English and Chinese: a failing check stands out first,
// a warning says what to do.

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/broker"
	"github.com/storeedge/storeedge/internal/testkit/browsertest"
	"github.com/storeedge/storeedge/internal/testkit/storetest"
)

// TestConsoleHealthChecks: a store whose disk is past its (lowered) limit,
// whose link to HQ is down and whose backups are not set up. The health
// page shows the disk first, in red, the warnings after it, each with
// what to do, then the checks that passed; the same in Chinese; on a
// phone and on a desktop.
func TestConsoleHealthChecks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hq := ln.Addr().String()
	ln.Close() // nobody answers there: the link stays down
	s := storetest.Start(t, storetest.Options{Devices: consoleFleet, Config: func(c *broker.Config) {
		c.Listeners.Websocket = "127.0.0.1:0"
		c.Listeners.WebsocketPath = "/mqtt"
		c.Cloud.URL = "mqtt://" + hq
		c.Cloud.ReconnectMin, c.Cloud.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
		// The disk's real use is past these: the disk check fails.
		c.Doctor.DiskWarnPercent, c.Doctor.DiskFailPercent = 1, 2
		c.Doctor.HealthCache = 0
	}})

	for _, size := range []struct {
		name          string
		width, height int
	}{{"phone", 390, 844}, {"desktop", 1280, 900}} {
		t.Run(size.name, func(t *testing.T) {
			b := browsertest.New(t, browsertest.WindowSize(size.width, size.height))
			consoleSignedIn(t, b, s)
			consoleClick(t, b, "#tab-health")
			// The database check runs in the background; the page asks
			// again every 30 s, so wait for the checks to be there at all.
			browsertest.WaitJS(t, b, `document.querySelectorAll('#checks li.check').length === 9`, 15*time.Second, showConsole)

			first := browsertest.Eval[string](t, b, `document.querySelector('#checks li.check').dataset.check + ' ' + document.querySelector('#checks li.check').className`)
			if first != "disk check fail" {
				t.Errorf("the first check shown is %q, want the failing disk", first)
			}
			disk := browsertest.Eval[string](t, b, `document.querySelector('#checks li[data-check="disk"]').textContent`)
			for _, want := range []string{"✗", "Disk space", "Failing", "% of the disk of ", "(limit 2%)", "Make room now"} {
				if !strings.Contains(disk, want) {
					t.Errorf("the disk check lacks %q: %s", want, disk)
				}
			}
			// A failure stands out: red, unlike a check that passed.
			failBg := browsertest.Eval[string](t, b, `getComputedStyle(document.querySelector('#checks li[data-check="disk"]')).backgroundColor`)
			okBg := browsertest.Eval[string](t, b, `getComputedStyle(document.querySelector('#checks li.check.ok')).backgroundColor`)
			if failBg == okBg {
				t.Errorf("a failing check looks like one that passed (%s)", failBg)
			}
			backup := browsertest.Eval[string](t, b, `document.querySelector('#checks li[data-check="backup"]').textContent`)
			for _, want := range []string{"!", "Backups", "Warning", "Backups are not set up.", "What to do: Set backup.passphrase_env"} {
				if !strings.Contains(backup, want) {
					t.Errorf("the backup warning lacks %q: %s", want, backup)
				}
			}
			browsertest.WaitJS(t, b, `document.querySelector('#checks li[data-check="hq"]').dataset.code === 'hq_down'`, 15*time.Second,
				`document.getElementById('checks').textContent`)
			hqText := browsertest.Eval[string](t, b, `document.querySelector('#checks li[data-check="hq"]').textContent`)
			if !strings.Contains(hqText, "Not connected to HQ since") || !strings.Contains(hqText, "entries wait") {
				t.Errorf("the hq warning: %s", hqText)
			}
			summary := browsertest.Eval[string](t, b, `document.getElementById('checks-summary').textContent`)
			if !strings.HasPrefix(summary, "1 failing, ") {
				t.Errorf("summary %q", summary)
			}
			if got := browsertest.Eval[int](t, b, `document.documentElement.scrollWidth - window.innerWidth`); got > 0 {
				t.Errorf("the page is %d px wider than the %d px window", got, size.width)
			}
			consoleShot(t, b, size.name+"-health-checks")

			consoleClick(t, b, "#lang")
			browsertest.WaitJS(t, b, `document.querySelector('#checks li[data-check="backup"]').textContent.includes('尚未设置备份。')`, 5*time.Second,
				`document.getElementById('checks').textContent`)
			zh := browsertest.Eval[string](t, b, `document.getElementById('checks').textContent`)
			for _, want := range []string{"磁盘空间", "故障", "（上限 2%）", "请立即腾出空间", "备份", "注意"} {
				if !strings.Contains(zh, want) {
					t.Errorf("in Chinese the checks lack %q: %s", want, zh)
				}
			}
			consoleShot(t, b, size.name+"-health-checks-zh")
			consoleClick(t, b, "#lang")
		})
	}
}
