//go:build linux

package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBuckets checks that buckets tile the int64 range in order, and that each is at
// most 1/subHalf of its values wide.
func TestBuckets(t *testing.T) {
	prevHi := int64(-1)
	for i := range nBuckets {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], previous ended at %d", i, lo, hi, prevHi)
		}
		if got := bucketOf(lo); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", lo, got, i)
		}
		if got := bucketOf(hi); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", hi, got, i)
		}
		if lo >= subCount && float64(hi-lo+1) > float64(lo)/subHalf {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, subHalf)
		}
		prevHi = hi
	}
	if prevHi != math.MaxInt64 {
		t.Fatalf("last bucket ends at %d, want MaxInt64", prevHi)
	}
}

// TestQuantile compares the histogram's quantiles with exact ones of random samples.
func TestQuantile(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h histogram
	v := make([]int64, 100_000)
	for i := range v {
		v[i] = int64(math.Exp(r.NormFloat64()*1.5 + 11)) // log-normal around 60 µs
		h.Record(v[i])
	}
	slices.Sort(v)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := max(int(math.Ceil(q*float64(len(v)))), 1)
		want := v[rank-1]
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/subHalf+1 {
			t.Errorf("Quantile(%v) = %d, exact %d", q, got, want)
		}
	}
	if h.Count() != uint64(len(v)) || h.min != v[0] || h.max != v[len(v)-1] {
		t.Errorf("count %d min %d max %d, want %d %d %d", h.Count(), h.min, h.max, len(v), v[0], v[len(v)-1])
	}
	h.Reset()
	if h.Count() != 0 || h.Quantile(0.5) != 0 {
		t.Error("Reset left samples")
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := new(histogram)
	x := int64(1)
	if n := testing.AllocsPerRun(1000, func() { h.Record(x); x = x*3 + 1 }); n != 0 {
		t.Errorf("Record allocates %v times per call", n)
	}
}

func TestProcReaders(t *testing.T) {
	var pr procReader
	var ct cpuTimes
	if err := pr.machineStat(&ct); err != nil || ct.total == 0 || ct.ncpu == 0 {
		t.Fatalf("machineStat: %v, %+v", err, ct)
	}
	if _, _, err := pr.procStat(1); err != nil {
		t.Fatalf("procStat(1): %v", err)
	}
	if n := testing.AllocsPerRun(10, func() {
		pr.machineStat(&ct)
		pr.procStat(1)
	}); n != 0 {
		t.Errorf("the /proc readers allocate %v times per call", n)
	}
	if hz := clockTicks(); hz == 0 {
		t.Error("clockTicks returned 0")
	}
}
