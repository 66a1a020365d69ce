package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/storeedge/storeedge/hq/config"
	"github.com/storeedge/storeedge/hq/home"
	"github.com/storeedge/storeedge/hq/replica"
	"github.com/storeedge/storeedge/internal/seal"
	"github.com/storeedge/storeedge/internal/testkit/pgtest"
)

// The push part serves its key under /home/api/v1/, registers its
// metrics, and Stop ends its listener.
func TestPushPart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	k := make([]byte, seal.KeySize)
	_, _ = rand.Read(k)
	keys, err := seal.ParseKeys("hq1:" + base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := replica.Open(ctx, pgtest.Start(t).URL, replica.Options{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Push.VAPIDKeyFile = filepath.Join(t.TempDir(), "vapid.pem")
	reg := prometheus.NewRegistry()
	p, err := pushPart(ctx, homeDeps{Cfg: cfg, Replica: rep, Keys: keys, Reg: reg})
	if err != nil {
		t.Fatal(err)
	}
	if p.Routes == nil || p.Stop == nil {
		t.Fatalf("part %+v", p)
	}
	mux := http.NewServeMux()
	p.Routes.Mount(mux, func(h home.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { h(w, r, home.Customer{ID: "hc-1", Login: "hl-1"}) }
	})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/home/api/v1/push/key", nil))
	var out struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
		t.Fatalf("GET /push/key: %d %s", rec.Code, rec.Body)
	}
	if b, err := base64.RawURLEncoding.DecodeString(out.PublicKey); err != nil || len(b) != 65 {
		t.Fatalf("public key %q", out.PublicKey)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if !names["hq_push_listen_reconnects_total"] {
		t.Errorf("metrics %v", names)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := p.Stop(sctx); err != nil {
		t.Fatal(err)
	}
}
