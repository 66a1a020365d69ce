// Command chat-tablet is a minimal in-store chat tablet: it opens a
// conversation with a member of staff, prints what arrives in it, and
// sends each line typed on stdin. A line "/photo path.jpg" uploads the
// picture (JPEG, PNG or WebP) and sends it as an image.
//
// To run it against a local store started with `make run` (whose device
// registry starts empty), register the tablet and a staff device first,
// in another terminal:
//
//	bin/storeedge passwd                  # type a password; prints its hash
//	cat > data/devices.yaml <<'YAML'
//	devices:
//	  - id: tablet-1
//	    role: chat-tablet
//	    password_hash: "<the hash printed above>"
//	  - id: staff-anna
//	    role: staff
//	    password_hash: "<the hash printed above>"
//	YAML
//	kill -HUP $(pgrep storeedge)          # reloads the registry
//
// then
//
//	go run ./device/examples/chat-tablet -id tablet-1 -password '<the password>' -staff staff-anna
//
// For the tablet's other job, showing customers the scan-to-chat QR code,
// no program is needed: open http://<the box>:8080/tablet/ in the tablet's
// browser in kiosk mode and sign in once with the same id and password
// (see "Pages" in the README).
//
// Chat events carry no message bodies: on each one the tablet reads the
// conversation's new messages with history. The default acl.yaml does not
// let chat tablets subscribe to chat/{conversation}/events; the tablet
// then reads the history every two seconds instead.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/storeedge/storeedge/device"
)

func main() {
	broker := flag.String("broker", "mqtt://127.0.0.1:1883", "the store broker")
	id := flag.String("id", "tablet-1", "this tablet's device id")
	password := flag.String("password", "", "this tablet's password")
	queueDir := flag.String("queue-dir", "", "keep unanswered requests (messages typed offline) in this directory")
	staff := flag.String("staff", "staff-anna", "the member of staff to chat with")
	flag.Parse()
	if err := run(*broker, *id, *password, *queueDir, *staff); err != nil {
		fmt.Fprintln(os.Stderr, "chat-tablet:", err)
		os.Exit(1)
	}
}

func run(broker, id, password, queueDir, staff string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := device.Connect(cctx, device.Config{Brokers: []string{broker}, DeviceID: id, Password: password, QueueDir: queueDir})
	if err != nil {
		return err
	}
	defer c.Close(context.Background())

	open, err := c.ChatOpen(cctx, device.ChatOpenRequest{Members: []string{staff}})
	if err != nil {
		return err
	}
	conv := open.Conversation
	fmt.Printf("Conversation %s with %s. Type a message, or /photo path.jpg; Ctrl-D ends.\n", conv, strings.Join(open.Members, ", "))

	t := &tablet{c: c, conv: conv, kick: make(chan struct{}, 1)}
	poll := time.Duration(0)
	err = c.OnChatEvents(ctx, conv, func(e device.ChatEvent) {
		switch e.Type {
		case device.ChatEventMessage:
			t.wake()
		case device.ChatEventRecall:
			fmt.Printf("  (%s recalled message %d)\n", e.By, e.Seq)
		case device.ChatEventRead:
			fmt.Printf("  (%s read up to %d)\n", e.Member, e.UpTo)
		default:
			fmt.Printf("  (%s)\n", e.Type)
		}
	})
	if errors.Is(err, device.ErrForbidden) {
		poll = 2 * time.Second
	} else if err != nil {
		return err
	}
	go t.syncLoop(ctx, poll)

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case line, ok = <-lines:
		}
		if !ok {
			return nil
		}
		if err := t.send(ctx, strings.TrimSpace(line)); err != nil {
			fmt.Fprintln(os.Stderr, "not sent:", err)
		}
	}
}

type tablet struct {
	c    *device.Client
	conv string
	kick chan struct{}
	mu   sync.Mutex
	seen uint64 // the last seq printed
}

func (t *tablet) wake() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *tablet) send(ctx context.Context, line string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if line == "" {
		return nil
	}
	req := device.ChatSendRequest{Conversation: t.conv, Kind: device.KindText, Text: &line}
	if path, ok := strings.CutPrefix(line, "/photo "); ok {
		data, err := os.ReadFile(strings.TrimSpace(path))
		if err != nil {
			return err
		}
		blob, err := t.c.Upload(ctx, device.UploadRequest{Type: http.DetectContentType(data), Name: filepath.Base(path), Data: data,
			Progress: func(sent, total int) { fmt.Printf("  uploading %d/%d\n", sent, total) }})
		if err != nil {
			return err
		}
		req = device.ChatSendRequest{Conversation: t.conv, Kind: device.KindImage, Media: &device.MediaRef{Hash: blob.Hash}}
	}
	if _, err := t.c.ChatSend(ctx, req); err != nil {
		return err
	}
	t.wake()
	return nil
}

// syncLoop prints new messages whenever an event says there are some, and
// every poll when events are not available (poll 0: never).
func (t *tablet) syncLoop(ctx context.Context, poll time.Duration) {
	var tick <-chan time.Time
	if poll > 0 {
		tk := time.NewTicker(poll)
		defer tk.Stop()
		tick = tk.C
	}
	for {
		if err := t.sync(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "history:", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		case <-tick:
		}
	}
}

// sync prints the messages after the last one printed and marks them read.
func (t *tablet) sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t.mu.Lock()
	defer t.mu.Unlock()
	start := t.seen
	for {
		page, err := t.c.ChatHistory(ctx, device.ChatHistoryRequest{Conversation: t.conv, After: t.seen})
		if err != nil {
			return err
		}
		for _, m := range page.Messages {
			fmt.Printf("[%s] %s: %s\n", m.TS.Local().Format("15:04"), m.From, body(m))
			t.seen = m.Seq
		}
		if !page.More {
			break
		}
	}
	if t.seen > start {
		_, err := t.c.ChatRead(ctx, t.conv, t.seen)
		return err
	}
	return nil
}

func body(m device.ChatMessage) string {
	switch {
	case m.Recalled != nil:
		return "(recalled)"
	case m.Media != nil:
		s := fmt.Sprintf("[%s, %d bytes, %s]", m.Media.Type, m.Media.Size, m.Media.Hash[:12])
		if m.Text != "" {
			s += " " + m.Text
		}
		return s
	case len(m.Card) > 0:
		var card device.Card
		_ = m.DecodeCard(&card)
		return fmt.Sprintf("[%s card %s]", card.Type, card.Event)
	}
	return m.Text
}
