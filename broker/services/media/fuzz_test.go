package media

import (
	"errors"
	"github.com/storeedge/storeedge/broker/svc"
	"regexp"
	"testing"
	"unicode/utf8"
)

var lowerHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// FuzzDecoders feeds every op body decoder the same bytes: none may panic,
// and whatever they accept satisfies what the handlers rely on.
func FuzzDecoders(f *testing.F) {
	sha := "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
	for _, s := range []string{
		`{"id":"a","v":1,"upload":"u1","type":"image/png","size":100,"sha256":"` + sha + `","name":"p.png"}`,
		`{"id":"a","v":1,"upload":"u1","type":"audio/ogg","size":9,"sha256":"` + sha + `","duration_ms":1200}`,
		`{"id":"a","v":1,"upload":"u1","index":0,"data":"aGVsbG8="}`,
		`{"id":"a","v":1,"upload":"u1","index":3,"data":"` + "QUFB" + `QUFBQUFBQUFB"}`,
		`{"id":"a","v":1,"upload":"u1"}`,
		`{"id":"a","v":1,"hash":"` + sha + `"}`,
		`{"id":"a","v":1,"hash":"` + sha + `","offset":4,"length":100}`,
		`{"upload":"a/b"}`, `{"data":"eA==\n"}`, `{"name":"\ud800"}`, `{}`, `[]`, `null`, `{"upload":"u"} {}`,
	} {
		f.Add([]byte(s))
	}
	const chunkBytes, maxRead = 16, 8
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeBegin(b); err == nil {
			if !uploadPattern.MatchString(r.Upload) || r.Type == "" || len(r.Type) > maxTypeBytes || r.Size <= 0 ||
				!lowerHex64.MatchString(r.SHA256) || len(r.Name) > maxNameBytes || !utf8.ValidString(r.Name) || r.DurationMs < 0 {
				t.Fatalf("begin accepted %+v", r)
			}
		}
		if r, data, err := decodeChunk(b, chunkBytes); err == nil {
			if !uploadPattern.MatchString(r.Upload) || r.Index == nil || *r.Index < 0 || len(data) == 0 || len(data) > chunkBytes {
				t.Fatalf("chunk accepted %+v with %d bytes", r, len(data))
			}
		} else if errors.Is(err, svc.ErrTooLarge) && len(b) <= chunkBytes {
			t.Fatalf("too_large for a %d-byte request", len(b))
		}
		if r, err := decodeUpload(b); err == nil && !uploadPattern.MatchString(r.Upload) {
			t.Fatalf("status/complete accepted %+v", r)
		}
		if r, err := decodeStat(b); err == nil && !lowerHex64.MatchString(r.Hash) {
			t.Fatalf("stat accepted %+v", r)
		}
		if r, err := decodeGet(b, maxRead); err == nil {
			if !lowerHex64.MatchString(r.Hash) || r.Offset < 0 || r.Length < 1 || r.Length > maxRead {
				t.Fatalf("get accepted %+v", r)
			}
		}
	})
}
