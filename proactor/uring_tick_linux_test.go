package proactor

import (
	"testing"
	"time"

	"github.com/coionet/coio/internal/uring"
	"golang.org/x/sys/unix"
)

// goWait runs u.Wait(timeout) on another goroutine; its error comes on the channel.
func goWait(u *uringBackend, timeout time.Duration) <-chan error {
	got := make(chan error, 1)
	go func() {
		_, err := u.Wait(timeout, nil)
		got <- err
	}()
	return got
}

// waitOnce runs u.Wait(timeout) on another goroutine; if it has not returned within
// limit, it wakes it and fails the test.
func waitOnce(t *testing.T, u *uringBackend, timeout, limit time.Duration) {
	t.Helper()
	got := goWait(u, timeout)
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(limit):
		u.Wake()
		<-got
		t.Fatalf("a sleep with nothing to reap did not end within %v", limit)
	}
}

// wokenSleep makes u's waiter sleep and wakes it: a sleep that reaps work. It tries
// again while the wake-up came before the sleep (then reaped without one).
func wokenSleep(t *testing.T, u *uringBackend) {
	t.Helper()
	for try := 0; try < 100; try++ {
		got := goWait(u, -1)
		var err error
		select {
		case err = <-got: // reaped what was there, without sleeping
		case <-time.After(20 * time.Millisecond): // asleep, or about to be
			u.Wake()
			err = <-got
		}
		if err != nil {
			t.Fatal(err)
		}
		if u.hot {
			return
		}
	}
	t.Fatal("no sleep reaped a wake-up in 100 tries")
}

// toldSleeps turns raw sleeps (and their ticks) off for the rest of the test, for
// tests that count the entries submitted.
func toldSleeps(t *testing.T) {
	uringRawSleep.Store(false)
	t.Cleanup(func() { uringRawSleep.Store(true) })
}

// ticksLeft is how many tick requests u has in the kernel.
func ticksLeft(u *uringBackend) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ticks
}

// A sleep after one that reaped work keeps the P (raw), and the tick it arms ends it
// within a period even when nothing else completes: nothing holds a P for longer.
// The sleep the tick ended cools the waiter: the tick is cancelled and the next
// sleep is told to the scheduler, with no tick left in the kernel.
func TestUringHotSleepEndsAtTheTick(t *testing.T) {
	if !uringRawSleep.Load() {
		t.Fatal("raw sleeps are off")
	}
	u := openUringOrSkip(t, make(chanSink, 1))
	wokenSleep(t, u) // a sleep that reaped work: the waiter is hot
	// Nothing will complete: only the tick can end this sleep (timeout -1), or a
	// signal (the runtime preempting the goroutine), after which it sleeps again.
	for tries := 0; u.hot; tries++ {
		if tries == 100 {
			t.Fatal("100 raw sleeps with nothing to reap ended, and the waiter is still hot")
		}
		waitOnce(t, u, -1, 5*time.Second)
		if u.tickOff {
			t.Skip("this kernel refuses multishot timeouts (Linux 6.4): sleeps are always told")
		}
	}
	u.mu.Lock()
	armed := u.tickArmed
	u.mu.Unlock()
	if armed {
		t.Fatal("the tick is still armed after the waiter cooled")
	}
	// The next sleeps are told and reap the tick's cancellation.
	for deadline := time.Now().Add(5 * time.Second); ticksLeft(u) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d tick requests still in the kernel 5 s after the cancel", ticksLeft(u))
		}
		waitOnce(t, u, 10*time.Millisecond, 5*time.Second)
	}
	if u.hot {
		t.Fatal("reaping the tick's own completions made the waiter hot again")
	}
}

// A sleep that reaps work stays hot with the tick armed; Shutdown cancels the tick
// and leaves nothing in the kernel.
func TestUringShutdownCancelsTheTick(t *testing.T) {
	u := openUringOrSkip(t, make(chanSink, 1))
	wokenSleep(t, u)
	// The next sleep is raw and arms the tick; a wake-up ends it.
	got := goWait(u, -1)
	for deadline := time.Now().Add(5 * time.Second); ticksLeft(u) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			u.Wake()
			<-got
			t.Fatal("a hot waiter's sleep armed no tick")
		}
	}
	u.Wake()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if u.tickOff {
		t.Skip("this kernel refuses multishot timeouts (Linux 6.4): sleeps are always told")
	}
	if !u.hot || ticksLeft(u) != 1 {
		t.Fatalf("after two sleeps that reaped work: hot %v, %d ticks; want hot with one", u.hot, ticksLeft(u))
	}
	if err := u.Shutdown(); err != nil {
		t.Fatalf("Shutdown with the tick armed: %v", err)
	}
	if n := ticksLeft(u); n != 0 {
		t.Fatalf("%d tick requests left after Shutdown", n)
	}
}

// The kernel's answers to a tick and to its cancel, given directly: a cancel that
// missed a tick that has not ended is made again, no second tick is armed meanwhile,
// and a refusal turns raw sleeps off for good.
func TestUringTickAnswers(t *testing.T) {
	u := openUringOrSkip(t, make(chanSink, 1))
	u.mu.Lock()
	defer u.mu.Unlock()
	u.tickGen, u.tickArmed, u.ticks = 7, true, 1

	queued := u.ring.SQPending()
	u.tick(&uring.CQE{UserData: makeUD(tagTick, 7, tickCancel), Res: -int32(unix.ENOENT)}, 7, tickCancel)
	if u.ring.SQPending() != queued {
		t.Fatal("a stale cancel's answer made a cancel of the armed tick")
	}
	// Cancelled (disarmed) but not ended: ENOENT means it was between a firing and
	// its re-arm, EALREADY that it was firing. Either way it goes on: cancel again.
	u.tickArmed = false
	for _, errno := range []unix.Errno{unix.ENOENT, unix.EALREADY} {
		before := u.ring.SQPending()
		u.tick(&uring.CQE{UserData: makeUD(tagTick, 7, tickCancel), Res: -int32(errno)}, 7, tickCancel)
		if u.ring.SQPending() != before+1 {
			t.Fatalf("a missed cancel (%v) of a tick that has not ended was not made again", errno)
		}
	}
	u.hot = true
	u.mu.Unlock()
	raw := u.sleepRaw()
	u.mu.Lock()
	if raw || u.tickArmed {
		t.Fatal("a second tick was armed while a cancelled one lasts")
	}
	u.tickArmed = true

	u.tick(&uring.CQE{UserData: makeUD(tagTick, 7, 0), Res: -int32(unix.ETIME), Flags: uring.CQEFMore}, 7, 0)
	if !u.tickFired || u.ticks != 1 || !u.tickArmed {
		t.Fatalf("a firing with more to come: fired %v, ticks %d, armed %v", u.tickFired, u.ticks, u.tickArmed)
	}
	u.tick(&uring.CQE{UserData: makeUD(tagTick, 7, 0), Res: -int32(unix.EINVAL)}, 7, 0)
	if u.ticks != 0 || u.tickArmed || !u.tickOff {
		t.Fatalf("a refused tick: ticks %d, armed %v, off %v; want 0, false, true", u.ticks, u.tickArmed, u.tickOff)
	}
	u.hot = true
	u.mu.Unlock()
	raw = u.sleepRaw()
	u.mu.Lock()
	if raw {
		t.Fatal("a hot waiter sleeps raw after the kernel refused the tick")
	}
	// Flush the entries queued above so that Shutdown finds the ring as it left it.
	u.ring.Publish()
}
