package home

import "embed"

// static is the page at home: index.html and lib.js (shared), home.js,
// home.css, the manifest (this package), book.js and watch.js (hq/homebook,
// hq/homecam), push.js and sw.js (hq/webpush). One embed, so the page is
// one origin and one service worker scope (/home/).
//
//go:embed static
var static embed.FS
