package coroutine

import "testing"

// TestReadFastBacksOffAndProbes: the fast path of reads stops after readMisses reads
// in a row found nothing, is tried again for one read in readProbe, and is back for
// every read once a try finds data.
func TestReadFastBacksOffAndProbes(t *testing.T) {
	y := &Yield{}
	for i := range readMisses {
		if !y.readFast() {
			t.Fatalf("read %d after %d misses skipped the fast path", i, i)
		}
		y.readTried(false)
	}
	for round := range 3 {
		for i := 1; i < readProbe; i++ {
			if y.readFast() {
				t.Fatalf("round %d: read %d after the misses tried the fast path", round, i)
			}
		}
		if !y.readFast() {
			t.Fatalf("round %d: the probe (read %d) skipped the fast path", round, readProbe)
		}
		y.readTried(false)
	}
	for i := 1; i < readProbe; i++ {
		y.readFast()
	}
	if !y.readFast() {
		t.Fatal("the probe skipped the fast path")
	}
	y.readTried(true) // data there: every read tries again
	for i := range 2 * readProbe {
		if !y.readFast() {
			t.Fatalf("read %d after a hit skipped the fast path", i)
		}
		y.readTried(true)
	}
}
