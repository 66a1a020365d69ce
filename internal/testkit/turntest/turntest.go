// Package turntest runs Debian's coturn (turnserver) for a test: a TURN
// server on a free UDP port of a given address, with time-limited
// credentials (the TURN REST API, use-auth-secret) and relay ports in a
// small free range, stopped when the test ends. Its log goes to the test's
// log when the test fails.
//
//	srv := turntest.Start(t, turntest.Options{IP: "10.1.2.1"})
//	user, pass := srv.Credentials("viewer", time.Hour)
//	// srv.URL() is "turn:10.1.2.1:PORT?transport=udp"
//
// Without turnserver the test fails naming the package (coturn) when CI is
// "true", and is skipped otherwise.
package turntest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options describe the TURN server.
type Options struct {
	// IP is the address it listens and relays on (default 127.0.0.1).
	IP string
	// Realm is its realm (default "storeedge.test").
	Realm string
	// RelayPorts is how many relay ports it may use (default 40).
	RelayPorts int
	// AllowedPeers are addresses (or ranges "a-b") the relay may send to
	// beside the loopback ones, which it always may here.
	AllowedPeers []string
}

// Server is a running coturn.
type Server struct {
	IP     string
	Port   int
	Realm  string
	Secret string

	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error
}

// Binary is the turnserver program: $TURNSERVER, else /usr/bin/turnserver,
// else turnserver on $PATH.
func Binary() (string, error) {
	if p := os.Getenv("TURNSERVER"); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/turnserver"); err == nil {
		return "/usr/bin/turnserver", nil
	}
	p, err := exec.LookPath("turnserver")
	if err != nil {
		return "", errors.New("no turnserver: install the Debian package \"coturn\" (apt-get install coturn; make deps does)")
	}
	return p, nil
}

// Start starts coturn and waits until it answers a STUN binding request.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("turntest: %v", err)
		}
		t.Skipf("turntest: %v", err)
	}
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Realm == "" {
		o.Realm = "storeedge.test"
	}
	if o.RelayPorts == 0 {
		o.RelayPorts = 40
	}
	var sb [16]byte
	_, _ = rand.Read(sb[:])
	s := &Server{IP: o.IP, Realm: o.Realm, Secret: hex.EncodeToString(sb[:]), log: &syncBuffer{}, done: make(chan error, 1)}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freeUDPPort(o.IP)
		if err != nil {
			t.Fatalf("turntest: %v", err)
		}
		lo, err := freeUDPRange(o.IP, o.RelayPorts)
		if err != nil {
			t.Fatalf("turntest: %v", err)
		}
		args := []string{"-n", "--listening-ip=" + o.IP, "--relay-ip=" + o.IP, "--listening-port=" + strconv.Itoa(port),
			"--min-port=" + strconv.Itoa(lo), "--max-port=" + strconv.Itoa(lo+o.RelayPorts-1),
			"--use-auth-secret", "--static-auth-secret=" + s.Secret, "--realm=" + o.Realm,
			"--no-tls", "--no-dtls", "--no-tcp", "--no-tcp-relay", "--no-cli", "--no-rfc5780", "--no-software-attribute",
			"--fingerprint", "--allow-loopback-peers", "--allowed-peer-ip=" + o.IP,
			"--log-file=stdout", "--simple-log", "--pidfile=" + filepath.Join(dir, "turnserver.pid"),
			"--userdb=" + filepath.Join(dir, "turndb")}
		for _, p := range o.AllowedPeers {
			args = append(args, "--allowed-peer-ip="+p)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = s.log, s.log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("turntest: start %s: %v", bin, err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if err := waitSTUN(o.IP, port, done, 10*time.Second); err != nil {
			_ = cmd.Process.Kill()
			<-done
			lastErr = err
			continue // most likely a port taken meanwhile
		}
		s.Port, s.cmd, s.done = port, cmd, done
		t.Cleanup(func() {
			_ = s.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-s.done:
			case <-time.After(5 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.done
			}
			if t.Failed() {
				t.Logf("turnserver's log:\n%s", s.log.String())
			}
		})
		return s
	}
	t.Fatalf("turntest: turnserver did not start: %v\n%s", lastErr, s.log.String())
	return nil
}

// URL is the server's TURN address over UDP.
func (s *Server) URL() string {
	return fmt.Sprintf("turn:%s?transport=udp", net.JoinHostPort(s.IP, strconv.Itoa(s.Port)))
}

// Credentials are TURN REST API credentials for user, valid for ttl:
// username "<unix expiry>:user", password base64(HMAC-SHA1(secret, username)).
func (s *Server) Credentials(user string, ttl time.Duration) (username, password string) {
	username = strconv.FormatInt(time.Now().Add(ttl).Unix(), 10) + ":" + user
	m := hmac.New(sha1.New, []byte(s.Secret))
	m.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Log is what turnserver wrote so far.
func (s *Server) Log() string { return s.log.String() }

// freeUDPPort is a UDP port free on ip now (and its TCP twin, which coturn
// does not use with --no-tcp but may probe).
func freeUDPPort(ip string) (int, error) {
	c, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("free port on %s: %w", ip, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// freeUDPRange finds n consecutive UDP ports free on ip now, in 40000-59999.
func freeUDPRange(ip string, n int) (int, error) {
	var b [2]byte
	for attempt := 0; attempt < 50; attempt++ {
		_, _ = rand.Read(b[:])
		lo := 40000 + int(binary.BigEndian.Uint16(b[:]))%(20000-n)
		ok := true
		for p := lo; p < lo+n && ok; p++ {
			c, err := net.ListenPacket("udp4", net.JoinHostPort(ip, strconv.Itoa(p)))
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return lo, nil
		}
	}
	return 0, fmt.Errorf("no %d free UDP ports in a row on %s", n, ip)
}

// waitSTUN sends STUN binding requests until one is answered.
func waitSTUN(ip string, port int, exited <-chan error, d time.Duration) error {
	addr := &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
	c, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		return err
	}
	defer c.Close()
	req := make([]byte, 20)
	binary.BigEndian.PutUint16(req[0:], 0x0001) // binding request
	binary.BigEndian.PutUint32(req[4:], 0x2112A442)
	_, _ = rand.Read(req[8:20])
	buf := make([]byte, 1500)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			return fmt.Errorf("turnserver exited: %v", err)
		default:
		}
		if _, err := c.WriteTo(req, addr); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := c.ReadFrom(buf)
		if err == nil && n >= 20 && binary.BigEndian.Uint16(buf[0:]) == 0x0101 && bytes.Equal(buf[8:20], req[8:20]) {
			return nil
		}
	}
	return fmt.Errorf("no STUN answer from %s within %v", addr, d)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
