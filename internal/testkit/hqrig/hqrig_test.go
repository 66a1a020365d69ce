package hqrig_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storeedge/storeedge/internal/testkit/hqrig"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// A store linked to HQ shows online in HQ's API with its shop, offline soon after its
// internet is cut, and online again once it is back; HQ's API wants the
// rig's key, HQ listens where it was told, and HQ comes back after a restart with the store still there.
func TestLinkedStoreOnlineOfflineOnline(t *testing.T) {
	// HQ on another loopback address than the store's, as a test binds it
	// to an address a network namespace reaches.
	// Its hq.yaml names a file the rig writes in HQ's directory.
	hq := hqrig.Start(t, hqrig.Options{Listen: "127.0.0.2",
		YAML:  "mqtt:\n  username: hq\n  password_file: \"{dir}/mqtt.password\"\n",
		Files: map[string][]byte{"mqtt.password": []byte("not-checked\n")}})
	if !strings.HasPrefix(hq.Addr, "127.0.0.2:") || strings.HasSuffix(hq.Addr, ":0") {
		t.Fatalf("HQ listens on %s, want a port on 127.0.0.2", hq.Addr)
	}
	// HQ runs in its directory: the VAPID key its configuration names
	// relative to the working directory is made there, not in the test's
	// package (where a commit would pick it up).
	if _, err := os.Stat("hq-vapid.pem"); err == nil {
		_ = os.Remove("hq-vapid.pem")
		t.Fatal("storeedge-hq wrote hq-vapid.pem into the test's package directory")
	}
	if _, err := os.Stat(filepath.Join(hq.Dir, "hq-vapid.pem")); err != nil {
		t.Fatalf("HQ's VAPID key is not in its directory: %v", err)
	}
	s := hq.LinkStore(t, "s-rig-1")

	took := hq.WaitOnline(t, "s-rig-1", true, 30*time.Second)
	t.Logf("online at HQ %v after the store started", took)
	// The first link files the shop for HQ (catalogue, hours, zone), though
	// nothing in it changed: HQ's page at home needs it from the start.
	for deadline := time.Now().Add(15 * time.Second); ; {
		var row struct {
			TimeZone string `json:"time_zone"`
		}
		hq.APIJSON(t, "/api/v1/stores/s-rig-1", &row)
		if row.TimeZone == "Asia/Shanghai" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store's shop (its time zone) not at HQ 15 s after it linked: %s", hq.API(t, "/api/v1/stores/s-rig-1"))
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}

	s.Cut()
	took = hq.WaitOnline(t, "s-rig-1", false, 15*time.Second)
	t.Logf("HQ saw the cut after %v", took)
	// Cut lasts: the store cannot get back in by itself.
	if s.Proxy.Stats().Active != 0 {
		t.Fatalf("a connection through the cut link: %+v", s.Proxy.Stats())
	}

	s.Restore()
	took = hq.WaitOnline(t, "s-rig-1", true, 15*time.Second)
	t.Logf("online again %v after the link was restored", took)

	req, _ := http.NewRequest(http.MethodGet, hq.URL+"/api/v1/stores/s-rig-1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the API without the key: %d", resp.StatusCode)
	}

	hq.Restart()
	if !hq.Online(t, "s-rig-1") {
		t.Fatalf("the store is not online after HQ's restart: %s", hq.API(t, "/api/v1/stores/s-rig-1"))
	}
	if !strings.Contains(hq.Log(), "---- start") || strings.Count(hq.Log(), "storeedge-hq started") != 2 {
		t.Fatalf("HQ did not start twice:\n%s", hq.Log())
	}
}
