package broker

import (
	"testing"

	"github.com/storeedge/storeedge/broker/services/media"
)

// The media chunk size shrinks until a chunk request fits max_packet_size,
// in whole KiB, and never below 1 KiB.
func TestFitChunk(t *testing.T) {
	const header = 1024
	for _, tc := range []struct {
		chunk     int
		maxPacket uint32
		want      int
	}{
		{256 << 10, 1 << 20, 256 << 10}, // the defaults fit as they are
		{64 << 10, 2048, 1024},          // nothing fits: 1 KiB, uploads will fail (logged)
	} {
		if got := fitChunk(tc.chunk, tc.maxPacket); got != tc.want {
			t.Errorf("fitChunk(%d, %d) = %d, want %d", tc.chunk, tc.maxPacket, got, tc.want)
		}
	}
	// A 128 KiB packet: the largest whole-KiB chunk whose request fits.
	got := fitChunk(256<<10, 128<<10)
	if got%1024 != 0 || media.RequestBytesFor(got)+header > 128<<10 || media.RequestBytesFor(got+1024)+header <= 128<<10 {
		t.Fatalf("fitChunk(256 KiB, 128 KiB) = %d: not the largest fitting KiB multiple", got)
	}
}
