package netnstest_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/storeedge/storeedge/internal/testkit/netnstest"
)

// TestReachesOnlyHostIP: from the namespace an HTTP server on HostIP
// answers; the same kind of server on the host's loopback does not.
func TestReachesOnlyHostIP(t *testing.T) {
	ns := netnstest.New(t)
	serve := func(addr string) string {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello from the host") })}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		return l.Addr().String()
	}
	home := serve(ns.HostIP + ":0")
	store := serve("127.0.0.1:0")
	fetch := func(addr string) (string, error) {
		// A raw HTTP request with bash's /dev/tcp: nothing to install.
		port := addr[strings.LastIndex(addr, ":")+1:]
		host := addr[:strings.LastIndex(addr, ":")]
		out, err := ns.Command("timeout", "3", "bash", "-c",
			fmt.Sprintf(`exec 3<>/dev/tcp/%s/%s && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && cat <&3`, host, port)).CombinedOutput()
		return string(out), err
	}
	if out, err := fetch(home); err != nil || !strings.Contains(out, "hello from the host") {
		t.Fatalf("HostIP from the namespace: %v: %s", err, out)
	}
	if out, err := fetch(store); err == nil && strings.Contains(out, "hello") {
		t.Fatalf("the host's loopback answered inside the namespace: %s", out)
	}
	// Nor the host's other addresses (its LAN address, when it has one).
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() || ipn.IP.String() == ns.HostIP {
			continue
		}
		other := serve(ipn.IP.String() + ":0")
		if out, err := fetch(other); err == nil && strings.Contains(out, "hello") {
			t.Fatalf("host address %s answered inside the namespace: %s", ipn.IP, out)
		}
	}
}
