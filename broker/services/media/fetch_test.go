package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/storeedge/storeedge/broker/mqtt/auth"
	"github.com/storeedge/storeedge/broker/svc"
)

// upload sends data as one device and completes it; it returns the hash.
func upload(t *testing.T, c *client, id, typ string, data []byte, chunkBytes int) answer {
	t.Helper()
	a := ok(t, c.call(t, "begin", "", beginBody(id, typ, data)))
	for _, i := range a.Missing {
		ok(t, c.call(t, "chunk", "", chunkBody(id, i, chunkOf(data, chunkBytes, i))))
	}
	return ok(t, c.call(t, "complete", "", fmt.Sprintf(`{"upload":%q}`, id)))
}

// Without CanFetch only staff roles read; everyone else is forbidden, for
// blobs that exist and blobs that do not alike.
func TestFetchDefaultStaffOnly(t *testing.T) {
	e := newEnv(t, envOptions{})
	tab := e.connect(t, tablet)
	pdf := []byte("%PDF-1.4\n" + strings.Repeat("a page ", 3000))
	done := upload(t, tab, "doc", "application/pdf", pdf, testLimits().ChunkBytes)
	missing := hashOf([]byte("never uploaded"))

	for _, h := range []string{done.Hash, missing} {
		fails(t, tab.call(t, "stat", "", fmt.Sprintf(`{"hash":%q}`, h)), svc.CodeForbidden)
		fails(t, tab.call(t, "get", "", fmt.Sprintf(`{"hash":%q}`, h)), svc.CodeForbidden)
	}
	// Staff and admin read; for them a missing blob is not_found.
	for _, dev := range []device{anna, owner} {
		c := e.connect(t, dev)
		if got := readAll(t, c, strings.ToUpper(done.Hash), 0); !bytes.Equal(got, pdf) {
			t.Fatalf("%s read %d bytes, not the pdf", dev.ID, len(got))
		}
		fails(t, c.call(t, "stat", "", fmt.Sprintf(`{"hash":%q}`, missing)), svc.CodeNotFound)
		fails(t, c.call(t, "get", "", fmt.Sprintf(`{"hash":%q}`, missing)), svc.CodeNotFound)
	}
}

// CanFetch decides alone: a refusal is forbidden (also for staff, also for
// a blob that does not exist), an error unavailable.
func TestFetchCanFetch(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]bool{}
	allowed := map[string]bool{} // device/hash
	canFetch := func(_ context.Context, who auth.Identity, hash string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		asked[hash] = true
		if hash == hashOf([]byte("boom")) {
			return false, errors.New("membership lookup failed")
		}
		return allowed[who.Device+"/"+hash], nil
	}
	e := newEnv(t, envOptions{svc: Options{CanFetch: canFetch}})
	tab, tab2, staff := e.connect(t, tablet), e.connect(t, tablet2), e.connect(t, anna)
	data := []byte("%PDF-1.4\nhello")
	done := upload(t, tab, "doc", "application/pdf", data, testLimits().ChunkBytes)
	missing := hashOf([]byte("never uploaded"))
	mu.Lock()
	allowed[tablet.ID+"/"+done.Hash] = true
	allowed[tablet.ID+"/"+missing] = true
	mu.Unlock()

	if got := readAll(t, tab, done.Hash, 0); !bytes.Equal(got, data) {
		t.Fatalf("read %q", got)
	}
	m := ok(t, tab.call(t, "stat", "", fmt.Sprintf(`{"hash":%q}`, strings.ToUpper(done.Hash))))
	if m.Hash != done.Hash || m.Size != int64(len(data)) || m.Type != "application/pdf" {
		t.Fatalf("stat: %s", m.raw)
	}
	fails(t, tab.call(t, "stat", "", fmt.Sprintf(`{"hash":%q}`, missing)), svc.CodeNotFound)
	for _, c := range []*client{tab2, staff} {
		fails(t, c.call(t, "stat", "", fmt.Sprintf(`{"hash":%q}`, done.Hash)), svc.CodeForbidden)
		fails(t, c.call(t, "get", "", fmt.Sprintf(`{"hash":%q}`, done.Hash)), svc.CodeForbidden)
		fails(t, c.call(t, "get", "", fmt.Sprintf(`{"hash":%q}`, missing)), svc.CodeForbidden)
	}
	fails(t, tab.call(t, "get", "", fmt.Sprintf(`{"hash":%q}`, hashOf([]byte("boom")))), svc.CodeUnavailable)
	mu.Lock()
	defer mu.Unlock()
	if asked[strings.ToUpper(done.Hash)] || !asked[done.Hash] {
		t.Fatalf("CanFetch was not asked with the lowercase hash: %v", asked)
	}
}

// Anonymous clients (no device) may not upload.
func TestAnonymousMayNotUpload(t *testing.T) {
	e := newEnv(t, envOptions{})
	who := auth.Identity{ClientID: "lab-1", Role: "anonymous", Anonymous: true}
	ctx := ctxT(t)
	for op, h := range map[string]svc.Handler{"begin": e.svc.begin, "chunk": e.svc.chunk, "status": e.svc.status, "complete": e.svc.complete} {
		_, err := h(ctx, request(who, op, `{"upload":"u"}`))
		var se *svc.Error
		if !errors.As(err, &se) || se.Code != svc.CodeForbidden {
			t.Fatalf("%s by an anonymous client: %v", op, err)
		}
	}
	_, err := e.svc.stat(ctx, request(who, "stat", fmt.Sprintf(`{"hash":%q}`, hashOf(nil))))
	var se *svc.Error
	if !errors.As(err, &se) || se.Code != svc.CodeForbidden {
		t.Fatalf("stat by an anonymous client: %v", err)
	}
}
