package strand_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/strand"
)

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

func TestStrand_StrandNonConcurrent(t *testing.T) {
	for _, runners := range []int{2, 4, 8} {
		t.Run(fmt.Sprintf("runners=%d", runners), func(t *testing.T) {
			ctx := testctx.New(t)
			s := strand.New(ctx)
			var inside atomic.Int32
			var overlaps, ran atomic.Int64
			plain := 0 // written only by strand handlers: the race detector checks them too
			h := func() {
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				plain++
				for i := 0; i < 50; i++ {
					_ = i * i
				}
				inside.Add(-1)
				ran.Add(1)
			}
			const n = 5000
			for i := range n {
				if i%2 == 0 {
					s.Post(h)
				} else {
					ctx.Post(func() { s.Dispatch(h) }) // posted from runners too
				}
			}
			testctx.RunN(ctx, runners)
			if overlaps.Load() != 0 {
				t.Fatalf("%d strand handlers overlapped", overlaps.Load())
			}
			if ran.Load() != n || plain != n {
				t.Fatalf("ran %d handlers (plain %d); want %d", ran.Load(), plain, n)
			}
		})
	}
}

func TestStrand_StrandFIFO(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	var got []int
	const n = 10000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // posting from a goroutine that is not a runner, while runners run
		defer wg.Done()
		for i := range n {
			s.Post(func() { got = append(got, i) })
		}
	}()
	g := iocontext.NewWorkGuard(ctx)
	done := make(chan struct{})
	go func() { testctx.RunN(ctx, 4); close(done) }()
	wg.Wait()
	s.Post(g.Reset)
	<-done
	if len(got) != n {
		t.Fatalf("ran %d of %d handlers", len(got), n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("handler %d ran at position %d: not FIFO", v, i)
		}
	}
}

func TestStrand_StrandDispatchInline(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	var order []string
	s.Post(func() {
		if !s.RunningInThisStrand() {
			t.Error("RunningInThisStrand false inside a handler of the strand")
		}
		s.Dispatch(func() { order = append(order, "dispatched") })
		order = append(order, "after")
	})
	if s.RunningInThisStrand() {
		t.Error("RunningInThisStrand true outside the strand")
	}
	other := strand.New(ctx)
	ctx.Post(func() {
		if s.RunningInThisStrand() {
			t.Error("RunningInThisStrand true in a plain handler")
		}
		other.Post(func() {
			if s.RunningInThisStrand() {
				t.Error("RunningInThisStrand true in another strand's handler")
			}
		})
	})
	ctx.Run()
	if fmt.Sprint(order) != "[dispatched after]" {
		t.Fatalf("order = %v; want Dispatch inline", order)
	}
}

func TestStrand_StrandPostNeverInline(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	var order []string
	s.Post(func() {
		s.Post(func() { order = append(order, "posted") })
		s.Defer(func() { order = append(order, "deferred") })
		order = append(order, "handler returned")
	})
	ctx.Run()
	if fmt.Sprint(order) != "[handler returned posted deferred]" {
		t.Fatalf("order = %v", order)
	}
	// From outside any runner, Dispatch posts too.
	ran := false
	ctx.Restart()
	s.Dispatch(func() { ran = true })
	if ran {
		t.Fatal("Dispatch from a non-runner ran inline")
	}
	ctx.Run()
	if !ran {
		t.Fatal("dispatched handler never ran")
	}
}

func TestStrand_StrandBatchYields(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	var order []string
	s.Post(func() {
		order = append(order, "a")
		s.Post(func() { order = append(order, "b (next batch)") })
		ctx.Post(func() { order = append(order, "c (context)") })
	})
	ctx.Run()
	if fmt.Sprint(order) != "[a c (context) b (next batch)]" {
		t.Fatalf("order = %v: a handler posted to its own strand must wait for the next batch", order)
	}

	// A strand with endless work does not starve the Context's other handlers.
	ctx.Restart()
	var spins atomic.Int64
	var stop atomic.Bool
	var loop func()
	loop = func() {
		if spins.Add(1) < 1_000_000 && !stop.Load() {
			s.Post(loop)
		}
	}
	s.Post(loop)
	ctx.Post(func() { stop.Store(true) })
	ctx.Run()
	if n := spins.Load(); n >= 1_000_000 {
		t.Fatalf("the other handler ran only after the strand's %d handlers", n)
	}
}

func TestStrand_StrandNotPinned(t *testing.T) {
	if !gident.Supported {
		t.Skip("goroutine identity not supported on this architecture: cannot tell runners apart")
	}
	ctx := testctx.New(t)
	s := strand.New(ctx)
	g := iocontext.NewWorkGuard(ctx)
	done := make(chan struct{})
	go func() { testctx.RunN(ctx, 2); close(done) }()

	// Background load: handlers that keep one runner or the other busy for a while.
	stopLoad := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		for i := 0; i < 20000; i++ {
			select {
			case <-stopLoad:
				return
			default:
			}
			ctx.Post(func() { time.Sleep(100 * time.Microsecond) })
			time.Sleep(150 * time.Microsecond)
		}
	}()
	// Strand batches posted one at a time: each may start on whichever runner is free.
	seen := map[uintptr]int{}
	ran := make(chan uintptr)
	for i := 0; i < 2000 && len(seen) < 2; i++ {
		s.Post(func() { ran <- gident.Current() })
		seen[<-ran]++
	}
	close(stopLoad)
	<-loadDone
	g.Reset()
	<-done
	if len(seen) < 2 {
		t.Fatalf("every batch ran on one runner: the strand is pinned (%v)", seen)
	}
}

func TestStrand_StrandSurvivesPanic(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	boom := errors.New("boom")
	var after []int
	s.Post(func() { after = append(after, 1) })
	s.Post(func() { panic(boom) })
	s.Post(func() { after = append(after, 2) })
	s.Post(func() { after = append(after, 3) })
	panics := 0
	for range 5 {
		func() {
			defer func() {
				if v := recover(); v != nil {
					pe, ok := v.(*iocontext.PanicError)
					if !ok || !errors.Is(pe, boom) {
						t.Fatalf("panic value %v; want a PanicError wrapping boom", v)
					}
					panics++
				}
			}()
			ctx.Run()
		}()
		if ctx.Stopped() {
			break
		}
	}
	if panics != 1 || fmt.Sprint(after) != "[1 2 3]" {
		t.Fatalf("panics=%d after=%v; want 1 and [1 2 3]", panics, after)
	}
}

func TestStrand_StrandsIndependent(t *testing.T) {
	ctx := testctx.New(t)
	a, b := strand.New(ctx), strand.New(ctx)
	aIn, bIn := make(chan struct{}), make(chan struct{})
	ok := make(chan bool, 2)
	// Each handler waits for the other strand's handler to start: only possible if the
	// two strands run at the same time on two runners.
	a.Post(func() {
		close(aIn)
		select {
		case <-bIn:
			ok <- true
		case <-time.After(5 * time.Second):
			ok <- false
		}
	})
	b.Post(func() {
		close(bIn)
		select {
		case <-aIn:
			ok <- true
		case <-time.After(5 * time.Second):
			ok <- false
		}
	})
	testctx.RunN(ctx, 2)
	okA, okB := <-ok, <-ok
	if !okA || !okB {
		t.Fatal("two strands serialized each other")
	}
}

func TestStrand_StrandHoldsWork(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	count := 0
	var h func()
	h = func() {
		count++
		if count < 100 {
			s.Post(h) // the strand holds the next handler as work
		}
	}
	s.Post(h)
	if n := ctx.Run(); n < 100 {
		t.Fatalf("Run returned after %d handlers with strand work left", n)
	}
	if count != 100 {
		t.Fatalf("count = %d; want 100", count)
	}
	if !ctx.Stopped() {
		t.Fatal("context not stopped after its strand ran out of work")
	}
}

func TestStrandPostAllocs(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	g := iocontext.NewWorkGuard(ctx)
	done := make(chan struct{})
	go func() { ctx.Run(); close(done) }()
	sig := make(chan struct{})
	h := func() { sig <- struct{}{} }
	allocs := testing.AllocsPerRun(1000, func() {
		s.Post(h)
		<-sig
	})
	g.Reset()
	ctx.Stop()
	<-done
	t.Logf("Strand.Post: %v allocations per handler", allocs)
	if allocs != 0 {
		t.Fatalf("Strand.Post allocates %v times per handler; want 0", allocs)
	}
}

func TestWrap(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	var inside atomic.Int32
	var bad atomic.Bool
	w := s.Wrap(func() {
		if inside.Add(1) != 1 {
			bad.Store(true)
		}
		inside.Add(-1)
	})
	for range 1000 {
		ctx.Post(w)
	}
	testctx.RunN(ctx, 4)
	if bad.Load() {
		t.Fatal("wrapped handlers overlapped")
	}
}
