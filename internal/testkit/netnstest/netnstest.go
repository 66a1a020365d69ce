// Package netnstest puts a test's client "at home": a network namespace
// joined to the host by one veth pair, the host's end 10.R.R.1/30 and the
// namespace's 10.R.R.2/30, with no other route. From inside, the only host
// address reachable is HostIP; the store's addresses (loopback, the LAN)
// are not reachable at all. A test binds what "home" may reach (HQ's HTTP,
// the TURN server) on HostIP and runs the client with Exec (or Chromium
// through browsertest.InNamespace).
//
// It needs root and the ip command (Debian's iproute2); without them the
// test fails naming what is missing when CI is "true", else it is skipped.
package netnstest

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Namespace is a network namespace at home.
type Namespace struct {
	Name   string // the namespace's name (ip netns)
	HostIP string // the host's end of the veth pair: what home can reach
	NSIP   string // the namespace's own address
}

// New makes the namespace; it is deleted (with its veth pair) when the test
// ends.
func New(t testing.TB) *Namespace {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("netnstest: %v", err)
		}
		t.Skipf("netnstest: %v", err)
	}
	var b [3]byte
	for attempt := 0; attempt < 20; attempt++ {
		_, _ = rand.Read(b[:])
		// 10.{200-239}.{0-255}.{4k}/30, not in use on the host.
		base := net.IPv4(10, 200+b[0]%40, b[1], (b[2]%64)*4)
		host := net.IPv4(base[12], base[13], base[14], base[15]+1).String()
		ns := net.IPv4(base[12], base[13], base[14], base[15]+2).String()
		if inUse(base) {
			continue
		}
		tag := fmt.Sprintf("%02x%02x%02x", b[0], b[1], b[2])
		n := &Namespace{Name: "sehome-" + tag, HostIP: host, NSIP: ns}
		hostIf, nsIf := "seh"+tag, "sen"+tag
		t.Cleanup(func() {
			_ = exec.Command("ip", "netns", "del", n.Name).Run()
			_ = exec.Command("ip", "link", "del", hostIf).Run() // gone with the namespace, unless that failed
		})
		steps := [][]string{
			{"ip", "netns", "add", n.Name},
			{"ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf},
			{"ip", "link", "set", nsIf, "netns", n.Name},
			{"ip", "addr", "add", host + "/30", "dev", hostIf},
			{"ip", "link", "set", hostIf, "up"},
			{"ip", "netns", "exec", n.Name, "ip", "addr", "add", ns + "/30", "dev", nsIf},
			{"ip", "netns", "exec", n.Name, "ip", "link", "set", nsIf, "up"},
			{"ip", "netns", "exec", n.Name, "ip", "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("netnstest: %s: %v: %s", strings.Join(s, " "), err, out)
			}
		}
		return n
	}
	t.Fatal("netnstest: no free 10.200-239.x.x/30 network")
	return nil
}

// Available says why namespaces cannot be made here (nil: they can).
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("network namespaces need root (uid %d)", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("no ip command: install the Debian package \"iproute2\": %w", err)
	}
	return nil
}

// Command is name with args run inside the namespace.
func (n *Namespace) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// inUse says whether an address of the host is in the /30 at base.
func inUse(base net.IP) bool {
	nw := &net.IPNet{IP: base.To4(), Mask: net.CIDRMask(30, 32)}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && (nw.Contains(ipn.IP) || ipn.Contains(nw.IP)) {
			return true
		}
	}
	return false
}
