package coroutine_test

import (
	"sync/atomic"
	"testing"

	"github.com/coionet/coio/coroutine"
	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/internal/testctx"
)

// The resume function Suspend hands out may be called at once inside start, later on
// the same runner, or from another goroutine while start is still running or after it
// has returned: each must resume the coroutine exactly once.
func TestSuspendResumeEveryWay(t *testing.T) {
	ctx := testctx.New(t)
	other := make(chan func(), 1)
	stopOther := make(chan struct{})
	otherDone := make(chan struct{})
	go func() {
		defer close(otherDone)
		for {
			select {
			case resume := <-other:
				resume()
			case <-stopOther:
				return
			}
		}
	}()
	starts := []struct {
		name  string
		start func(resume func())
	}{
		{"inline", func(resume func()) { resume() }},
		{"posted", func(resume func()) { ctx.Post(resume) }},
		{"other goroutine", func(resume func()) { other <- resume }},
		{"other goroutine, start waits", func(resume func()) {
			done := make(chan struct{})
			other <- func() { resume(); close(done) }
			<-done // the completion lands while start is still running
		}},
	}
	const rounds = 2000
	var steps [4]atomic.Int64
	for i, s := range starts {
		for range 4 {
			coroutine.Spawn(ctx, func(y *coroutine.Yield) {
				local := 0 // the race detector watches it, should two runners resume at once
				for range rounds {
					y.Suspend(s.start)
					local++
					steps[i].Add(1)
				}
				if local != rounds {
					t.Errorf("%s: local = %d", s.name, local)
				}
			})
		}
	}
	testctx.RunN(ctx, 2)
	close(stopOther)
	<-otherDone
	for i, s := range starts {
		if got := steps[i].Load(); got != 4*rounds {
			t.Errorf("%s: %d resumptions; want %d", s.name, got, 4*rounds)
		}
	}
}

// Dispatch inside a coroutine runs inline (the coroutine has the resuming runner's
// identity) after every kind of resumption, including the round the runner makes
// without giving the loan back when start completes at once.
func TestDispatchInlineInsideCoroutine(t *testing.T) {
	if !gident.Supported {
		t.Skip("goroutine identity not supported on this architecture: Dispatch always posts")
	}
	ctx := testctx.New(t)
	var bad atomic.Int64
	check := func(y *coroutine.Yield) {
		ran := false
		y.Executor().Dispatch(func() { ran = true })
		if !ran {
			bad.Add(1)
		}
	}
	for range 4 {
		coroutine.Spawn(ctx, func(y *coroutine.Yield) {
			for range 500 {
				check(y)
				y.Suspend(func(resume func()) { resume() })
				check(y)
				y.Post()
				check(y)
				y.Suspend(func(resume func()) { go resume() })
				check(y)
			}
		})
	}
	testctx.RunN(ctx, 2)
	if n := bad.Load(); n != 0 {
		t.Fatalf("Dispatch inside a coroutine did not run inline %d times", n)
	}
}

// A steady-state suspension and resumption allocates nothing: the switch, the loan
// of the runner's identity and the start of the operation all reuse what Spawn made.
func TestResumeAllocs(t *testing.T) {
	ctx := testctx.New(t)
	inline := func(resume func()) { resume() }
	posted := func(resume func()) { ctx.Post(resume) }
	results := map[string]float64{}
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		for range 10 { // warm up: first loans, queue growth
			y.Suspend(inline)
			y.Suspend(posted)
			y.Post()
		}
		results["Suspend, completed inside start"] = testing.AllocsPerRun(1000, func() { y.Suspend(inline) })
		results["Suspend, completed by a posted handler"] = testing.AllocsPerRun(1000, func() { y.Suspend(posted) })
		results["Post"] = testing.AllocsPerRun(1000, func() { y.Post() })
	})
	ctx.Run()
	if len(results) != 3 {
		t.Fatal("the coroutine did not finish")
	}
	for name, allocs := range results {
		t.Logf("%s: %v allocations per round trip", name, allocs)
		if allocs != 0 {
			t.Errorf("%s allocates %v times per round trip; want 0", name, allocs)
		}
	}
}
