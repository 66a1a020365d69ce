package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// chunkReader reads an upload's assembled bytes, one sealed chunk at a time:
// each chunk is copied out of a short read transaction and opened outside it,
// so memory stays at one chunk whatever the upload's size.
type chunkReader struct {
	ctx  context.Context
	s    *Store
	uk   []byte
	n    int // chunks
	next int
	buf  []byte
}

func (s *Store) chunks(ctx context.Context, uk []byte, u uploadRecord) *chunkReader {
	return &chunkReader{ctx: ctx, s: s, uk: uk, n: u.chunks()}
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.next == r.n {
			return 0, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			return 0, fmt.Errorf("media: reading upload: %w", err)
		}
		var sealed []byte
		if err := r.s.view(func(b buckets) error {
			if b.uploads != nil {
				if ub := b.uploads.Bucket(r.uk); ub != nil {
					sealed = bytes.Clone(ub.Get(indexKey('c', r.next)))
				}
			}
			return nil
		}); err != nil {
			return 0, err
		}
		if sealed == nil {
			return 0, fmt.Errorf("%w: chunk %d vanished", ErrIncomplete, r.next)
		}
		pt, err := r.s.open(sealed, adChunk(r.uk, 'c', r.next))
		if err != nil {
			return 0, err
		}
		r.buf = pt
		r.next++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
