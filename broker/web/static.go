package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// The browser pages (the camera viewer) and what they load: see
// static/vendor for the vendored MQTT client and ui/ for how it is built.
//
//go:embed static
var static embed.FS

// Assets returns the pages embedded in the broker, rooted at the URL path
// "/" (static/camera/index.html is /camera/).
func Assets() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil { // "static" is a valid path, fixed at build time
		panic(err)
	}
	return sub
}

// ClientConfig tells the pages where to reach the broker. It is served as
// GET /client.json:
//
//	{"v":1,"mqtt":{"ws_port":8083,"ws_path":"/mqtt"},"store":"demo-store","name":"Paws & Cradle"}
//
// The MQTT WebSocket listener is a port of its own, so a page connects to
// ws://<the page's host>:<ws_port><ws_path> (wss:// when the page came over
// https).
type ClientConfig struct {
	MQTT ClientMQTT `json:"mqtt"`
	// Store is the store's id (store_id).
	Store string `json:"store"`
	// Name is the store's name as its owner set it at first run (the
	// pages show it); the store's id until then. NameFunc, when set,
	// gives it at each request.
	Name     string        `json:"name"`
	NameFunc func() string `json:"-"`
	// ConsoleSessionTTL is how long the console keeps a staff sign-in, in
	// seconds (accounts.console_session_ttl); 0 = the page's default.
	ConsoleSessionTTL int `json:"console_session_ttl_s,omitempty"`
}

// ClientMQTT is the MQTT part of ClientConfig.
type ClientMQTT struct {
	// WSPort is the port of the MQTT WebSocket listener; 0 when it is off.
	WSPort int `json:"ws_port"`
	// WSPath is the path it upgrades (listeners.websocket_path).
	WSPath string `json:"ws_path"`
}

type clientBody struct {
	V int `json:"v"`
	*ClientConfig
}

func (h *handler) client(w http.ResponseWriter, _ *http.Request) {
	c := *h.opts.Client
	if c.NameFunc != nil {
		c.Name = c.NameFunc()
	}
	if c.Name == "" {
		c.Name = c.Store
	}
	writeJSON(w, http.StatusOK, clientBody{V: 1, ClientConfig: &c})
}

// contentSecurityPolicy is sent with every asset. The pages load scripts,
// styles and images from this server only, with no inline script or style
// (so an injected one does not run); they open the MQTT WebSocket, which is
// on another port of the same host, hence ws: and wss:; video arrives over
// WebRTC, which connect-src does not govern, and is shown from a
// MediaStream. Nothing may frame the pages (clickjacking a Stop button).
const contentSecurityPolicy = "default-src 'self'; connect-src 'self' ws: wss:; " +
	"img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// contentTypes by file extension. A fixed table rather than
// mime.TypeByExtension, whose answers depend on the machine's
// /etc/mime.types: a script served as text/plain does not run under nosniff.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".webp":  "image/webp",
	".ico":   "image/x-icon",
	".txt":   "text/plain; charset=utf-8",
	".md":    "text/markdown; charset=utf-8",
	".woff2": "font/woff2",
}

func contentType(name string) string {
	if ct, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return ct
	}
	return "application/octet-stream"
}

// assets serves files from an fs.FS with an ETag of their content, read
// once per version of a file (its size and modification time: an os.DirFS
// being edited is served afresh, the embedded tree is read once).
type assets struct {
	fsys fs.FS

	mu    sync.Mutex
	cache map[string]asset
}

type asset struct {
	size    int64
	modTime time.Time
	data    []byte
	etag    string
}

func newAssets(fsys fs.FS) *assets {
	return &assets{fsys: fsys, cache: map[string]asset{}}
}

// errNoAsset: nothing to serve at that URL path.
var errNoAsset = errors.New("no such asset")

// resolve maps a URL path to a file name in the FS. It returns redirect
// (the path with a slash added) for a directory named without its trailing
// slash, so that the page's relative URLs resolve inside it.
func (a *assets) resolve(urlPath string) (name, redirect string, err error) {
	if !strings.HasPrefix(urlPath, "/") {
		return "", "", errNoAsset
	}
	p := urlPath[1:]
	dir := p == "" || strings.HasSuffix(p, "/")
	p = strings.TrimSuffix(p, "/")
	if p != "" {
		// No "..", ".", empty or hidden elements: nothing outside the tree,
		// no second spelling of a path, no dotfiles of an os.DirFS.
		for _, e := range strings.Split(p, "/") {
			if e == "" || strings.HasPrefix(e, ".") || strings.ContainsRune(e, '\\') {
				return "", "", errNoAsset
			}
		}
	}
	if dir {
		if p == "" {
			return "index.html", "", nil
		}
		return p + "/index.html", "", nil
	}
	if !fs.ValidPath(p) {
		return "", "", errNoAsset
	}
	st, err := fs.Stat(a.fsys, p)
	if err != nil {
		return "", "", errNoAsset
	}
	if st.IsDir() {
		if _, err := fs.Stat(a.fsys, p+"/index.html"); err != nil {
			return "", "", errNoAsset // never a listing
		}
		return "", urlPath + "/", nil
	}
	return p, "", nil
}

// load returns the file's content and ETag.
func (a *assets) load(name string) (asset, error) {
	st, err := fs.Stat(a.fsys, name)
	if err != nil || !st.Mode().IsRegular() {
		return asset{}, errNoAsset
	}
	a.mu.Lock()
	c, ok := a.cache[name]
	a.mu.Unlock()
	if ok && c.size == st.Size() && c.modTime.Equal(st.ModTime()) {
		return c, nil
	}
	data, err := fs.ReadFile(a.fsys, name)
	if err != nil {
		return asset{}, errNoAsset
	}
	sum := sha256.Sum256(data)
	c = asset{size: st.Size(), modTime: st.ModTime(), data: data,
		etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	a.mu.Lock()
	a.cache[name] = c
	a.mu.Unlock()
	return c, nil
}

// serve answers GET and HEAD, and 405 to other methods; found is false
// when there is no asset at that path (the caller answers 404).
func (a *assets) serve(w http.ResponseWriter, r *http.Request) (found bool) {
	name, redirect, err := a.resolve(r.URL.Path)
	if err != nil {
		return false
	}
	var f asset
	if redirect == "" {
		if f, err = a.load(name); err != nil {
			return false
		}
	}
	if !getOrHead(w, r) {
		return true
	}
	if redirect != "" {
		// Escaped again; resolve let no "//" through, so this stays a path
		// on this server.
		w.Header().Set("Location", (&url.URL{Path: redirect, RawQuery: r.URL.RawQuery}).String())
		w.WriteHeader(http.StatusMovedPermanently)
		return true
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType(name))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("Referrer-Policy", "same-origin")
	// Revalidate every time: a page and its script must not come from two
	// versions of the broker. The ETag makes that a 304 without a body.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	// ServeContent answers If-None-Match (and Range) from the ETag, and
	// HEAD without a body. The zero modification time (embedded files
	// have none) sends no Last-Modified.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
	return true
}
