package gident

import (
	"sync"
	"testing"
)

func TestCurrentDistinguishesGoroutines(t *testing.T) {
	if !Supported {
		t.Skip("gident: goroutine identity is not supported on this architecture")
	}
	me := Current()
	if me == 0 {
		t.Fatal("Current() = 0 on a supported architecture")
	}
	if again := Current(); again != me {
		t.Fatalf("Current() changed within one goroutine: %#x then %#x", me, again)
	}
	const n = 16
	ids := make([]uintptr, n)
	var ready, release sync.WaitGroup
	ready.Add(n)
	release.Add(1)
	var done sync.WaitGroup
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			ids[i] = Current()
			ready.Done()
			release.Wait() // keep every goroutine alive while the ids are compared
		}()
	}
	ready.Wait()
	seen := map[uintptr]bool{me: true}
	for i, id := range ids {
		if seen[id] {
			t.Errorf("goroutine %d shares identity %#x with another live goroutine", i, id)
		}
		seen[id] = true
	}
	release.Done()
	done.Wait()
}

func BenchmarkCurrent(b *testing.B) {
	var x uintptr
	for b.Loop() {
		x += Current()
	}
	_ = x
}
