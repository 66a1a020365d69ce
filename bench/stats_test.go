package main

import (
	"math"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	s := []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for _, c := range []struct {
		p    float64
		want int64
	}{
		{50, 50}, {90, 90}, {99, 100}, {100, 100}, {10, 10}, {1, 10}, {0, 10}, {55, 60},
	} {
		if got := percentile(s, c.p); got != c.want {
			t.Errorf("percentile(p=%v) = %d, want %d", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %d, want 0", got)
	}
	if got := percentile([]int64{7}, 99); got != 7 {
		t.Errorf("percentile(single) = %d, want 7", got)
	}
}

func TestPercentileP99Of1000(t *testing.T) {
	s := make([]int64, 1000)
	for i := range s {
		s[i] = int64(i + 1)
	}
	if got := percentile(s, 99); got != 990 {
		t.Errorf("p99 of 1..1000 = %d, want 990", got)
	}
	if got := percentile(s, 50); got != 500 {
		t.Errorf("p50 of 1..1000 = %d, want 500", got)
	}
}

func TestLatencySummarySorts(t *testing.T) {
	s := []int64{5e6, 1e6, 3e6, 2e6, 4e6}
	p50, p99 := latencySummary(s)
	if p50 != 3*time.Millisecond || p99 != 5*time.Millisecond {
		t.Errorf("latencySummary = %v, %v; want 3ms, 5ms", p50, p99)
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd = %v", got)
	}
	in := []float64{4, 1, 3, 2}
	if got := median(in); got != 2.5 {
		t.Errorf("median even = %v", got)
	}
	if in[0] != 4 {
		t.Errorf("median modified its input: %v", in)
	}
	if !math.IsNaN(median(nil)) {
		t.Errorf("median(nil) should be NaN")
	}
}

func TestRatio(t *testing.T) {
	if got := ratio(50, 100); got != 0.5 {
		t.Errorf("ratio = %v", got)
	}
	if !math.IsNaN(ratio(1, 0)) || !math.IsNaN(ratio(math.NaN(), 1)) {
		t.Errorf("ratio with unknowns should be NaN")
	}
}
