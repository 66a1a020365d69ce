package blob

import (
	"fmt"
	"slices"
)

// Limits bound what the store accepts. Zero values take the defaults of
// DefaultLimits.
type Limits struct {
	// AllowedTypes are the MIME types accepted; anything else is ErrType.
	AllowedTypes []string
	// MaxBytes is the largest blob per type; a type without an entry gets
	// DefaultMaxBytes. Larger declared sizes are ErrTooLarge.
	MaxBytes        map[string]int64
	DefaultMaxBytes int64
	// ChunkBytes is the upload chunk size (every chunk but the last). Keep it
	// under the broker's max_packet_size with room for the request envelope.
	ChunkBytes int
	// PageBytes is the size of the sealed pages a blob is stored in.
	PageBytes int
	// MaxTotalBytes caps the bytes of all blobs plus those reserved by open
	// uploads; Begin past it is ErrQuota.
	MaxTotalBytes int64
	// MaxUploadsPerOwner caps the open uploads of one owner (ErrQuota).
	MaxUploadsPerOwner int
	// CustomerMaxUploads caps the open uploads of one customer (an upload
	// begun AsCustomer), CustomerMaxReservedBytes the bytes they reserve.
	CustomerMaxUploads       int
	CustomerMaxReservedBytes int64
	// StaffReserveBytes is the part of MaxTotalBytes customers' uploads may
	// not use: staff photos and camera snapshots still fit when customers
	// have filled the rest (default a quarter of MaxTotalBytes).
	StaffReserveBytes int64
	// MaxReadBytes caps one Get (ErrTooLarge).
	MaxReadBytes int
	// MaxImagePixels: larger images are stored without a thumbnail, since
	// decoding them would take width×height×4 bytes of memory or more.
	MaxImagePixels int64
	// ThumbnailWorkers caps how many images are decoded at once (each may
	// take up to MaxImagePixels×4 bytes); other Completes wait their turn.
	ThumbnailWorkers int
}

// DefaultLimits are the defaults: photos and voice notes up to 10 MiB, video
// clips up to 50 MiB, PDFs up to 10 MiB, 256 KiB chunks and pages, 2 GiB of
// media in all.
func DefaultLimits() Limits {
	return Limits{
		AllowedTypes: []string{"image/jpeg", "image/png", "image/webp", "audio/ogg", "audio/mp4", "audio/webm", "video/mp4", "video/webm", "application/pdf"},
		MaxBytes: map[string]int64{
			"video/mp4":  50 << 20,
			"video/webm": 50 << 20,
		},
		DefaultMaxBytes:    10 << 20,
		ChunkBytes:         256 << 10,
		PageBytes:          256 << 10,
		MaxTotalBytes:      2 << 30,
		MaxUploadsPerOwner: 16,
		CustomerMaxUploads: 4,
		// A 50 MiB clip and a few photos at once.
		CustomerMaxReservedBytes: 64 << 20,
		MaxReadBytes:             1 << 20,
		MaxImagePixels:           24_000_000,
		ThumbnailWorkers:         1,
	}
}

func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits()
	if l.AllowedTypes == nil {
		l.AllowedTypes = d.AllowedTypes
	}
	if l.MaxBytes == nil {
		l.MaxBytes = d.MaxBytes
	}
	def := func(v *int64, dv int64) {
		if *v == 0 {
			*v = dv
		}
	}
	defInt := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&l.DefaultMaxBytes, d.DefaultMaxBytes)
	def(&l.MaxTotalBytes, d.MaxTotalBytes)
	def(&l.MaxImagePixels, d.MaxImagePixels)
	def(&l.CustomerMaxReservedBytes, d.CustomerMaxReservedBytes)
	defInt(&l.CustomerMaxUploads, d.CustomerMaxUploads)
	if l.StaffReserveBytes == 0 {
		l.StaffReserveBytes = l.MaxTotalBytes / 4
	}
	defInt(&l.ChunkBytes, d.ChunkBytes)
	defInt(&l.PageBytes, d.PageBytes)
	defInt(&l.MaxUploadsPerOwner, d.MaxUploadsPerOwner)
	defInt(&l.MaxReadBytes, d.MaxReadBytes)
	defInt(&l.ThumbnailWorkers, d.ThumbnailWorkers)
	if l.DefaultMaxBytes < 0 || l.MaxTotalBytes < 0 || l.MaxImagePixels < 0 || l.ChunkBytes < 0 ||
		l.PageBytes < 0 || l.MaxUploadsPerOwner < 0 || l.MaxReadBytes < 0 || l.ThumbnailWorkers < 0 ||
		l.CustomerMaxUploads < 0 || l.CustomerMaxReservedBytes < 0 || l.StaffReserveBytes < 0 {
		return Limits{}, fmt.Errorf("media: negative limit in %+v", l)
	}
	for t, n := range l.MaxBytes {
		if n <= 0 {
			return Limits{}, fmt.Errorf("media: MaxBytes[%s] must be positive", t)
		}
	}
	if l.StaffReserveBytes >= l.MaxTotalBytes {
		return Limits{}, fmt.Errorf("media: StaffReserveBytes %d leaves customers nothing of MaxTotalBytes %d", l.StaffReserveBytes, l.MaxTotalBytes)
	}
	if l.ChunkBytes > 64<<20 || l.PageBytes > 64<<20 {
		return Limits{}, fmt.Errorf("media: ChunkBytes and PageBytes must be at most 64 MiB")
	}
	return l, nil
}

func (l Limits) maxBytes(typ string) int64 {
	if n, ok := l.MaxBytes[typ]; ok {
		return n
	}
	return l.DefaultMaxBytes
}

func (l Limits) allowed(typ string) bool { return slices.Contains(l.AllowedTypes, typ) }
