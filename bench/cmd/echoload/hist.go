//go:build linux

package main

import "math/bits"

// The histogram is log-linear, in the manner of HdrHistogram: values below subCount
// have a bucket each; above that, every power-of-two range [2^k, 2^(k+1)) is split into
// subHalf equal buckets, so a bucket is at most 1/subHalf (0.8%) of the values it holds
// wide. That covers every non-negative int64 in a fixed 57 KiB table.
const (
	subBits  = 8
	subCount = 1 << subBits                    // exact buckets for values 0..subCount-1
	subHalf  = subCount / 2                    // buckets per power of two above that
	nBuckets = subCount + (63-subBits)*subHalf // int64 values have at most 63 bits
)

// histogram counts non-negative int64 samples. Record never allocates.
type histogram struct {
	counts   [nBuckets]uint64
	total    uint64
	sum      float64
	min, max int64
}

// bucketOf returns the index of the bucket that holds v (v >= 0).
func bucketOf(v int64) int {
	u := uint64(v)
	if u < subCount {
		return int(u)
	}
	shift := bits.Len64(u) - subBits // >= 1; u>>shift is in [subHalf, subCount)
	return subCount + (shift-1)*subHalf + int(u>>uint(shift)) - subHalf
}

// bucketRange returns the smallest and largest value that bucket i holds.
func bucketRange(i int) (lo, hi int64) {
	if i < subCount {
		return int64(i), int64(i)
	}
	j := i - subCount
	shift := uint(j/subHalf + 1)
	top := uint64(j%subHalf + subHalf)
	lo64 := top << shift
	hi64 := (top+1)<<shift - 1
	if hi64 > 1<<63-1 || hi64 < lo64 { // the last bucket reaches past MaxInt64
		hi64 = 1<<63 - 1
	}
	return int64(lo64), int64(hi64)
}

// Record adds one sample; a negative one counts as 0.
func (h *histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Reset forgets every sample.
func (h *histogram) Reset() { *h = histogram{} }

// Count returns the number of samples.
func (h *histogram) Count() uint64 { return h.total }

// Mean returns the exact mean of the samples, 0 if there are none.
func (h *histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Quantile returns the value at or below which a fraction q of the samples lie: the
// upper bound of the bucket holding the ceil(q*n)-th smallest sample, capped at the
// largest sample seen (so it errs high by at most one bucket's width).
func (h *histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i]
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(hi, h.max)
		}
	}
	return h.max
}
