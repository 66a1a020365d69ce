package customer

import (
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// MaxQRSize bounds QRPNG's image side in pixels.
const MaxQRSize = 4096

// QRPNG draws text (a ticket's URL) as a QR code with medium error
// correction and a quiet zone, sizePx by sizePx pixels (1 to MaxQRSize; a
// size too small for the code's modules gives the smallest image that fits).
// Empty or too long text, or a size out of range, is ErrInvalid.
func QRPNG(text string, sizePx int) (png []byte, err error) {
	if text == "" {
		return nil, fmt.Errorf("%w: empty QR code text", ErrInvalid)
	}
	if sizePx < 1 || sizePx > MaxQRSize {
		return nil, fmt.Errorf("%w: QR code size %d px (want 1 to %d)", ErrInvalid, sizePx, MaxQRSize)
	}
	defer func() {
		// The encoder is a third-party library: keep its panics ours to report.
		if r := recover(); r != nil {
			png, err = nil, fmt.Errorf("customer: QR encoder failed: %v", r)
		}
	}()
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("%w: QR code: %w", ErrInvalid, err)
	}
	png, err = q.PNG(sizePx)
	if err != nil {
		return nil, fmt.Errorf("customer: QR code PNG: %w", err)
	}
	return png, nil
}
