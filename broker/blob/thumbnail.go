package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
)

const (
	// ThumbnailMaxSide is the longest side of a thumbnail, in pixels.
	ThumbnailMaxSide = 256
	thumbnailQuality = 80
)

// thumbnailOf sets meta's Width and Height from the image and returns its
// thumbnail, sealed and ready to store. An image that does not decode, or has
// more than MaxImagePixels, gets no thumbnail (nil, nil): the blob is still
// stored as the bytes the client sent.
func (s *Store) thumbnailOf(ctx context.Context, uk []byte, meta *Meta, u uploadRecord) (*storedBlob, error) {
	decodeConfig, decode := jpeg.DecodeConfig, jpeg.Decode
	if meta.Type == "image/png" {
		decodeConfig, decode = png.DecodeConfig, png.Decode
	}
	cfg, err := decodeConfig(s.chunks(ctx, uk, u))
	if err != nil {
		return nil, readErr(err)
	}
	meta.Width, meta.Height = cfg.Width, cfg.Height
	if int64(cfg.Width)*int64(cfg.Height) > s.limits.MaxImagePixels {
		return nil, nil
	}
	select {
	case s.thumbs <- struct{}{}:
		defer func() { <-s.thumbs }()
	case <-ctx.Done():
		return nil, fmt.Errorf("media: waiting to decode an image: %w", ctx.Err())
	}
	img, err := decode(s.chunks(ctx, uk, u))
	if err != nil {
		return nil, readErr(err)
	}
	jpg, tw, th, err := thumbnail(img, ThumbnailMaxSide)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(jpg)
	sb := &storedBlob{hk: sum[:], rec: blobRecord{
		Meta:      Meta{Type: "image/jpeg", Size: int64(len(jpg)), SHA256: hex.EncodeToString(sum[:]), Width: tw, Height: th},
		Refs:      1, // held by the image it belongs to
		PageBytes: s.limits.PageBytes,
		Pages:     numChunks(int64(len(jpg)), s.limits.PageBytes),
	}}
	for i := range sb.rec.Pages {
		page := jpg[i*s.limits.PageBytes : min(len(jpg), (i+1)*s.limits.PageBytes)]
		sealed, err := s.sealValue(page, adPage(pageKey(sb.hk, i)))
		if err != nil {
			return nil, err
		}
		sb.pages = append(sb.pages, sealed)
	}
	return sb, nil
}

// readErr keeps the store's own errors (a cancelled context, a vanished or
// corrupt chunk) and drops the decoder's: a bad image only means no thumbnail.
func readErr(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrIncomplete) || errors.Is(err, ErrCorrupt) {
		return err
	}
	return nil
}

// thumbnail scales img to fit maxSide (never up) with a box filter, lays it
// over white (JPEG has no alpha) and encodes it as JPEG.
func thumbnail(img image.Image, maxSide int) ([]byte, int, int, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, 0, 0, fmt.Errorf("%w: empty image", ErrInvalid)
	}
	tw, th := w, h
	if w > maxSide || h > maxSide {
		if w >= h {
			tw, th = maxSide, max(1, (h*maxSide+w/2)/w)
		} else {
			tw, th = max(1, (w*maxSide+h/2)/h), maxSide
		}
	}
	src, fast := img.(image.RGBA64Image)
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := range th {
		y0, y1 := b.Min.Y+y*h/th, b.Min.Y+max((y+1)*h/th, y*h/th+1)
		for x := range tw {
			x0, x1 := b.Min.X+x*w/tw, b.Min.X+max((x+1)*w/tw, x*w/tw+1)
			var r, g, bl, a uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					var cr, cg, cb, ca uint32
					if fast {
						c := src.RGBA64At(sx, sy)
						cr, cg, cb, ca = uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
					} else {
						cr, cg, cb, ca = img.At(sx, sy).RGBA()
					}
					r, g, bl, a = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca)
				}
			}
			n := uint64((y1 - y0) * (x1 - x0))
			white := 0xffff - a/n // premultiplied colour over a white background
			i := dst.PixOffset(x, y)
			dst.Pix[i+0] = uint8((r/n + white) >> 8)
			dst.Pix[i+1] = uint8((g/n + white) >> 8)
			dst.Pix[i+2] = uint8((bl/n + white) >> 8)
			dst.Pix[i+3] = 0xff
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: thumbnailQuality}); err != nil {
		return nil, 0, 0, fmt.Errorf("media: encode thumbnail: %w", err)
	}
	return out.Bytes(), tw, th, nil
}
