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

func TestLend(t *testing.T) {
	if !Supported {
		t.Skip("gident: goroutine identity is not supported on this architecture")
	}
	lender := Current()
	got := make(chan uintptr)
	slot := make(chan int)
	back := make(chan struct{})
	go func() {
		raw := Raw()
		slot <- Lend(raw, lender, -1)
		got <- Current()
		<-back
		got <- Current()
	}()
	s := <-slot
	if s < 0 {
		t.Fatal("Lend failed with an empty table")
	}
	if g := <-got; g != lender {
		t.Fatalf("borrower's Current = %#x; want the lender's %#x", g, lender)
	}
	Return(s)
	back <- struct{}{}
	if g := <-got; g == lender {
		t.Fatal("Current still returns the lent identity after Return")
	}
	if Current() != lender {
		t.Fatal("the lender's own identity changed")
	}
}

// The coroutine adapter lends from the resuming goroutine, before it switches to the
// parked borrower: the loan must be visible to the borrower once it runs.
func TestLendFromAnotherGoroutine(t *testing.T) {
	if !Supported {
		t.Skip("gident: goroutine identity is not supported on this architecture")
	}
	lender := Current()
	raw := make(chan uintptr)
	run := make(chan struct{})
	got := make(chan uintptr)
	go func() {
		raw <- Raw()
		<-run
		got <- Current()
	}()
	s := Lend(<-raw, lender, -1)
	if s < 0 {
		t.Fatal("Lend failed with an empty table")
	}
	run <- struct{}{}
	if g := <-got; g != lender {
		t.Fatalf("borrower's Current = %#x; want the lender's %#x", g, lender)
	}
	Return(s)
}

// BenchmarkLendReturn is what a coroutine pays for its identity loan each time it is
// resumed through its executor (not when an operation completes inside its start:
// resume keeps the loan then).
func BenchmarkLendReturn(b *testing.B) {
	me, hint := Raw(), -1
	for b.Loop() {
		hint = Lend(me, me+8, hint)
		Return(hint)
	}
}
