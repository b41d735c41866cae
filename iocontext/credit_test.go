package iocontext_test

import (
	"testing"

	"github.com/coionet/coio/iocontext"
)

// A handler hands its unit of work to what it starts instead of counting one more and
// one less (ARCHITECTURE.md, "Locked instructions per message"). These tests hold the
// count to what the +1/-1 order gave: never 0 while work is queued, 0 once it is not.

// TestWorkCreditPanicAfterPost: a handler that posts and then panics leaves the posted
// handler counted, so the Context is not stopped and the next Run runs it. Settling the
// panicked handler's unit on top of the one it handed on would stop the Context with a
// handler queued.
func TestWorkCreditPanicAfterPost(t *testing.T) {
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

// TestWorkCreditChains: handlers that post none, one and several successors. Run
// returns when the last has run (the count reached 0) and not before, with every
// handler run once.
func TestWorkCreditChains(t *testing.T) {
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

// TestWorkCreditGuardFromHandler: a WorkGuard made in a handler takes that handler's
// unit; Run keeps going until the guard is released, and stops once it is.
func TestWorkCreditGuardFromHandler(t *testing.T) {
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
