package iocontext_test

// SEMANTICS.md, "timers".

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
)

func TestTimers_TimerFires(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		type fire struct {
			name string
			at   time.Time
			exp  time.Time
			err  error
		}
		var fires []fire
		wait := func(name string, tm *iocontext.Timer) {
			tm.AsyncWait(func(err error) { fires = append(fires, fire{name, time.Now(), tm.Expiry(), err}) })
		}
		late := iocontext.NewTimer(ctx)
		late.ExpiresAfter(60 * time.Millisecond)
		for range 3 {
			wait("late", late)
		}
		early := iocontext.NewTimer(ctx)
		early.ExpiresAt(time.Now().Add(30 * time.Millisecond))
		wait("early", early)
		if n := runOn(t, ctx, ctx.Run); n != 4 {
			t.Fatalf("Run = %d; want 4 waits", n)
		}
		for i, f := range fires {
			if f.err != nil {
				t.Errorf("wait %d (%s) = %v; want nil", i, f.name, f.err)
			}
			if f.at.Before(f.exp) {
				t.Errorf("wait %d (%s) completed %v before its expiry", i, f.name, f.exp.Sub(f.at))
			}
		}
		if fires[0].name != "early" {
			t.Errorf("the timer due first completed at position %v", fires)
		}

		// Never before: a timer due in an hour does not fire during a short RunFor.
		ctx.Restart()
		far := iocontext.NewTimer(ctx)
		far.ExpiresAfter(time.Hour)
		var farRan atomic.Bool
		far.AsyncWait(func(error) { farRan.Store(true) })
		if n := runOn(t, ctx, func() int { return ctx.RunFor(50 * time.Millisecond) }); n != 0 || farRan.Load() {
			t.Fatalf("RunFor(50ms) with a wait due in an hour ran %d handlers", n)
		}
		far.Cancel()
		runOn(t, ctx, ctx.Run)

		// Several runners, many timers: none completes before its expiry.
		ctx.Restart()
		startRunners(t, ctx, 2)
		const n = 200
		var early2 atomic.Int32
		var wg sync.WaitGroup
		rng := rand.New(rand.NewPCG(7, 7))
		for range n {
			tm := iocontext.NewTimer(ctx)
			tm.ExpiresAfter(time.Duration(rng.IntN(100)) * time.Millisecond)
			exp := tm.Expiry()
			wg.Add(1)
			tm.AsyncWait(func(err error) {
				defer wg.Done()
				if err != nil || time.Now().Before(exp) {
					early2.Add(1)
				}
			})
		}
		waitGroup(t, &wg, "the timers")
		if e := early2.Load(); e != 0 {
			t.Fatalf("%d of %d waits completed before their expiry or with an error", e, n)
		}
	})
}

func TestTimers_TimerCancelCounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		tm := iocontext.NewTimer(ctx)
		tm.ExpiresAfter(time.Hour)
		exp := tm.Expiry()
		var errs []error
		for range 3 {
			tm.AsyncWait(func(err error) { errs = append(errs, err) })
		}
		if n := tm.Cancel(); n != 3 {
			t.Fatalf("Cancel with 3 waits = %d; want 3", n)
		}
		if len(errs) != 0 {
			t.Fatal("Cancel ran the aborted handlers inside the call")
		}
		if !tm.Expiry().Equal(exp) {
			t.Fatalf("Cancel changed the expiry from %v to %v", exp, tm.Expiry())
		}
		if n := tm.Cancel(); n != 0 {
			t.Fatalf("second Cancel = %d; want 0", n)
		}
		if n := runOn(t, ctx, ctx.Run); n != 3 {
			t.Fatalf("Run = %d; want the 3 aborted waits", n)
		}
		for i, err := range errs {
			if !errors.Is(err, iocontext.ErrAborted) {
				t.Errorf("cancelled wait %d = %v; want ErrAborted", i, err)
			}
		}

		// The expiry stays: a wait started after Cancel waits for it.
		ctx.Restart()
		tm2 := iocontext.NewTimer(ctx)
		tm2.ExpiresAfter(40 * time.Millisecond)
		exp2 := tm2.Expiry()
		errs = nil
		tm2.AsyncWait(func(err error) { errs = append(errs, err) })
		tm2.AsyncWait(func(err error) { errs = append(errs, err) })
		if n := tm2.Cancel(); n != 2 {
			t.Fatalf("Cancel with 2 waits = %d; want 2", n)
		}
		var at time.Time
		tm2.AsyncWait(func(err error) { errs = append(errs, err); at = time.Now() })
		if n := runOn(t, ctx, ctx.Run); n != 3 || len(errs) != 3 {
			t.Fatalf("Run = %d with %d handlers; want 3", n, len(errs))
		}
		if !errors.Is(errs[0], iocontext.ErrAborted) || !errors.Is(errs[1], iocontext.ErrAborted) || errs[2] != nil {
			t.Fatalf("waits = %v; want ErrAborted, ErrAborted, nil", errs)
		}
		if at.Before(exp2) {
			t.Fatal("the wait after Cancel completed before the (unchanged) expiry")
		}

		// From a handler: aborted handlers are posted, not run inside Cancel.
		ctx.Restart()
		tm3 := iocontext.NewTimer(ctx)
		tm3.ExpiresAfter(time.Hour)
		var cancelling bool
		inline := false
		tm3.AsyncWait(func(error) { inline = inline || cancelling })
		count := -1
		ctx.Post(func() { cancelling = true; count = tm3.Cancel(); cancelling = false })
		runOn(t, ctx, ctx.Run)
		if count != 1 || inline {
			t.Fatalf("Cancel from a handler = %d, aborted handler ran inline %v; want 1, false", count, inline)
		}
	})
}

func TestTimers_ResetCancels(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		tm := iocontext.NewTimer(ctx)
		if n := tm.ExpiresAfter(time.Hour); n != 0 {
			t.Fatalf("ExpiresAfter on an idle timer = %d; want 0", n)
		}
		var errs []error
		rec := func(err error) { errs = append(errs, err) }
		tm.AsyncWait(rec)
		tm.AsyncWait(rec)
		before := time.Now()
		if n := tm.ExpiresAfter(40 * time.Millisecond); n != 2 {
			t.Fatalf("ExpiresAfter with 2 waits = %d; want 2", n)
		}
		after := time.Now()
		exp := tm.Expiry()
		if exp.Before(before.Add(40*time.Millisecond)) || exp.After(after.Add(40*time.Millisecond)) {
			t.Fatalf("expiry after ExpiresAfter(40ms) is %v from the call; want 40ms", exp.Sub(before))
		}
		if len(errs) != 0 {
			t.Fatal("ExpiresAfter ran the aborted handlers inside the call")
		}
		var at time.Time
		tm.AsyncWait(func(err error) { rec(err); at = time.Now() })
		if n := runOn(t, ctx, ctx.Run); n != 3 {
			t.Fatalf("Run = %d; want 3", n)
		}
		if !errors.Is(errs[0], iocontext.ErrAborted) || !errors.Is(errs[1], iocontext.ErrAborted) || errs[2] != nil {
			t.Fatalf("waits = %v; want ErrAborted, ErrAborted, nil", errs)
		}
		if at.Before(exp) {
			t.Fatal("the wait after the reset completed before the new expiry")
		}

		ctx.Restart()
		errs = nil
		for range 3 {
			tm.AsyncWait(rec) // the timer has expired: these complete with nil ...
		}
		runOn(t, ctx, ctx.Run)
		ctx.Restart()
		tm.ExpiresAfter(time.Hour)
		for range 3 {
			tm.AsyncWait(rec)
		}
		at2 := time.Now().Add(2 * time.Hour)
		if n := tm.ExpiresAt(at2); n != 3 { // ... and these are aborted
			t.Fatalf("ExpiresAt with 3 waits = %d; want 3", n)
		}
		if !tm.Expiry().Equal(at2) {
			t.Fatalf("Expiry after ExpiresAt(%v) = %v", at2, tm.Expiry())
		}
		runOn(t, ctx, ctx.Run)
		if len(errs) != 6 {
			t.Fatalf("%d handlers ran; want 6", len(errs))
		}
		for i, err := range errs {
			if want := i >= 3; errors.Is(err, iocontext.ErrAborted) != want || !want && err != nil {
				t.Fatalf("waits = %v; want 3 nil then 3 ErrAborted", errs)
			}
		}
	})
}

func TestTimers_ExpiredTimerTooLateToCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		// Two timers with the same expiry: when it passes both are expired together
		// and their handlers queued in arming order. The first one's handler cancels
		// (and resets) the second, whose handlers are queued but have not run.
		at := time.Now().Add(30 * time.Millisecond)
		first, second := iocontext.NewTimer(ctx), iocontext.NewTimer(ctx)
		first.ExpiresAt(at)
		second.ExpiresAt(at)
		cancelled, reset := -1, -1
		var errs []error
		first.AsyncWait(func(err error) {
			if err != nil {
				t.Errorf("first wait = %v", err)
			}
			cancelled = second.Cancel()
			reset = second.ExpiresAfter(time.Hour)
		})
		second.AsyncWait(func(err error) { errs = append(errs, err) })
		second.AsyncWait(func(err error) { errs = append(errs, err) })
		if n := runOn(t, ctx, ctx.Run); n != 3 {
			t.Fatalf("Run = %d; want 3", n)
		}
		if cancelled != 0 || reset != 0 {
			t.Fatalf("Cancel / ExpiresAfter on an expired timer = %d / %d; want 0 / 0", cancelled, reset)
		}
		if len(errs) != 2 || errs[0] != nil || errs[1] != nil {
			t.Fatalf("the expired timer's queued waits = %v; want nil, nil", errs)
		}

		// A wait on an already expired timer: Cancel before it ran returns 0 too.
		ctx.Restart()
		tm := iocontext.NewTimer(ctx)
		errs = nil
		tm.AsyncWait(func(err error) { errs = append(errs, err) })
		if n := tm.Cancel(); n != 0 {
			t.Fatalf("Cancel of a wait on an expired timer = %d; want 0", n)
		}
		runOn(t, ctx, ctx.Run)
		if len(errs) != 1 || errs[0] != nil {
			t.Fatalf("wait on an expired timer, then Cancel = %v; want nil", errs)
		}
	})
}

func TestTimers_ExpiredWaitNotInline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		var errs []error
		rec := func(err error) { errs = append(errs, err) }
		now := iocontext.NewTimer(ctx) // expires at creation
		past := iocontext.NewTimer(ctx)
		past.ExpiresAfter(-time.Second)
		pastAt := iocontext.NewTimer(ctx)
		pastAt.ExpiresAt(time.Now().Add(-time.Hour))
		for _, tm := range []*iocontext.Timer{now, past, pastAt, now} {
			tm.AsyncWait(rec)
		}
		if len(errs) != 0 {
			t.Fatal("AsyncWait on an expired timer ran the handler inside the call")
		}
		time.Sleep(20 * time.Millisecond)
		if len(errs) != 0 {
			t.Fatal("a handler ran before any run call")
		}
		if n := runOn(t, ctx, ctx.Run); n != 4 || len(errs) != 4 {
			t.Fatalf("Run = %d, %d handlers; want 4", n, len(errs))
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("wait %d on an expired timer = %v; want nil", i, err)
			}
		}

		// From a handler.
		ctx.Restart()
		var waiting, inline bool
		var werr error = errors.New("not run")
		ctx.Post(func() {
			waiting = true
			now.AsyncWait(func(err error) { werr, inline = err, waiting })
			waiting = false
		})
		if n := runOn(t, ctx, ctx.Run); n != 2 || werr != nil || inline {
			t.Fatalf("Run = %d, wait = %v, ran inline %v; want 2, nil, false", n, werr, inline)
		}
	})
}

// TestTimers_ManyTimers arms a million timers (then cancels a tenth and re-arms another
// tenth), runs them, and checks that every wait completes exactly once, never before
// its expiry, and in expiry order.
//
// No runner runs while the timers are armed, so all of them sit in the heap and the
// run drains it in one go. A wait armed after its expiry completes at once (correctly)
// and outside the heap's order, so arming must stay ahead of the expiries: timers are
// armed in chunks of 10,000, each chunk's expiries spread over [t+lead, t+lead+1s) from
// the chunk's start t, with lead well above the time a chunk takes to arm. The windows
// of consecutive chunks overlap, so inserts land all over the heap.
func TestTimers_ManyTimers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		const n = 1_000_000
		const chunk = 10_000
		const spread = time.Second
		ctx := be.open(t)
		began := time.Now()
		origin := time.Now()

		timers := make([]*iocontext.Timer, n)
		expiry := make([]int64, n) // ns after origin
		armedLate := make([]bool, n)
		nils := make([]uint8, n)
		aborts := make([]uint8, n)
		var order []int32 // timers in the order their nil completions ran
		var early, bad int
		handler := func(i int) func(error) {
			return func(err error) {
				switch {
				case err == nil:
					nils[i]++
					order = append(order, int32(i))
					if time.Since(origin) < time.Duration(expiry[i]) {
						early++
					}
				case errors.Is(err, iocontext.ErrAborted):
					aborts[i]++
				default:
					bad++
				}
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		lead := 200 * time.Millisecond
		arm := func(i int, base time.Duration) (aborted int) {
			expiry[i] = int64(base) + rng.Int64N(int64(spread))
			at := origin.Add(time.Duration(expiry[i]))
			aborted = timers[i].ExpiresAt(at)
			// Late if the expiry is (nearly) past now: it may complete at once.
			armedLate[i] = armedLate[i] || time.Until(at) < 10*time.Millisecond
			timers[i].AsyncWait(handler(i))
			return aborted
		}
		var late int
		armChunks := func(idx func(k int) int, count int, body func(i int, base time.Duration)) {
			for c := 0; c < count; c += chunk {
				start := time.Now()
				base := start.Sub(origin) + lead
				for k := c; k < min(c+chunk, count); k++ {
					body(idx(k), base)
				}
				if took := time.Since(start); took > lead/4 {
					lead = 8 * took // keep well ahead of the arming
				}
			}
		}
		armChunks(func(k int) int { return k }, n, func(i int, base time.Duration) {
			timers[i] = iocontext.NewTimer(ctx)
			arm(i, base)
		})
		var cancelBad, resetBad int
		for i := 3; i < n; i += 10 {
			if timers[i].Cancel() != 1 {
				cancelBad++
			}
		}
		armChunks(func(k int) int { return 10*k + 7 }, n/10, func(i int, base time.Duration) {
			if arm(i, base) != 1 {
				resetBad++
			}
		})
		armed := time.Since(began)
		if cancelBad+resetBad > 0 {
			t.Fatalf("Cancel returned other than 1 for %d timers, ExpiresAt for %d", cancelBad, resetBad)
		}
		for i := range n {
			if armedLate[i] {
				late++
			}
		}
		if late > n/100 {
			t.Fatalf("%d timers were armed within 10ms of their expiry (lead %v): arming did not stay ahead", late, lead)
		}

		ran := runOnFor(t, ctx, 10*time.Minute, ctx.Run)
		t.Logf("%d timers: arming %v (final lead %v, %d armed late), run %v, total %v",
			n, armed, lead, late, time.Since(began)-armed, time.Since(began))

		if want := n - n/10 + 2*(n/10); ran != want {
			t.Errorf("Run ran %d handlers; want %d", ran, want)
		}
		if bad > 0 || early > 0 {
			t.Errorf("%d waits got an unexpected error, %d completed before their expiry", bad, early)
		}
		for i := range n {
			wantNil, wantAbort := uint8(1), uint8(0)
			switch i % 10 {
			case 3:
				wantNil, wantAbort = 0, 1
			case 7:
				wantAbort = 1
			}
			if nils[i] != wantNil || aborts[i] != wantAbort {
				t.Fatalf("timer %d: %d nil and %d aborted completions; want %d and %d", i, nils[i], aborts[i], wantNil, wantAbort)
			}
		}
		prev := int32(-1)
		for k, i := range order {
			if armedLate[i] {
				continue
			}
			if prev >= 0 && expiry[prev] > expiry[i] {
				t.Fatalf("completion %d: timer %d (expiry +%v) ran after timer %d (expiry +%v)",
					k, i, time.Duration(expiry[i]), prev, time.Duration(expiry[prev]))
			}
			prev = i
		}
	})
}
