package customer

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
)

func TestQRPNG(t *testing.T) {
	e := newEnv(t, Options{})
	tk := e.issue(t, "")
	for _, size := range []int{256, 300, 512} {
		b, err := QRPNG(tk.URL, size)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("not a PNG: %v", err)
		}
		if r := img.Bounds(); r.Dx() != size || r.Dy() != size {
			t.Fatalf("image %v, want %d px square", r, size)
		}
		bmp, err := gozxing.NewBinaryBitmapFromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
		if err != nil {
			// gozxing's finder-pattern search misses about 3 in 1 000
			// clean rendered codes (random tokens); read as a pure code,
			// every one of those decodes.
			res, err = zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
		}
		if err != nil {
			t.Fatalf("%d px: decode QR: %v", size, err)
		}
		if res.GetText() != tk.URL {
			t.Fatalf("QR code reads %q, want %q", res.GetText(), tk.URL)
		}
		if lvl := res.GetResultMetadata()[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; lvl != "M" {
			t.Fatalf("error correction level %v, want M", lvl)
		}
	}
	// Too small a size gives the smallest image that holds the code.
	b, err := QRPNG(tk.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() < 21 {
		t.Fatalf("image %v smaller than a QR code", img.Bounds())
	}
}

func TestQRPNGInvalid(t *testing.T) {
	for _, c := range []struct {
		text string
		size int
	}{
		{"", 256},
		{"x", 0},
		{"x", -4},
		{"x", MaxQRSize + 1},
		{strings.Repeat("x", 5000), 256},
	} {
		_, err := QRPNG(c.text, c.size)
		wantErr(t, err, ErrInvalid)
	}
}
