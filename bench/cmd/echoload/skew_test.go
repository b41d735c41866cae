//go:build linux

package main

import (
	"math"
	"testing"
)

func TestHeavySet(t *testing.T) {
	for _, c := range []struct{ n, h int }{{100, 10}, {1000, 100}, {10, 1}, {5, 0}} {
		set := heavySet(c.n, c.h)
		if len(set) != c.h {
			t.Errorf("heavySet(%d, %d) chose %d", c.n, c.h, len(set))
		}
		for i := range set {
			if i < 0 || i >= c.n {
				t.Errorf("heavySet(%d, %d) chose %d", c.n, c.h, i)
			}
		}
		again := heavySet(c.n, c.h)
		for i := range set {
			if !again[i] {
				t.Errorf("heavySet(%d, %d) is not the same from one call to the next", c.n, c.h)
			}
		}
	}
	// Spread over even and odd positions: a round-robin acceptor over two loops
	// would not get every heavy connection on one loop.
	even := 0
	for i := range heavySet(100, 10) {
		if i%2 == 0 {
			even++
		}
	}
	if even == 0 || even == 10 {
		t.Errorf("the heavy connections are all on even or all on odd positions (%d even)", even)
	}
}

func TestFairness(t *testing.T) {
	conns := []conn{{done: 110, atStart: 10}, {done: 100}, {done: 50, heavy: true}, {done: 0, heavy: true}}
	all := fairness(conns, func(*conn) bool { return true })
	// counts 100, 100, 50, 0: sum 250, sum of squares 22500
	if all.n != 4 || all.msgs != 250 || math.Abs(all.jain-250*250/(4*22500.0)) > 1e-12 || all.slowest != 0 ||
		all.stalled != 1 || all.unserved != 1 {
		t.Errorf("all: %+v", all)
	}
	light := fairness(conns, func(c *conn) bool { return !c.heavy })
	if light.n != 2 || light.msgs != 200 || light.jain != 1 || light.slowest != 1 || light.stalled != 0 {
		t.Errorf("light: %+v", light)
	}
	// Stalled in the window but served before it, never served, served.
	st := fairness([]conn{{done: 5, atStart: 5}, {done: 0}, {done: 7, atStart: 2}}, func(*conn) bool { return true })
	if st.stalled != 2 || st.unserved != 1 || st.msgs != 5 {
		t.Errorf("stalled: %+v", st)
	}
	none := fairness(conns, func(*conn) bool { return false })
	if none.n != 0 || none.jain != 0 {
		t.Errorf("none: %+v", none)
	}
}

func TestSkewConfig(t *testing.T) {
	c := config{conns: 100, depth: 2, skew: 0.1, skewFactor: 20}
	if c.heavyConns() != 10 || c.heavyDepth() != 40 {
		t.Errorf("heavy conns %d depth %d", c.heavyConns(), c.heavyDepth())
	}
	c.skew = 0
	if c.heavyConns() != 0 {
		t.Errorf("no skew: %d heavy", c.heavyConns())
	}
}

// A read that takes a whole echo must come back short of the buffer, or the loop reads
// again for an EAGAIN; the buffer stays bounded for deep pipelines of large messages.
func TestReadBufSize(t *testing.T) {
	for _, c := range []struct{ size, depth int }{{64, 1}, {4096, 1}, {4096, 16}, {64, 16 * 20}, {65536, 16}} {
		inFlight := c.size * c.depth
		n := readBufSize(inFlight)
		if n < 64<<10 {
			t.Errorf("%d B x %d: buffer %d, under 64 KiB", c.size, c.depth, n)
		}
		if inFlight < 4<<20 && n <= inFlight {
			t.Errorf("%d B x %d: buffer %d, not above the %d bytes in flight", c.size, c.depth, n, inFlight)
		}
	}
	if n := readBufSize(1 << 30); n != 4<<20 {
		t.Errorf("1 GiB in flight: buffer %d, want the 4 MiB bound", n)
	}
}
