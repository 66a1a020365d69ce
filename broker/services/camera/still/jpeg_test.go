package still

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"strings"
	"testing"
)

func decodeJPEG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("output is not a JPEG: %v", err)
	}
	return img
}

// patchColour classifies the average colour of img within r as a three-bit
// RGB value (each channel clearly on or clearly off), or -1 if any channel
// is in between.
func patchColour(img image.Image, r image.Rectangle) int {
	var sum [3]uint64
	n := uint64(0)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			sum[0] += uint64(cr >> 8)
			sum[1] += uint64(cg >> 8)
			sum[2] += uint64(cb >> 8)
			n++
		}
	}
	c := 0
	for _, s := range sum {
		c <<= 1
		switch avg := s / n; {
		case avg >= 200:
			c |= 1
		case avg <= 50:
		default:
			return -1
		}
	}
	return c
}

func TestJPEGKeyframe(t *testing.T) {
	frames := readClip(t)
	out, w, h, err := JPEG(frames[0], 90)
	if err != nil {
		t.Fatalf("JPEG: %v", err)
	}
	if w != clipWidth || h != clipHeight {
		t.Fatalf("JPEG reports %dx%d, want %dx%d", w, h, clipWidth, clipHeight)
	}
	img := decodeJPEG(t, out)
	if b := img.Bounds(); b.Dx() != clipWidth || b.Dy() != clipHeight {
		t.Fatalf("JPEG decodes to %v, want %dx%d", b, clipWidth, clipHeight)
	}

	// testsrc's top edge shows eight 40-pixel colour bars, left to right:
	// black, red, magenta, blue, yellow, green, cyan, white. Sample a patch
	// in each, clear of bar edges and of the circle drawn over the middle.
	const (
		black = 0b000
		red   = 0b100
		mag   = 0b101
		blue  = 0b001
		yell  = 0b110
		green = 0b010
		cyan  = 0b011
		white = 0b111
	)
	names := map[int]string{-1: "mixed", black: "black", red: "red", mag: "magenta",
		blue: "blue", yell: "yellow", green: "green", cyan: "cyan", white: "white"}
	want := []int{black, red, mag, blue, yell, green, cyan, white}
	for i, wc := range want {
		x := 40*i + 20
		r := image.Rect(x-8, 2, x+8, 14)
		if got := patchColour(img, r); got != wc {
			t.Errorf("bar %d at %v is %s, want %s", i, r, names[got], names[wc])
		}
	}
}

func TestJPEGAllKeyframes(t *testing.T) {
	frames := readClip(t)
	for i := 0; i < len(frames); i += clipKeyEvery {
		out, w, h, err := JPEG(frames[i], 0)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("frame %d: output is not a JPEG: %v", i, err)
		}
		if w != clipWidth || h != clipHeight || cfg.Width != w || cfg.Height != h {
			t.Fatalf("frame %d: reported %dx%d, JPEG %dx%d, want %dx%d", i, w, h, cfg.Width, cfg.Height, clipWidth, clipHeight)
		}
	}
}

func TestJPEGQuality(t *testing.T) {
	frames := readClip(t)
	low, _, _, err := JPEG(frames[0], 10)
	if err != nil {
		t.Fatal(err)
	}
	high, _, _, err := JPEG(frames[0], 95)
	if err != nil {
		t.Fatal(err)
	}
	if len(low) >= len(high) {
		t.Errorf("quality 10 gives %d bytes, quality 95 gives %d; want fewer", len(low), len(high))
	}
}

func TestJPEGNotKeyframe(t *testing.T) {
	frames := readClip(t)
	for _, i := range []int{1, 29, 31, 119} {
		_, _, _, err := JPEG(frames[i], 0)
		if !errors.Is(err, ErrNotKeyframe) || errors.Is(err, ErrCorrupt) {
			t.Errorf("frame %d: err = %v, want ErrNotKeyframe", i, err)
		}
	}
}

// keyframeHeader builds the 10-byte keyframe header of RFC 6386 §9.1 with
// the given dimensions and first partition length.
func keyframeHeader(w, h, firstPart int) []byte {
	tag := uint32(firstPart)<<5 | 1<<4 // keyframe, version 0, shown
	return []byte{
		byte(tag), byte(tag >> 8), byte(tag >> 16),
		0x9d, 0x01, 0x2a,
		byte(w), byte(w >> 8), byte(h), byte(h >> 8),
	}
}

func TestJPEGCorrupt(t *testing.T) {
	frames := readClip(t)
	key := frames[0]
	flipped := bytes.Clone(key)
	flipped[3] ^= 0xff // start code

	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"nil", nil},
		{"short tag", []byte{0x00, 0x00}},
		{"tag only", key[:3]},
		{"truncated header", key[:8]},
		{"header only", key[:10]},
		{"truncated first partition", key[:40]},
		{"half frame", key[:len(key)/2]},
		{"one byte short", key[:len(key)-1]},
		{"bad start code", flipped},
		{"zero width", append(keyframeHeader(0, 240, 100), make([]byte, 200)...)},
		{"16383x16383", append(keyframeHeader(16383, 16383, 100), make([]byte, 200)...)},
		{"zero data", append(keyframeHeader(320, 240, 100), make([]byte, 200)...)},
		{"first partition past end", keyframeHeader(320, 240, 1<<18)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, w, h, err := JPEG(tc.frame, 0)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if out != nil || w != 0 || h != 0 {
				t.Errorf("returned %d bytes, %dx%d alongside an error", len(out), w, h)
			}
		})
	}
}

// TestJPEGDamaged damages a real keyframe byte by byte. Damage to the
// coefficient data may still decode to a (wrong) picture, so the test only
// insists on no panic and on a well-formed result either way.
func TestJPEGDamaged(t *testing.T) {
	frames := readClip(t)
	key := frames[0]
	// Every header byte, then positions spread over the partitions.
	var at []int
	for i := 0; i < 16; i++ {
		at = append(at, i)
	}
	for i := 16; i < len(key); i += len(key) / 50 {
		at = append(at, i)
	}
	for _, i := range at {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			f := bytes.Clone(key)
			f[i] ^= x
			checkJPEGResult(t, f)
		}
	}
}

// checkJPEGResult checks the contract of JPEG for any input.
func checkJPEGResult(t *testing.T, frame []byte) {
	t.Helper()
	out, w, h, err := JPEG(frame, 50)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotKeyframe) {
			t.Fatalf("err = %v, want ErrCorrupt or ErrNotKeyframe", err)
		}
		return
	}
	if w <= 0 || h <= 0 || w*h > maxPixels {
		t.Fatalf("success with dimensions %dx%d", w, h)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("success but output is not a JPEG: %v", err)
	}
	if cfg.Width != w || cfg.Height != h {
		t.Fatalf("reported %dx%d, JPEG is %dx%d", w, h, cfg.Width, cfg.Height)
	}
}

func TestDecodeSafelyRecovers(t *testing.T) {
	_, err := decodeSafely(func() (int, error) {
		var s []int
		return s[1], nil
	})
	if err == nil || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("err = %v, want the recovered panic", err)
	}
}

func BenchmarkJPEG(b *testing.B) {
	frame := readClip(b)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := JPEG(frame, 0); err != nil {
			b.Fatal(err)
		}
	}
}
