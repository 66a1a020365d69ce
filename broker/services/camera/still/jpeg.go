package still

import (
	"bytes"
	"errors"
	"fmt"
	"image/jpeg"

	"golang.org/x/image/vp8"
)

var (
	// ErrNotKeyframe means the frame is a VP8 inter frame, which cannot be
	// decoded on its own. The caller should request a keyframe and retry.
	ErrNotKeyframe = errors.New("still: not a VP8 keyframe")

	// ErrCorrupt means the frame claims to be a keyframe but cannot be
	// decoded: truncated, damaged, or with implausible dimensions.
	ErrCorrupt = errors.New("still: corrupt VP8 keyframe")
)

// maxPixels bounds the picture a keyframe may declare. The VP8 header allows
// up to 16383x16383, and the decoder allocates the picture before reading the
// data, so a few bytes of garbage could otherwise cost ~400 MB. 16 Mpixel
// comfortably covers 4K cameras.
const maxPixels = 1 << 24

// JPEG decodes a VP8 keyframe, as returned by Assembler.Push, and encodes it
// as a baseline JPEG. quality is passed to image/jpeg (1..100, clamped); 0
// selects jpeg.DefaultQuality.
//
// Errors wrap ErrNotKeyframe for inter frames and ErrCorrupt for frames that
// do not decode. JPEG does not panic on malformed input.
func JPEG(frame []byte, quality int) (jpegBytes []byte, width, height int, err error) {
	if len(frame) < 3 {
		return nil, 0, 0, fmt.Errorf("%w: %d-byte frame is shorter than the frame tag", ErrCorrupt, len(frame))
	}
	if frame[0]&1 != 0 {
		return nil, 0, 0, ErrNotKeyframe
	}
	if quality == 0 {
		quality = jpeg.DefaultQuality
	}

	d := vp8.NewDecoder()
	d.Init(bytes.NewReader(frame), len(frame))
	fh, err := decodeSafely(d.DecodeFrameHeader)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: frame header: %w", ErrCorrupt, err)
	}
	if fh.Width == 0 || fh.Height == 0 {
		return nil, 0, 0, fmt.Errorf("%w: zero dimension %dx%d", ErrCorrupt, fh.Width, fh.Height)
	}
	if fh.Width*fh.Height > maxPixels {
		return nil, 0, 0, fmt.Errorf("%w: %dx%d exceeds the %d pixel limit", ErrCorrupt, fh.Width, fh.Height, maxPixels)
	}
	img, err := decodeSafely(d.DecodeFrame)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %dx%d frame: %w", ErrCorrupt, fh.Width, fh.Height, err)
	}

	var out bytes.Buffer
	out.Grow(fh.Width * fh.Height / 4)
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, 0, 0, fmt.Errorf("still: encode jpeg: %w", err)
	}
	b := img.Bounds()
	return out.Bytes(), b.Dx(), b.Dy(), nil
}

// decodeSafely runs one decoder step, turning a panic into an error. The
// frame comes from the network and golang.org/x/image/vp8 does not promise
// to reject every malformed input gracefully; a bad still must fail the
// request, not the relay.
func decodeSafely[T any](step func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return step()
}
