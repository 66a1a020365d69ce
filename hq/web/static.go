package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// The pages: static/*.html, their scripts and stylesheet. The language
// switch is the store pages' own (broker/web's lib/i18n.js, served from
// that package's embedded files).
//
//go:embed static
var embedded embed.FS

func staticFS() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil { // a fixed, valid path
		panic(err)
	}
	return sub
}

// contentSecurityPolicy: scripts, styles and data from this server only,
// no inline script or style, no framing.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// asset serves one embedded file, revalidated by its ETag at each load (a
// page and its script come from one version of the server).
func (h *server) asset(fsys fs.FS, name string) http.HandlerFunc {
	data, err := fs.ReadFile(fsys, name)
	sum := sha256.Sum256(data)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			http.NotFound(w, r)
			return
		}
		hd := w.Header()
		if ct, ok := contentTypes[path.Ext(name)]; ok {
			hd.Set("Content-Type", ct)
		}
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("Referrer-Policy", "same-origin")
		if hd.Get("Cache-Control") == "" {
			hd.Set("Cache-Control", "no-cache")
		}
		hd.Set("ETag", etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	}
}
