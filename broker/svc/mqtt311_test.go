package svc

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// needTool finds a Debian test peer; missing, the test is skipped locally and
// fails in CI naming the package to install.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: install the Debian package %s (make test does)", name, pkg)
		}
		t.Skipf("%s not found (Debian package %s)", name, pkg)
	}
	return p
}

// TestMQTT311ReplyTo: an MQTT 3.1.1 client (mosquitto_pub / mosquitto_sub,
// an independent implementation) names its reply address in "reply_to". Its
// persistent session subscribes, goes offline, publishes the request on the
// same client id and collects the answer when it comes back.
func TestMQTT311ReplyTo(t *testing.T) {
	sub := needTool(t, "mosquitto_sub", "mosquitto-clients")
	pub := needTool(t, "mosquitto_pub", "mosquitto-clients")
	e := startEnv(t, envCfg{setup: func(r *Router) {
		mustHandle(t, r, "booking", "echo", echo, Mutating())
	}})
	host, port, _ := net.SplitHostPort(e.addr)
	const id = "kiosk-01:m3"
	common := []string{"-V", "mqttv311", "-h", host, "-p", port, "-i", id, "-c", "-u", kiosk.id, "-P", "pw-" + kiosk.id, "-q", "1"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(name string, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	run(sub, append(common, "-t", "reply/"+id+"/#", "-E")...)
	req := `{"id":"m3-1","v":1,"text":"nail trim?","reply_to":"reply/` + id + `/booking"}`
	run(pub, append(common, "-t", "svc/booking/echo", "-m", req)...)
	poll(t, "answer published", func() bool { return e.router.Stats().Answered == 1 })
	got := run(sub, append(common, "-t", "reply/"+id+"/#", "-C", "1", "-W", "10", "-v")...)
	want := "reply/" + id + `/booking {"v":1,"id":"m3-1","ok":true,"echo":"nail trim?","from":"kiosk-01/kiosk"}` + "\n"
	if got != want {
		t.Fatalf("mosquitto_sub got\n%q\nwant\n%q", got, want)
	}

	// A reply_to that is not its own gets nothing; a malformed request to
	// its own reply_to gets bad_request.
	run(pub, append(common, "-t", "svc/booking/echo", "-m", `{"id":"m3-2","v":1,"reply_to":"reply/staff-anna"}`)...)
	run(pub, append(common, "-t", "svc/booking/echo", "-m", `{"id":"m3-3","v":9,"reply_to":"reply/`+id+`/x"}`)...)
	poll(t, "both handled", func() bool { s := e.router.Stats(); return s.BadReplyTo == 1 && s.Answered == 2 })
	got = run(sub, append(common, "-t", "reply/"+id+"/#", "-C", "1", "-W", "10")...)
	if !strings.Contains(got, `"id":"m3-3","ok":false,"error":{"code":"bad_request"`) {
		t.Fatalf("malformed request answer %q", got)
	}
}
