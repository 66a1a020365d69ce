package metrics

import (
	"math"
	"math/bits"
)

// subBits sets the histogram's precision: every power of two is split into
// 1<<subBits equal buckets, so a bucket is at most 1/64 of its values wide
// and its midpoint is within 0.8 % of anything that fell into it.
const (
	subBits  = 6
	subCount = 1 << subBits
)

// bucketOf maps a value (nanoseconds, ≥ 0) to its bucket. Values below
// subCount have a bucket each; above, the bucket keeps the value's top
// subBits+1 bits.
func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return subCount + shift*subCount + int(uint64(v)>>uint(shift)) - subCount
}

// bucketBounds is the smallest and the largest value of bucket i.
func bucketBounds(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	shift := uint((i - subCount) / subCount)
	m := uint64(i%subCount + subCount)
	lo = int64(m << shift)
	top := (m+1)<<shift - 1
	if top > math.MaxInt64 {
		top = math.MaxInt64
	}
	return lo, int64(top)
}

// hist is a log-linear histogram of durations in nanoseconds. Its counts
// cover only the buckets between the smallest and the largest value seen,
// so one that holds a narrow band of latencies stays small.
type hist struct {
	off      int      // bucket of counts[0]
	counts   []uint64 // counts[i] is bucket off+i
	n        uint64
	min, max int64
}

func (h *hist) add(v int64) {
	if v < 0 {
		v = 0
	}
	h.addN(bucketOf(v), 1)
	if h.n == 1 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// addN adds n to bucket b, growing counts to reach it.
func (h *hist) addN(b int, n uint64) {
	switch {
	case len(h.counts) == 0:
		h.off = b
		h.counts = make([]uint64, 1, 8)
	case b < h.off:
		grown := make([]uint64, len(h.counts)+h.off-b)
		copy(grown[h.off-b:], h.counts)
		h.counts, h.off = grown, b
	case b >= h.off+len(h.counts):
		need := b - h.off + 1
		if need <= cap(h.counts) {
			h.counts = h.counts[:need]
		} else {
			grown := make([]uint64, need, need+need/4)
			copy(grown, h.counts)
			h.counts = grown
		}
	}
	h.counts[b-h.off] += n
	h.n += n
}

// merge adds every observation of o to h.
func (h *hist) merge(o *hist) {
	if o.n == 0 {
		return
	}
	empty := h.n == 0
	for i, c := range o.counts {
		if c != 0 {
			h.addN(o.off+i, c)
		}
	}
	if empty || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile is the q-quantile (0 < q ≤ 1) by the nearest-rank method: the
// bucket that holds the ceil(q·n)-th smallest value, reported as its
// midpoint and kept within the smallest and largest value seen. 0 for an
// empty histogram.
func (h *hist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(h.off + i)
			v := lo + (hi-lo)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}
