package iocontext_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
)

// The outstanding-work count: a handler's own unit lasts until it returns, so the
// count never reaches 0 while a handler runs that may start more (a scheme that handed
// the unit to the handler's first operation was tried and dropped: ARCHITECTURE.md,
// "Work counting and stopping"). A runner takes the units of the handlers it finished
// off the shared count late (when it runs out of handlers, every budget, when its run
// call returns), and the work its handlers start takes those units over first; the
// tests below fail when one of those late takings is missing.

// TestWorkCountPanicAfterPost: a handler that posts and then panics leaves the posted
// handler counted, so the Context is not stopped and the next Run runs it.
func TestWorkCountPanicAfterPost(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	ran := 0
	ctx.Post(func() {
		ctx.Post(func() { ran++ })
		panic("after the post")
	})
	if p := catch(func() { runOn(t, ctx, ctx.Run) }); p == nil {
		t.Fatal("Run did not panic with the handler's panic")
	}
	if ctx.Stopped() {
		t.Fatal("the Context stopped with a posted handler queued: the work count reached 0")
	}
	if n := runOn(t, ctx, ctx.Run); n != 1 || ran != 1 || !ctx.Stopped() {
		t.Fatalf("second Run ran %d handlers (the posted one ran %d times), Stopped %v; want 1, 1, true", n, ran, ctx.Stopped())
	}
}

// TestWorkCountChains: handlers that post none, one and several successors. Run
// returns when the last has run (the count reached 0) and not before, with every
// handler run once.
func TestWorkCountChains(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	ran := 0
	var fan func(depth int)
	fan = func(depth int) {
		ran++
		for i := 0; i < depth; i++ {
			d := depth - 1
			ctx.Post(func() { fan(d) })
		}
	}
	ctx.Post(func() { fan(4) }) // 1 + 4 + 4·3 + 4·3·2 + 4·3·2·1 = 65 handlers
	if n := runOn(t, ctx, ctx.Run); n != 65 || ran != 65 || !ctx.Stopped() {
		t.Fatalf("Run ran %d handlers (%d counted by them), Stopped %v; want 65, 65, true", n, ran, ctx.Stopped())
	}
}

// TestWorkCountGuardFromHandler: a WorkGuard made in a handler keeps Run going after
// the handler returns, until the guard is released, and Run stops once it is.
func TestWorkCountGuardFromHandler(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	var g *iocontext.WorkGuard
	ctx.Post(func() { g = iocontext.NewWorkGuard(ctx) })
	if n := runOn(t, ctx, ctx.RunOne); n != 1 {
		t.Fatalf("RunOne ran %d handlers; want 1", n)
	}
	if ctx.Stopped() {
		t.Fatal("the Context stopped while a guard made in a handler was held")
	}
	ctx.Post(func() { g.Reset() })
	if n := runOn(t, ctx, ctx.Run); n != 1 || !ctx.Stopped() {
		t.Fatalf("Run ran %d handlers, Stopped %v; want 1, true once the guard is released", n, ctx.Stopped())
	}
}

// TestWorkCountGuardResetInHandler: a guard made and released within a handler, then
// a post. Had the guard taken the handler's own unit, its release would take the count
// to 0 and stop the Context with the post still to come, which would never run.
func TestWorkCountGuardResetInHandler(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	ran := 0
	ctx.Post(func() {
		g := iocontext.NewWorkGuard(ctx)
		g.Reset()
		ctx.Post(func() { ran++ })
	})
	if n := runOn(t, ctx, ctx.Run); n != 2 || ran != 1 || !ctx.Stopped() {
		t.Fatalf("Run ran %d handlers (the post ran %d times), Stopped %v; want 2, 1, true", n, ran, ctx.Stopped())
	}
}

// TestWorkCountChildDoneBeforeParent: a handler whose first post runs to its end
// before the handler returns (a nested Poll runs it here; another runner can do the
// same), then posts again. The count must not reach 0 in between: the second post
// runs, and the Context stops only after it.
func TestWorkCountChildDoneBeforeParent(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	var first, second, polled int
	ctx.Post(func() {
		ctx.Post(func() { first++ })
		polled = ctx.Poll()
		if ctx.Stopped() {
			t.Error("the Context stopped while a handler was still running")
		}
		ctx.Post(func() { second++ })
	})
	runOn(t, ctx, ctx.Run)
	if first != 1 || second != 1 || polled != 1 || !ctx.Stopped() {
		t.Fatalf("first post ran %d times (nested Poll ran %d), second %d, Stopped %v; want 1 (1), 1, true", first, polled, second, ctx.Stopped())
	}
}

// TestWorkCountRunOneLastHandlerStops: RunOne that runs the last handler leaves the
// Context stopped, as Run would: its run call takes the handler's unit off the count
// before it returns.
func TestWorkCountRunOneLastHandlerStops(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	ctx.Post(func() {})
	ctx.Post(func() {})
	if n := runOn(t, ctx, ctx.RunOne); n != 1 || ctx.Stopped() {
		t.Fatalf("first RunOne ran %d handlers, Stopped %v; want 1, false (one handler left)", n, ctx.Stopped())
	}
	if n := runOn(t, ctx, ctx.RunOne); n != 1 || !ctx.Stopped() {
		t.Fatalf("second RunOne ran %d handlers, Stopped %v; want 1, true (no work left)", n, ctx.Stopped())
	}
}

// TestWorkCountPanicInLastHandlerStops: the last handler panics; its unit is finished
// all the same, so the Context is stopped and a later Run returns 0 at once.
func TestWorkCountPanicInLastHandlerStops(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	ctx.Post(func() {})
	ctx.Post(func() { panic("last") })
	if p := catch(func() { runOn(t, ctx, ctx.Run) }); p == nil {
		t.Fatal("Run did not panic with the handler's panic")
	}
	if !ctx.Stopped() {
		t.Fatal("the Context is not stopped after its last handler panicked: the handler's unit was never taken off the count")
	}
}

// TestWorkCountManyRunners: chains of posts on four runners, which steal from each
// other, so a handler's successor often runs on a runner other than the one whose
// finished units it took over. Every handler runs once, and every Run returns once all
// have run (the count reached 0 exactly then: not before, or some would not run; not
// never, or Run would not return).
func TestWorkCountManyRunners(t *testing.T) {
	for range 20 {
		ctx := newContext(t)
		const chains, length = 64, 50
		var ran atomic.Int64
		var step func(left int)
		step = func(left int) {
			ran.Add(1)
			if left > 1 {
				ctx.Post(func() { step(left - 1) })
			}
		}
		for range chains {
			ctx.Post(func() { step(length) })
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { ctx.Run() })
		}
		ended := make(chan struct{})
		go func() { wg.Wait(); close(ended) }()
		select {
		case <-ended:
		case <-time.After(waitLimit):
			ctx.Stop() // a missed stop: the runs would never return
			<-ended
			ctx.Close()
			t.Fatalf("the four Run calls did not return within %v (%d of %d handlers ran)", waitLimit, ran.Load(), chains*length)
		}
		if n := ran.Load(); n != chains*length || !ctx.Stopped() {
			ctx.Close()
			t.Fatalf("%d handlers ran, Stopped %v; want %d, true", n, ctx.Stopped(), chains*length)
		}
		ctx.Close()
	}
}

// TestQueueDepthLagsOnlyUpward: Stats' queue depth counts a runner's own queue exactly
// when it fills, may stay a few handlers above it while the runner works through it
// (its pops do not store the length each time), and is 0 once it is empty.
func TestQueueDepthLagsOnlyUpward(t *testing.T) {
	ctx := newContext(t)
	defer ctx.Close()
	const n = 40
	left := n
	ctx.Post(func() {
		for range n {
			ctx.Post(func() {
				left--
				d := ctx.Stats().QueueDepth
				if d < left || d > left+7 {
					t.Errorf("with %d handlers queued, Stats().QueueDepth = %d; want %d to %d", left, d, left, left+7)
				}
			})
		}
		if d := ctx.Stats().QueueDepth; d != n {
			t.Errorf("after posting %d handlers, Stats().QueueDepth = %d; want %d", n, d, n)
		}
	})
	runOn(t, ctx, ctx.Run)
	if d := ctx.Stats().QueueDepth; d != 0 {
		t.Fatalf("after Run, Stats().QueueDepth = %d; want 0", d)
	}
}
