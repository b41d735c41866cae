package iocontext_test

// SEMANTICS.md, "core — Context: run, stop, restart, work", "core — Post, Dispatch,
// Defer" and "core — panics and shutdown".

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
	"go.uber.org/goleak"
)

// runFns are the five run functions, for tests that hold for each.
var runFns = []struct {
	name string
	fn   func(*iocontext.Context) int
}{
	{"Run", (*iocontext.Context).Run},
	{"RunOne", (*iocontext.Context).RunOne},
	{"RunFor", func(c *iocontext.Context) int { return c.RunFor(time.Hour) }},
	{"Poll", (*iocontext.Context).Poll},
	{"PollOne", (*iocontext.Context).PollOne},
}

// catch calls fn and returns what it panicked with.
func catch(fn func()) (p any) {
	defer func() { p = recover() }()
	fn()
	return nil
}

func TestCore_RunWithoutWorkStops(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, rf := range runFns {
			t.Run(rf.name, func(t *testing.T) {
				ctx := be.open(t)
				var n int
				if p := within(t, waitLimit, rf.name+" on a Context with no work", func() { n = rf.fn(ctx) }); p != nil {
					t.Fatalf("%s panicked: %v", rf.name, p)
				}
				if n != 0 {
					t.Errorf("%s with no work = %d; want 0", rf.name, n)
				}
				if !ctx.Stopped() {
					t.Errorf("%s with no work left the Context not stopped", rf.name)
				}
			})
		}
		t.Run("PostAfterStopWaitsForRestart", func(t *testing.T) {
			ctx := be.open(t)
			if n := runOn(t, ctx, ctx.Run); n != 0 {
				t.Fatalf("Run with no work = %d; want 0", n)
			}
			ran := 0
			ctx.Post(func() { ran++ })
			if n := runOn(t, ctx, ctx.Run); n != 0 || ran != 0 {
				t.Fatalf("Run; Post(h); Run: second Run = %d, h ran %d times; want 0, 0 (stopped until Restart)", n, ran)
			}
			if !ctx.Stopped() {
				t.Fatal("the Context is no longer stopped after a Run that returned at once")
			}
			ctx.Restart()
			if n := runOn(t, ctx, ctx.Run); n != 1 || ran != 1 {
				t.Fatalf("Run after Restart = %d, h ran %d times; want 1, 1", n, ran)
			}
		})
	})
}

func TestCore_RunReturnsCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		ran := 0
		post := func(k int) {
			for range k {
				ctx.Post(func() { ran++ })
			}
		}
		check := func(what string, got, want, wantRan int) {
			t.Helper()
			if got != want || ran != wantRan {
				t.Fatalf("%s = %d with %d handlers run in all; want %d, %d", what, got, ran, want, wantRan)
			}
		}

		post(5)
		check("Run with 5 posted", runOn(t, ctx, ctx.Run), 5, 5)

		// Handlers posted by handlers count too.
		ctx.Restart()
		for range 2 {
			ctx.Post(func() { ran++; ctx.Post(func() { ran++ }) })
		}
		check("Run with 2 handlers posting 1 each", runOn(t, ctx, ctx.Run), 4, 9)

		ctx.Restart()
		post(3)
		check("Poll with 3 ready", runOn(t, ctx, ctx.Poll), 3, 12)

		ctx.Restart()
		post(3)
		check("PollOne with 3 ready", runOn(t, ctx, ctx.PollOne), 1, 13)
		check("RunOne with 2 ready", runOn(t, ctx, ctx.RunOne), 1, 14)
		check("RunFor with 1 ready", runOn(t, ctx, func() int { return ctx.RunFor(waitLimit) }), 1, 15)
		if !ctx.Stopped() {
			t.Fatal("RunFor that ran out of work left the Context running")
		}

		// A completion is a handler run like any other.
		ctx.Restart()
		tm := iocontext.NewTimer(ctx)
		tm.ExpiresAfter(10 * time.Millisecond)
		tm.AsyncWait(func(error) { ran++ })
		post(1)
		check("Run with a timer wait and a post", runOn(t, ctx, ctx.Run), 2, 17)
	})
}

func TestCore_NothingRunsBeforeRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		me := goid()
		var ran, elsewhere atomic.Int32
		h := func() {
			ran.Add(1)
			if goid() != me {
				elsewhere.Add(1)
			}
		}
		for range 3 {
			ctx.Post(h)
		}
		ctx.Defer(h)
		done := make(chan struct{})
		go func() { // a goroutine that is not a runner
			defer close(done)
			ctx.Dispatch(h)
			ctx.Dispatch(h)
		}()
		recv(t, done, "the dispatching goroutine")
		tm := iocontext.NewTimer(ctx) // already expired
		tm.AsyncWait(func(error) { h() })
		time.Sleep(50 * time.Millisecond) // give a wrong implementation time to run something
		if n := ran.Load(); n != 0 {
			t.Fatalf("%d handlers ran before any run call", n)
		}
		if n := runOn(t, ctx, ctx.Run); n != 7 || ran.Load() != 7 {
			t.Fatalf("Run = %d, %d handlers ran; want 7, 7", n, ran.Load())
		}
		if e := elsewhere.Load(); e != 0 {
			t.Fatalf("%d handlers ran on a goroutine that was not inside Run", e)
		}
	})
}

func TestCore_RunOneRunsOne(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		var order []int
		for i := range 3 {
			ctx.Post(func() { order = append(order, i) })
		}
		ctx.Post(func() {
			order = append(order, 10)
			ctx.Post(func() { order = append(order, 11) })
		})
		for i, want := range [][]int{{0}, {0, 1}, {0, 1, 2}, {0, 1, 2, 10}, {0, 1, 2, 10, 11}} {
			if n := runOn(t, ctx, ctx.RunOne); n != 1 || !slices.Equal(order, want) {
				t.Fatalf("RunOne #%d = %d, order %v; want 1, %v", i+1, n, order, want)
			}
		}

		// RunOne blocks until a handler is ready.
		ctx.Restart()
		g := iocontext.NewWorkGuard(ctx)
		defer g.Reset()
		ret := make(chan int, 1)
		go func() { ret <- ctx.RunOne() }()
		quiet(t, ret, 100*time.Millisecond, "RunOne returned with no handler ready")
		var late atomic.Int32
		ctx.Post(func() { late.Add(1) })
		if n := recv(t, ret, "RunOne after a Post"); n != 1 || late.Load() != 1 {
			t.Fatalf("RunOne after a Post = %d, handler ran %d times; want 1, 1", n, late.Load())
		}

		// ... including a timer's completion.
		tm := iocontext.NewTimer(ctx)
		tm.ExpiresAfter(30 * time.Millisecond)
		exp := tm.Expiry()
		var firedAt time.Time
		var werr error = errors.New("not run")
		tm.AsyncWait(func(err error) { werr, firedAt = err, time.Now() })
		if n := runOn(t, ctx, ctx.RunOne); n != 1 || werr != nil || firedAt.Before(exp) {
			t.Fatalf("RunOne with a timer = %d, wait (%v) at %v before expiry; want 1, nil, not before",
				n, werr, exp.Sub(firedAt))
		}
		if ctx.Stopped() {
			t.Fatal("RunOne stopped a Context that still has work (a guard)")
		}
	})
}

func TestCore_PollNeverBlocks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		g := iocontext.NewWorkGuard(ctx)
		far := iocontext.NewTimer(ctx)
		far.ExpiresAfter(time.Hour)
		var farErr atomic.Value
		far.AsyncWait(func(err error) { farErr.Store(fmt.Sprint(err)) })

		poll := func(what string, fn func() int) int {
			t.Helper()
			var n int
			if p := within(t, waitLimit, what, func() { n = fn() }); p != nil {
				t.Fatalf("%s panicked: %v", what, p)
			}
			return n
		}
		// Outstanding work (a guard, a pending wait) but nothing ready: return 0 at once.
		if n := poll("Poll with nothing ready", ctx.Poll); n != 0 {
			t.Fatalf("Poll with nothing ready = %d; want 0", n)
		}
		if n := poll("PollOne with nothing ready", ctx.PollOne); n != 0 {
			t.Fatalf("PollOne with nothing ready = %d; want 0", n)
		}

		var ran atomic.Int32
		for range 3 {
			ctx.Post(func() { ran.Add(1) })
		}
		if n := poll("PollOne", ctx.PollOne); n != 1 || ran.Load() != 1 {
			t.Fatalf("PollOne with 3 ready = %d, ran %d; want 1, 1", n, ran.Load())
		}
		if n := poll("Poll", ctx.Poll); n != 2 || ran.Load() != 3 {
			t.Fatalf("Poll with 2 ready = %d, ran %d; want 2, 3", n, ran.Load())
		}
		if n := poll("Poll", ctx.Poll); n != 0 {
			t.Fatalf("Poll after draining = %d; want 0", n)
		}

		// A timer that has expired is ready: Poll collects it without waiting for more.
		due := iocontext.NewTimer(ctx)
		due.ExpiresAfter(10 * time.Millisecond)
		due.AsyncWait(func(err error) {
			if err == nil {
				ran.Add(1)
			}
		})
		time.Sleep(30 * time.Millisecond)
		if n := poll("Poll with an expired timer", ctx.Poll); n != 1 || ran.Load() != 4 {
			t.Fatalf("Poll after a timer expired = %d, ran %d; want 1, 4", n, ran.Load())
		}
		if far.Cancel() != 1 {
			t.Fatal("the far timer's wait was not pending any more")
		}
		g.Reset()
		if n := poll("Poll", ctx.Poll); n != 1 || farErr.Load() != fmt.Sprint(iocontext.ErrAborted) {
			t.Fatalf("Poll after Cancel = %d, wait got %v; want 1, %v", n, farErr.Load(), iocontext.ErrAborted)
		}
		if !ctx.Stopped() {
			t.Fatal("Poll that ran out of work left the Context running")
		}
	})
}

func TestCore_RunForBounded(t *testing.T) {
	const d = 50 * time.Millisecond
	const slack = 2 * time.Second
	forEachBackend(t, func(t *testing.T, be backend) {
		timed := func(t *testing.T, what string, fn func() int) int {
			t.Helper()
			var n int
			start := time.Now()
			if p := within(t, waitLimit, what, func() { n = fn() }); p != nil {
				t.Fatalf("%s panicked: %v", what, p)
			}
			if el := time.Since(start); el > d+slack {
				t.Fatalf("%s returned after %v; want by %v (+%v slack)", what, el, d, slack)
			}
			return n
		}

		t.Run("Idle", func(t *testing.T) {
			ctx := be.open(t)
			g := iocontext.NewWorkGuard(ctx)
			defer g.Reset()
			if n := timed(t, "RunFor with a guard and nothing to do", func() int { return ctx.RunFor(d) }); n != 0 {
				t.Fatalf("RunFor = %d; want 0", n)
			}
			if ctx.Stopped() {
				t.Fatal("RunFor that timed out stopped the Context")
			}
			// Not stopped: the next RunFor runs what is posted, without Restart.
			ran := 0
			ctx.Post(func() { ran++ })
			if n := timed(t, "RunFor", func() int { return ctx.RunFor(d) }); n != 1 || ran != 1 {
				t.Fatalf("RunFor after a timed-out RunFor = %d, ran %d; want 1, 1", n, ran)
			}
		})

		t.Run("PendingTimer", func(t *testing.T) {
			ctx := be.open(t)
			tm := iocontext.NewTimer(ctx)
			tm.ExpiresAfter(time.Hour)
			tm.AsyncWait(func(error) {})
			if n := timed(t, "RunFor with a pending wait", func() int { return ctx.RunFor(d) }); n != 0 {
				t.Fatalf("RunFor = %d; want 0", n)
			}
			if got := tm.Cancel(); got != 1 {
				t.Fatalf("the wait is no longer pending after RunFor (Cancel = %d)", got)
			}
			// A timer due inside the window does run.
			soon := iocontext.NewTimer(ctx)
			soon.ExpiresAfter(10 * time.Millisecond)
			var serr error = errors.New("not run")
			soon.AsyncWait(func(err error) { serr = err })
			if n := timed(t, "RunFor", func() int { return ctx.RunFor(d + time.Second) }); n != 2 || serr != nil {
				t.Fatalf("RunFor = %d, wait got %v; want 2 (the aborted wait and the timer), nil", n, serr)
			}
		})

		t.Run("EndlessReadyWork", func(t *testing.T) {
			ctx := be.open(t)
			var quit atomic.Bool
			t.Cleanup(func() { quit.Store(true) }) // before Close drains: let the chain end
			var ran atomic.Int64
			var again func()
			again = func() {
				ran.Add(1)
				if !quit.Load() {
					ctx.Post(again)
				}
			}
			ctx.Post(again)
			ctx.Post(again)
			var wg sync.WaitGroup
			ns := make([]int, 2)
			for i := range ns {
				wg.Add(1)
				go func() { // a second runner, also bounded
					defer wg.Done()
					start := time.Now()
					ns[i] = ctx.RunFor(d)
					if el := time.Since(start); el > d+slack {
						t.Errorf("RunFor on runner %d with endless work returned after %v", i, el)
					}
				}()
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(waitLimit):
				quit.Store(true)
				<-done
				t.Fatalf("RunFor(%v) with endless ready work did not return within %v", d, waitLimit)
			}
			quit.Store(true)
			if ns[0]+ns[1] == 0 || ran.Load() == 0 {
				t.Fatalf("RunFor ran %v handlers; want some", ns)
			}
			ctx.Restart()
			runOn(t, ctx, ctx.Run) // the two chains end
		})
	})
}

func TestCore_StopIsNonBlocking(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Run("FromHandler", func(t *testing.T) {
			ctx := be.open(t)
			var order []string
			ctx.Post(func() { ctx.Stop(); order = append(order, "A") })
			ctx.Post(func() { order = append(order, "B") })
			ctx.Post(func() { order = append(order, "C") })
			if n := runOn(t, ctx, ctx.Run); n != 1 || !slices.Equal(order, []string{"A"}) {
				t.Fatalf("Run with a handler calling Stop = %d, order %v; want 1, [A]", n, order)
			}
			if !ctx.Stopped() {
				t.Fatal("not Stopped after Stop")
			}
			if n := runOn(t, ctx, ctx.Run); n != 0 || len(order) != 1 {
				t.Fatalf("Run on a stopped Context = %d, order %v; want 0, [A]", n, order)
			}
			ctx.Restart()
			if n := runOn(t, ctx, ctx.Run); n != 2 || !slices.Equal(order, []string{"A", "B", "C"}) {
				t.Fatalf("Run after Restart = %d, order %v; want 2, [A B C] (queued handlers kept)", n, order)
			}
		})

		t.Run("FromOutside", func(t *testing.T) {
			ctx := be.open(t)
			g := iocontext.NewWorkGuard(ctx)
			defer g.Reset()
			const n = 3
			rets := make(chan int, n)
			for range n {
				go func() { rets <- ctx.Run() }()
			}
			entered, release := make(chan struct{}), make(chan struct{})
			ctx.Post(func() { close(entered); <-release })
			recv(t, entered, "the blocking handler")
			// Stop must not wait for the handler in flight nor for the run calls.
			if p := within(t, waitLimit, "Stop with a handler in flight", ctx.Stop); p != nil {
				t.Fatalf("Stop panicked: %v", p)
			}
			var late atomic.Int32
			ctx.Post(func() { late.Add(1) })
			ctx.Post(func() { late.Add(1) })
			total := 0
			for i := range n - 1 { // the idle runners return while the handler is still blocked
				total += recv(t, rets, fmt.Sprintf("idle run call %d after Stop", i+1))
			}
			close(release)
			total += recv(t, rets, "the busy run call after Stop")
			if total != 1 || late.Load() != 0 {
				t.Fatalf("run calls ran %d handlers, %d posted after Stop; want 1, 0", total, late.Load())
			}
			ctx.Restart()
			g.Reset()
			if got := runOn(t, ctx, ctx.Run); got != 2 || late.Load() != 2 {
				t.Fatalf("Run after Restart = %d, ran %d of the handlers posted after Stop; want 2, 2", got, late.Load())
			}
		})
	})
}

func TestCore_StoppedWhenOutOfWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		if ctx.Stopped() {
			t.Fatal("a new Context is stopped")
		}
		ctx.Stop()
		if !ctx.Stopped() {
			t.Fatal("not Stopped after Stop")
		}
		ctx.Restart()
		if ctx.Stopped() {
			t.Fatal("Stopped after Restart")
		}

		insideStopped := true
		ctx.Post(func() { insideStopped = ctx.Stopped() })
		runOn(t, ctx, ctx.Run)
		if insideStopped {
			t.Fatal("Stopped was true inside a handler that was still work")
		}
		if !ctx.Stopped() {
			t.Fatal("not Stopped after Run ran out of work")
		}

		ctx.Restart()
		tm := iocontext.NewTimer(ctx)
		tm.ExpiresAfter(10 * time.Millisecond)
		tm.AsyncWait(func(error) {})
		if n := runOn(t, ctx, ctx.Run); n != 1 || !ctx.Stopped() {
			t.Fatalf("Run with one timer wait = %d, Stopped %v; want 1, true", n, ctx.Stopped())
		}

		ctx.Restart()
		g := iocontext.NewWorkGuard(ctx)
		ctx.RunFor(20 * time.Millisecond)
		if ctx.Stopped() {
			t.Fatal("Stopped after RunFor timed out with a guard held")
		}
		g.Reset()
		if n := runOn(t, ctx, ctx.Run); n != 0 || !ctx.Stopped() {
			t.Fatalf("Run after the guard's Reset = %d, Stopped %v; want 0, true", n, ctx.Stopped())
		}
	})
}

func TestCore_RestartWhileRunningPanics(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		r := startRunners(t, ctx, 1)
		entered, release := make(chan struct{}), make(chan struct{})
		ctx.Post(func() { close(entered); <-release })
		recv(t, entered, "the blocking handler")
		p := catch(ctx.Restart)
		close(release)
		if p == nil {
			t.Fatal("Restart while a handler is running did not panic")
		}
		if msg := fmt.Sprint(p); !strings.Contains(msg, "Restart") {
			t.Errorf("Restart's panic does not say what is wrong: %q", msg)
		}

		// Idle inside Run (kept by the guard): still a run call in flight.
		done := make(chan struct{})
		ctx.Post(func() { close(done) })
		recv(t, done, "a handler after the blocking one")
		if p := catch(ctx.Restart); p == nil {
			t.Fatal("Restart while a runner idles inside Run did not panic")
		}

		// From a handler: the panic leaves Run like any handler panic.
		r.stop()
		ctx.Restart()
		if ctx.Stopped() {
			t.Fatal("Restart with no run call in flight did not restart")
		}
		ctx.Post(func() { ctx.Restart() })
		p = catch(func() { runOn(t, ctx, ctx.Run) })
		var pe *iocontext.PanicError
		if e, ok := p.(error); !ok || !errors.As(e, &pe) || !strings.Contains(fmt.Sprint(pe.Value), "Restart") {
			t.Fatalf("Run with a handler calling Restart panicked with %v; want a *PanicError about Restart", p)
		}
	})
}

func TestCore_ManyRunnersShareWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		r := startRunners(t, ctx, 4)
		const n = 2000
		var mu sync.Mutex
		byRunner := map[uint64]int{}
		var outside, handlers atomic.Int32
		var wg sync.WaitGroup
		record := func() {
			id := goid()
			if !r.isRunner(id) {
				outside.Add(1)
			}
			mu.Lock()
			byRunner[id]++
			mu.Unlock()
			handlers.Add(1)
		}
		for range n {
			wg.Add(1)
			ctx.Post(func() { defer wg.Done(); record() })
		}
		waitGroup(t, &wg, "the posted handlers")
		if o := outside.Load(); o != 0 {
			t.Fatalf("%d handlers ran on goroutines that are not inside Run", o)
		}
		t.Logf("handlers per runner: %v", byRunner)

		// A handler A that blocks until another one, B, has run: B must be run by
		// another runner of the pool, whether B was posted from outside (the shared
		// queue) or by A itself (A's runner's own queue, which idle runners steal from).
		blockedPair := func(what string, postBFromA bool) {
			t.Helper()
			bRan := make(chan uint64, 1)
			aDone := make(chan error, 1)
			b := func() { record(); bRan <- goid() }
			ctx.Post(func() {
				record()
				me := goid()
				if postBFromA {
					ctx.Post(b)
				}
				select {
				case id := <-bRan:
					if id == me {
						aDone <- errors.New("B ran on A's goroutine while A was running")
						return
					}
					aDone <- nil
				case <-time.After(5 * time.Second):
					aDone <- errors.New("B did not run on another runner within 5s while A was blocked")
				}
			})
			if !postBFromA {
				ctx.Post(b)
			}
			if err := recv(t, aDone, what); err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
		blockedPair("A and B posted from outside", false)
		blockedPair("B posted by A", true)

		r.stop()
		sum := 0
		for _, c := range r.counts {
			sum += c
		}
		if want := int(handlers.Load()); sum != want {
			t.Fatalf("the runners' Run calls returned %v (sum %d); %d handlers ran", r.counts, sum, want)
		}
	})
}

// waitGroup waits for wg, failing after waitLimit.
func waitGroup(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
	}
}

func TestCore_PendingOpIsWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Run("TimerWait", func(t *testing.T) {
			ctx := be.open(t)
			tm := iocontext.NewTimer(ctx)
			tm.ExpiresAfter(50 * time.Millisecond)
			exp := tm.Expiry()
			var err error = errors.New("not run")
			tm.AsyncWait(func(e error) { err = e })
			if n := runOn(t, ctx, ctx.Run); n != 1 || err != nil {
				t.Fatalf("Run with a pending wait = %d, wait got %v; want 1, nil", n, err)
			}
			if time.Now().Before(exp) {
				t.Fatal("Run returned before the wait's expiry")
			}
		})

		t.Run("Read", func(t *testing.T) {
			ctx := be.open(t)
			s, peer := transports[0].pair(t, ctx)
			res, h := rwHandler(t, "read")
			s.AsyncReadSome(make([]byte, 8), h)
			ret := make(chan int, 1)
			go func() { ret <- ctx.Run() }()
			quiet(t, ret, 100*time.Millisecond, "Run returned while a read was pending")
			peer.Write([]byte("x"))
			if n := recv(t, ret, "Run"); n != 1 {
				t.Fatalf("Run = %d; want 1", n)
			}
			if r := recv(t, res, "the read"); r.n != 1 || r.err != nil {
				t.Fatalf("read = %v; want (1, nil)", r)
			}
		})

		t.Run("Accept", func(t *testing.T) {
			ctx := be.open(t)
			ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var aerr error = errors.New("not run")
			ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
				aerr = err
				if c != nil {
					c.Close()
				}
			})
			ret := make(chan int, 1)
			go func() { ret <- ctx.Run() }()
			quiet(t, ret, 100*time.Millisecond, "Run returned while an accept was pending")
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if n := recv(t, ret, "Run"); n != 1 || aerr != nil {
				t.Fatalf("Run = %d, accept got %v; want 1, nil", n, aerr)
			}
		})

		t.Run("RegistrationIsNotWork", func(t *testing.T) {
			ctx := be.open(t)
			transports[0].pair(t, ctx) // an open, registered stream with no op
			ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			_ = iocontext.NewTimer(ctx) // a timer with no wait
			var n int
			within(t, waitLimit, "Run with only open objects", func() { n = ctx.Run() })
			if n != 0 || !ctx.Stopped() {
				t.Fatalf("Run with open objects but no op = %d, Stopped %v; want 0, true", n, ctx.Stopped())
			}
		})
	})
}

func TestCore_PostedHandlerIsWork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Run("OneRunner", func(t *testing.T) {
			ctx := be.open(t)
			var order []string
			ctx.Post(func() {
				order = append(order, "A")
				ctx.Post(func() { order = append(order, "B") }) // A's last act: work never hits 0
			})
			if n := runOn(t, ctx, ctx.Run); n != 2 || !slices.Equal(order, []string{"A", "B"}) {
				t.Fatalf("Run = %d, order %v; want 2, [A B]", n, order)
			}
		})

		t.Run("TwoRunners", func(t *testing.T) {
			ctx := be.open(t)
			entered, release := make(chan struct{}), make(chan struct{})
			var bRan atomic.Bool
			ctx.Post(func() {
				close(entered)
				<-release
				ctx.Post(func() { bRan.Store(true) })
			})
			rets := make(chan int, 2)
			for range 2 {
				go func() { rets <- ctx.Run() }()
			}
			recv(t, entered, "A")
			// A is work until it returns: neither run call may return meanwhile.
			quiet(t, rets, 100*time.Millisecond, "a Run returned while a posted handler was still running")
			close(release)
			sum := recv(t, rets, "a Run") + recv(t, rets, "the other Run")
			if sum != 2 || !bRan.Load() {
				t.Fatalf("Run calls ran %d handlers, B ran %v; want 2, true", sum, bRan.Load())
			}
		})
	})
}

func TestCore_WorkGuard(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		g := iocontext.NewWorkGuard(ctx)
		if !g.Owns() {
			t.Fatal("a new guard does not own work")
		}
		ret := make(chan int, 1)
		go func() { ret <- ctx.Run() }()
		quiet(t, ret, 100*time.Millisecond, "an idle Run returned while a guard was held")
		var ran atomic.Int32
		ctx.Post(func() { ran.Add(1) })
		quiet(t, ret, 50*time.Millisecond, "Run returned after its handlers with a guard held")
		g.Reset()
		if g.Owns() {
			t.Fatal("the guard still owns work after Reset")
		}
		if n := recv(t, ret, "Run after Reset"); n != 1 || ran.Load() != 1 {
			t.Fatalf("Run = %d, ran %d; want 1, 1", n, ran.Load())
		}

		// A second Reset releases nothing: g2's unit keeps Run going.
		ctx.Restart()
		g1, g2 := iocontext.NewWorkGuard(ctx), iocontext.NewWorkGuard(ctx)
		g1.Reset()
		g1.Reset()
		g.Reset() // the first guard again
		go func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("Run panicked: %v", p)
					ret <- -1
				}
			}()
			ret <- ctx.Run()
		}()
		quiet(t, ret, 100*time.Millisecond, "Run returned while a guard was held (a second Reset released work)")
		g2.Reset()
		if n := recv(t, ret, "Run after the last Reset"); n != 0 {
			t.Fatalf("Run = %d; want 0", n)
		}

		// Reset from a handler ends Run once that handler is done.
		ctx.Restart()
		g3 := iocontext.NewWorkGuard(ctx)
		ctx.Post(func() { g3.Reset(); g3.Reset() })
		if n := runOn(t, ctx, ctx.Run); n != 1 || !ctx.Stopped() {
			t.Fatalf("Run with a handler resetting the guard = %d, Stopped %v; want 1, true", n, ctx.Stopped())
		}
	})
}

// ---- core — Post, Dispatch, Defer

func TestCore_PostNeverInline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		ran := 0
		ctx.Post(func() { ran++ })
		if ran != 0 {
			t.Fatal("Post from outside ran the handler before returning")
		}
		runOn(t, ctx, ctx.Run)

		ctx.Restart()
		var order []string
		ctx.Post(func() {
			order = append(order, "A:before")
			ctx.Post(func() { order = append(order, "B") })
			order = append(order, "A:after")
		})
		if n := runOn(t, ctx, ctx.Run); n != 2 || !slices.Equal(order, []string{"A:before", "A:after", "B"}) {
			t.Fatalf("Run = %d, order %v; want 2, [A:before A:after B]", n, order)
		}

		// Several runners: B may run on another runner at once, but never inside Post.
		ctx.Restart()
		startRunners(t, ctx, 2)
		var inline atomic.Int32
		var wg sync.WaitGroup
		for range 200 {
			wg.Add(2)
			ctx.Post(func() {
				defer wg.Done()
				me := goid()
				var posting atomic.Bool
				posting.Store(true)
				ctx.Post(func() {
					defer wg.Done()
					if posting.Load() && goid() == me {
						inline.Add(1)
					}
				})
				posting.Store(false)
			})
		}
		waitGroup(t, &wg, "the handlers")
		if n := inline.Load(); n != 0 {
			t.Fatalf("Post from a handler ran the new handler inline %d times", n)
		}
	})
}

func TestCore_DispatchInlineFromRunner(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		var log []string
		ctx.Post(func() {
			me := goid()
			ctx.Dispatch(func() {
				log = append(log, "B")
				if goid() != me {
					t.Error("the dispatched handler ran on another goroutine")
				}
				ctx.Dispatch(func() { log = append(log, "C") }) // nested: still inline
			})
			log = append(log, "A:after")
		})
		if n := runOn(t, ctx, ctx.Run); n != 1 || !slices.Equal(log, []string{"B", "C", "A:after"}) {
			t.Fatalf("Run = %d, order %v; want 1 (inline handlers are part of A), [B C A:after]", n, log)
		}

		// From a goroutine that is not a runner: like Post.
		ctx.Restart()
		var ran atomic.Int32
		ctx.Dispatch(func() { ran.Add(1) })
		if ran.Load() != 0 {
			t.Fatal("Dispatch from a non-runner goroutine ran the handler inline")
		}
		// From a goroutine started by a handler: not a runner either.
		var fromGo atomic.Bool
		ctx.Post(func() {
			done := make(chan bool)
			go func() {
				ctx.Dispatch(func() { ran.Add(1); fromGo.Store(true) })
				done <- fromGo.Load()
			}()
			if <-done {
				t.Error("Dispatch from a goroutine started by a handler ran inline")
			}
		})
		if n := runOn(t, ctx, ctx.Run); n != 3 || ran.Load() != 2 {
			t.Fatalf("Run = %d, dispatched handlers ran %d; want 3, 2", n, ran.Load())
		}

		// From a handler of another Context: like Post.
		ctx.Restart()
		other := be.open(t)
		var fromOther atomic.Bool
		other.Post(func() {
			ctx.Dispatch(func() { fromOther.Store(true) })
			if fromOther.Load() {
				t.Error("Dispatch from a handler of another Context ran inline")
			}
		})
		runOn(t, other, other.Run)
		if n := runOn(t, ctx, ctx.Run); n != 1 || !fromOther.Load() {
			t.Fatalf("Run = %d, handler dispatched from the other Context ran %v; want 1, true", n, fromOther.Load())
		}

		// With several runners, from a handler: inline, on the same goroutine.
		ctx.Restart()
		startRunners(t, ctx, 2)
		errs := make(chan error, 1)
		ctx.Post(func() {
			me := goid()
			var id uint64
			ctx.Dispatch(func() { id = goid() })
			if id != me {
				errs <- fmt.Errorf("Dispatch from a handler with 2 runners: ran on %d, want inline on %d", id, me)
				return
			}
			errs <- nil
		})
		if err := recv(t, errs, "the dispatching handler"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCore_DeferNeverInline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		ran := 0
		ctx.Defer(func() { ran++ })
		if ran != 0 {
			t.Fatal("Defer from outside ran the handler before returning")
		}
		runOn(t, ctx, ctx.Run)

		ctx.Restart()
		var order []string
		var aG, bG uint64
		ctx.Post(func() {
			aG = goid()
			order = append(order, "A:before")
			ctx.Defer(func() { bG = goid(); order = append(order, "B") })
			order = append(order, "A:after")
		})
		if n := runOn(t, ctx, ctx.Run); n != 2 || !slices.Equal(order, []string{"A:before", "A:after", "B"}) {
			t.Fatalf("Run = %d, order %v; want 2, [A:before A:after B]", n, order)
		}
		if aG != bG {
			t.Fatal("with one runner the continuation ran on another goroutine")
		}

		ctx.Restart()
		startRunners(t, ctx, 2)
		var inline, same atomic.Int32
		var wg sync.WaitGroup
		const n = 200
		for range n {
			wg.Add(2)
			ctx.Post(func() {
				defer wg.Done()
				me := goid()
				var deferring atomic.Bool
				deferring.Store(true)
				ctx.Defer(func() {
					defer wg.Done()
					if goid() == me {
						same.Add(1)
						if deferring.Load() {
							inline.Add(1)
						}
					}
				})
				deferring.Store(false)
			})
		}
		waitGroup(t, &wg, "the handlers")
		if c := inline.Load(); c != 0 {
			t.Fatalf("Defer from a handler ran the continuation inline %d times", c)
		}
		t.Logf("continuations on the deferring runner: %d of %d", same.Load(), n)
	})
}

func TestCore_FIFOSingleRunner(t *testing.T) {
	checkOrder := func(t *testing.T, what string, got []int, n int) {
		t.Helper()
		if len(got) != n {
			t.Fatalf("%s: %d handlers ran; want %d", what, len(got), n)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("%s: handler %d ran at position %d (order %v...)", what, v, i, got[max(0, i-3):min(len(got), i+4)])
			}
		}
	}
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Run("PostedBeforeRun", func(t *testing.T) {
			ctx := be.open(t)
			const n = 10000
			var got []int
			for i := range n {
				ctx.Post(func() { got = append(got, i) })
			}
			runOn(t, ctx, ctx.Run)
			checkOrder(t, "posted before Run", got, n)
		})

		t.Run("PostedWhileRunning", func(t *testing.T) {
			ctx := be.open(t)
			startRunners(t, ctx, 1)
			const n = 10000
			var got []int
			done := make(chan struct{})
			for i := range n {
				ctx.Post(func() {
					got = append(got, i)
					if i == n-1 {
						close(done)
					}
				})
			}
			recv(t, done, "the last handler")
			checkOrder(t, "posted to a running Context", got, n)
		})

		t.Run("PostedFromHandler", func(t *testing.T) {
			ctx := be.open(t)
			const n = 1000
			var got []int
			ctx.Post(func() {
				for i := range n {
					ctx.Post(func() { got = append(got, i) })
				}
			})
			runOn(t, ctx, ctx.Run)
			checkOrder(t, "posted from a handler", got, n)
		})

		t.Run("AcrossStopAndRunOne", func(t *testing.T) {
			ctx := be.open(t)
			const n = 100
			var got []int
			for i := range n {
				ctx.Post(func() {
					got = append(got, i)
					if i == 10 || i == 50 {
						ctx.Stop()
					}
				})
			}
			runOn(t, ctx, ctx.Run) // 0..10
			ctx.Restart()
			runOn(t, ctx, ctx.RunOne) // 11
			runOn(t, ctx, ctx.PollOne)
			runOn(t, ctx, ctx.Run) // ..50
			ctx.Restart()
			runOn(t, ctx, ctx.Poll)
			checkOrder(t, "across Stop, RunOne and PollOne", got, n)
		})
	})
}

// ---- core — panics and shutdown

// panickingHandler panics with v; its name must show in PanicError.Stack.
//
//go:noinline
func panickingHandler(v any) { panic(v) }

func TestCore_PanicPropagatesOutOfRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Run("ValueStackAndAccounting", func(t *testing.T) {
			ctx := be.open(t)
			boom := errors.New("boom")
			ctx.Post(func() { panickingHandler(boom) })
			after := 0
			ctx.Post(func() { after++ })
			p := catch(func() { ctx.Run() })
			pe, ok := p.(*iocontext.PanicError)
			if !ok {
				t.Fatalf("Run panicked with %T %v; want *iocontext.PanicError", p, p)
			}
			if pe.Value != boom || !errors.Is(pe, boom) {
				t.Errorf("PanicError.Value = %v; want the handler's value (and errors.Is to match it)", pe.Value)
			}
			if !bytes.Contains(pe.Stack, []byte("panickingHandler")) {
				t.Errorf("PanicError.Stack does not show the handler:\n%s", pe.Stack)
			}
			if !strings.Contains(pe.Error(), "boom") {
				t.Errorf("PanicError.Error() = %q; want the value in it", pe.Error())
			}
			if after != 0 {
				t.Error("the run call went on running handlers after one panicked")
			}
			// The panicking handler's unit of work is settled: Run ends when the rest is done.
			if n := runOn(t, ctx, ctx.Run); n != 1 || after != 1 || !ctx.Stopped() {
				t.Fatalf("Run after the panic = %d, ran %d, Stopped %v; want 1, 1, true", n, after, ctx.Stopped())
			}

			ctx.Restart()
			ctx.Post(func() { panickingHandler(42) })
			p = catch(func() { ctx.Run() })
			if pe, ok := p.(*iocontext.PanicError); !ok || pe.Value != 42 || pe.Unwrap() != nil {
				t.Fatalf("Run panicked with %v; want a *PanicError with Value 42", p)
			}
			if n := runOn(t, ctx, ctx.Run); n != 0 || !ctx.Stopped() {
				t.Fatalf("Run after the last handler panicked = %d, Stopped %v; want 0, true", n, ctx.Stopped())
			}
		})

		t.Run("FromCompletionHandlers", func(t *testing.T) {
			ctx := be.open(t)
			tm := iocontext.NewTimer(ctx)
			tm.AsyncWait(func(error) { panickingHandler("timer") })
			s, peer := transports[0].pair(t, ctx)
			peer.Write([]byte("ab"))
			buf := make([]byte, 1)
			s.AsyncRead(buf, func(int, error) { panickingHandler("read") })
			seen := map[any]bool{}
			for range 2 {
				p := catch(func() { runOn(t, ctx, ctx.Run) })
				pe, ok := p.(*iocontext.PanicError)
				if !ok {
					t.Fatalf("Run panicked with %v; want a *PanicError", p)
				}
				seen[pe.Value] = true
			}
			if !seen["timer"] || !seen["read"] {
				t.Fatalf("panics seen: %v; want timer and read", seen)
			}
			// The read's state was released despite the panic: the next read works.
			ctx.Restart() // the panics settled the last work: the Context ran out of it
			res, h := rwHandler(t, "read after a panicking read handler")
			s.AsyncRead(buf, h)
			if n := runOn(t, ctx, ctx.Run); n != 1 {
				t.Fatalf("Run = %d; want 1", n)
			}
			if r := <-res; r.n != 1 || r.err != nil || buf[0] != 'b' {
				t.Fatalf("read after the panic = %v %q; want (1, nil) \"b\"", r, buf)
			}
		})

		t.Run("OtherRunnersGoOn", func(t *testing.T) {
			ctx := be.open(t)
			g := iocontext.NewWorkGuard(ctx)
			defer g.Reset()
			type out struct {
				n int
				p any
			}
			outs := make(chan out, 2)
			for range 2 {
				go func() {
					var o out
					defer func() { o.p = recover(); outs <- o }()
					o.n = ctx.Run()
				}()
			}
			entered, release := make(chan struct{}), make(chan struct{})
			ctx.Post(func() { close(entered); <-release })
			recv(t, entered, "the blocking handler")
			ctx.Post(func() { panickingHandler("boom2") }) // the other runner runs it
			first := recv(t, outs, "the run call of the panicking handler")
			if pe, ok := first.p.(*iocontext.PanicError); !ok || pe.Value != "boom2" {
				t.Fatalf("first run call to return: %+v; want a panic with boom2", first)
			}
			close(release)
			yDone := make(chan struct{})
			ctx.Post(func() { close(yDone) })
			recv(t, yDone, "a handler after the panic (the surviving runner)")
			g.Reset()
			second := recv(t, outs, "the surviving run call")
			if second.p != nil || second.n != 2 {
				t.Fatalf("surviving run call: %+v; want no panic and 2 handlers", second)
			}
		})
	})
}

func TestCore_RunResumesAfterPanic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		count := 0
		inc := func() { count++ }
		ctx.Post(func() { panic("one") })
		ctx.Post(inc)
		ctx.Post(inc)
		ctx.Post(func() { panic("two") })
		ctx.Post(inc)
		var panics []any
		calls := 0
		for calls < 10 {
			calls++
			p := catch(func() { runOn(t, ctx, ctx.Run) })
			if p == nil {
				break
			}
			pe, ok := p.(*iocontext.PanicError)
			if !ok {
				t.Fatalf("Run panicked with %v; want a *PanicError", p)
			}
			panics = append(panics, pe.Value)
		}
		if count != 3 || !slices.Equal(panics, []any{"one", "two"}) || calls != 3 || !ctx.Stopped() {
			t.Fatalf("count %d, panics %v, Run calls %d, Stopped %v; want 3, [one two], 3, true",
				count, panics, calls, ctx.Stopped())
		}
	})
}

func TestCore_ShutdownAbortsEverything(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, withRunners := range []bool{false, true} {
			t.Run(map[bool]string{false: "Idle", true: "Running"}[withRunners], func(t *testing.T) {
				shutdownAbortsEverything(t, be, withRunners)
			})
		}
	})
}

func shutdownAbortsEverything(t *testing.T, be backend, withRunners bool) {
	// Warm Go's own poller up before taking the descriptor and goroutine baselines.
	if ln, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	dir := sockDir(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	before := openFDs()

	ctx := be.open(t)
	var r *runners
	if withRunners {
		r = startRunners(t, ctx, 2)
	}

	type call struct {
		mu    sync.Mutex
		calls int
		n     int
		err   error
	}
	var calls []*call
	track := func() *call { c := &call{}; calls = append(calls, c); return c }
	rw := func(c *call) func(int, error) {
		return func(n int, err error) {
			c.mu.Lock()
			c.calls++
			c.n, c.err = n, err
			c.mu.Unlock()
		}
	}

	// A pending accept on a TCP and on a Unix listener.
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acc := track()
	ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
		if c != nil {
			c.Close()
		}
		rw(acc)(0, err)
	})
	uln, err := iocontext.ListenUnix(ctx, filepath.Join(dir, "l.sock"))
	if err != nil {
		t.Fatal(err)
	}
	uacc := track()
	uln.AsyncAccept(func(c *iocontext.UnixConn, err error) {
		if c != nil {
			c.Close()
		}
		rw(uacc)(0, err)
	})

	// A stream with a pending read and a pending (partly done) write.
	pl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := iocontext.DialTCP(ctx, "tcp4", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := pl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	rd, wr := track(), track()
	s.AsyncReadSome(make([]byte, 16), rw(rd))
	big := make([]byte, 32<<20)
	s.AsyncWrite(big, rw(wr))

	// A Unix stream whose aborted read handler starts another read.
	upl, err := net.Listen("unix", filepath.Join(dir, "p.sock"))
	if err != nil {
		t.Fatal(err)
	}
	us, err := iocontext.DialUnix(ctx, upl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	upeer, err := upl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	urd, urd2 := track(), track()
	us.AsyncReadSome(make([]byte, 16), func(n int, err error) {
		rw(urd)(n, err)
		us.AsyncReadSome(make([]byte, 16), rw(urd2))
	})

	// Timer waits.
	tm1, tm2 := iocontext.NewTimer(ctx), iocontext.NewTimer(ctx)
	tm1.ExpiresAfter(time.Hour)
	tm2.ExpiresAfter(2 * time.Hour)
	var waits []*call
	for i := range 4 {
		c := track()
		waits = append(waits, c)
		tm := tm1
		if i == 3 {
			tm = tm2
		}
		tm.AsyncWait(func(err error) { rw(c)(0, err) })
	}

	// A posted handler.
	posted := track()
	ctx.Post(func() { rw(posted)(0, nil) })

	if withRunners {
		time.Sleep(20 * time.Millisecond) // let the runners reach their idle wait
	}
	if p := within(t, waitLimit, "Context.Close", func() {
		if err := ctx.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	}); p != nil {
		t.Fatalf("Close panicked: %v", p)
	}

	for i, c := range calls {
		if c.calls != 1 {
			t.Errorf("handler %d ran %d times; want exactly once", i, c.calls)
		}
	}
	for name, c := range map[string]*call{"TCP accept": acc, "Unix accept": uacc, "read": rd, "write": wr, "Unix read": urd} {
		if !isAbortedClosed(c.err) {
			t.Errorf("%s pending at Close got %v; want ErrAborted and net.ErrClosed", name, c.err)
		}
	}
	if wr.n >= len(big) {
		t.Errorf("the write aborted at Close reports %d bytes of %d", wr.n, len(big))
	}
	if !errors.Is(urd2.err, net.ErrClosed) {
		t.Errorf("read started by an aborted handler during Close got %v; want net.ErrClosed", urd2.err)
	}
	for i, c := range waits {
		if !errors.Is(c.err, iocontext.ErrAborted) {
			t.Errorf("timer wait %d pending at Close got %v; want ErrAborted", i, c.err)
		}
	}
	if posted.err != nil {
		t.Errorf("posted handler: %v", posted.err)
	}
	if err := ctx.Close(); !errors.Is(err, iocontext.ErrContextClosed) {
		t.Errorf("second Close = %v; want ErrContextClosed", err)
	}
	if r != nil {
		r.stop()
	}

	// The peers see the streams closed: the descriptors were released.
	peer.SetReadDeadline(time.Now().Add(waitLimit))
	if n, err := io.Copy(io.Discard, peer); err != nil || n != int64(wr.n) {
		t.Errorf("peer read %d bytes then %v; want the %d bytes written, then EOF", n, err, wr.n)
	}
	upeer.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := upeer.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Unix peer read = %v; want EOF", err)
	}
	peer.Close()
	upeer.Close()
	pl.Close()
	upl.Close()
	if before != nil {
		if leaked := newFDs(before, openFDs()); len(leaked) > 0 {
			t.Errorf("descriptors still open after Close: %v", leaked)
		}
	}
}

// TestCore_CloseRefusesNewObjects: not a SEMANTICS.md item; Context.Close's and
// ErrContextClosed's documentation: objects cannot be created on a closed Context.
func TestCore_CloseRefusesNewObjects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		if err := ctx.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0"); !errors.Is(err, iocontext.ErrContextClosed) {
			t.Errorf("ListenTCP on a closed Context = %v; want ErrContextClosed", err)
		}
		if _, err := iocontext.ListenUnix(ctx, filepath.Join(sockDir(t), "x.sock")); !errors.Is(err, iocontext.ErrContextClosed) {
			t.Errorf("ListenUnix on a closed Context = %v; want ErrContextClosed", err)
		}
		pl := transports[0].peerListener(t)
		if c, err := iocontext.DialTCP(ctx, "tcp4", pl.Addr().String()); !errors.Is(err, iocontext.ErrContextClosed) {
			if c != nil {
				c.Close()
			}
			t.Errorf("DialTCP on a closed Context = %v; want ErrContextClosed", err)
		}
	})
}
