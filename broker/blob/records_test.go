package blob

import (
	"reflect"
	"testing"
)

var sampleMeta = Meta{Type: "image/png", Size: 300_000, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Name: "a.png", Width: 4, Height: 3}

func FuzzDecodeUpload(f *testing.F) {
	done := sampleMeta
	done.Thumbnail = sampleMeta.SHA256
	for _, u := range []uploadRecord{
		{Meta: sampleMeta, ChunkBytes: 65536, Created: 1, Expires: 2},
		{Meta: sampleMeta, ChunkBytes: 65536, Done: true, Result: &done},
	} {
		b, err := encodeUpload(u)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"meta":{"type":"x","size":9223372036854775807,"sha256":"` + sampleMeta.SHA256 + `"},"chunk_bytes":1}`))
	f.Add([]byte(`{"v":1,"meta":{"type":"x","size":9223372036854775807,"sha256":"` + sampleMeta.SHA256 + `"},"chunk_bytes":2}`))
	f.Add([]byte(`{"v":1,"done":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeUpload(b)
		if err != nil {
			return
		}
		// Whatever decodes is usable: a sane chunk count, a result when done,
		// and it survives a round trip.
		if n := u.chunks(); n < 1 || n > maxChunks {
			t.Fatalf("decoded upload with %d chunks", n)
		}
		if u.Done && u.Result == nil {
			t.Fatal("done without result")
		}
		again, err := encodeUpload(u)
		if err != nil {
			t.Fatal(err)
		}
		u2, err := decodeUpload(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(u, u2) {
			t.Fatalf("round trip changed the upload: %+v → %+v", u, u2)
		}
	})
}

func FuzzDecodeBlob(f *testing.F) {
	m := sampleMeta
	m.Name = ""
	b, err := encodeBlob(blobRecord{Meta: m, Refs: 2, PageBytes: 262144, Pages: 2, Claimed: 5})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1,"meta":{"type":"x","size":1,"sha256":"` + sampleMeta.SHA256 + `"},"page_bytes":1,"pages":1,"refs":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeBlob(b)
		if err != nil {
			return
		}
		if r.Refs < 0 || r.Pages != numChunks(r.Meta.Size, r.PageBytes) || r.Pages < 1 {
			t.Fatalf("decoded inconsistent blob %+v", r)
		}
		again, err := encodeBlob(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeBlob(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		r.Meta.Name = "" // never stored
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("round trip changed the blob: %+v → %+v", r, r2)
		}
	})
}
