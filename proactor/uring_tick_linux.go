package proactor

import (
	"sync/atomic"
	"time"

	"github.com/coionet/coio/internal/uring"
	"golang.org/x/sys/unix"
)

// A busy waiter sleeps in io_uring_enter without telling the Go scheduler.
//
// Told (Syscall), its P is in a syscall while it sleeps, and sysmon takes the P away
// from a syscall it sees at two of its looks in a row when no other P is idle: with
// GOMAXPROCS runners busy, or GOMAXPROCS=1. It hands the P to a spinning M, woken
// for it, which finds nothing to run and sleeps again; the waiter, back from the
// kernel, takes the P back. Each such wait costs two thread switches on its core.
// sysmon looks every 20 µs while it keeps taking Ps and backs off to 10 ms only after
// 50 looks that took none, so the cost feeds itself: an echo server that starts
// with sysmon looking often (it wakes sysmon when traffic starts) may stay there for
// good. That was the echo's "slow mode" (ARCHITECTURE.md): 64 B × 100 × 1 at 3.8–4.3
// µs of CPU per message against 3.2–3.4, in one run of two to eight, with 14,000
// thread switches a second between the runner's thread and a runtime M against 100.
//
// Sleeping raw, the P stays with the waiter and sysmon has nothing to take; but no
// other goroutine may run on that P until the waiter returns. So it sleeps raw only
// while it is busy (hot: its last sleep ended with work), and then a multishot
// timeout in the ring (the tick) wakes it every tickPeriod at most, and the runner
// lets runnable goroutines go first (runner.idleWait). A sleep that ends with only a
// tick cools the waiter: the tick is cancelled and it sleeps told again, its P free
// for the scheduler. A per-sleep timeout would bound it too, but arming and
// cancelling an hrtimer for every sleep cost 3% of the echo's CPU here.

// tickPeriod bounds how long a hot waiter keeps its P from other goroutines.
var tickPeriod = 2 * time.Millisecond

// uringRawSleep says whether a hot waiter sleeps raw; cleared by tests (and for
// comparisons) to sleep told always.
var uringRawSleep atomic.Bool

func init() { uringRawSleep.Store(true) }

// tickCount is how many times a tick fires before it ends on its own and the next
// raw sleep arms another: whatever happens to a cancel, none stays for good.
const tickCount = 1024

// tickCancel is the slot index in the user data of a tick's cancel; ticks have 0.
const tickCancel = 1

// sleepRaw reports whether the waiter's next sleep keeps its P, arming the tick that
// bounds it; the waiter calls it.
func (u *uringBackend) sleepRaw() bool {
	if !u.hot || !uringRawSleep.Load() {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.tickOff || u.closed {
		return false
	}
	if !u.tickArmed {
		if u.ticks > 0 {
			return false // a cancelled tick still lasts: one at a time (see tick)
		}
		u.tickGen = (u.tickGen + 1) & genMask
		u.tickTS = unix.NsecToTimespec(int64(tickPeriod))
		// The kernel copies tickTS when it takes the entry; the backend is on the heap.
		u.sqe().PrepTimeout(&u.tickTS, tickCount, uring.TimeoutMultishot, makeUD(tagTick, u.tickGen, 0))
		u.ring.Publish()
		u.tickArmed = true
		u.ticks++
	}
	return true
}

// tick handles a completion of a tick request, or with idx tickCancel of the
// cancel of one; mu is held.
func (u *uringBackend) tick(c *uring.CQE, gen uint32, idx int32) {
	u.tickCQEs++ // not work: cool must not take them for a reason to stay hot
	if idx == tickCancel {
		if c.Res != 0 && u.ticks > 0 && !u.tickArmed {
			// Missed, and the tick has not ended (it is the only one in the kernel:
			// sleepRaw arms none while a cancelled one lasts). A multishot timeout
			// that fires is off the kernel's list until its completion is posted,
			// by task work that then arms it again (ENOENT), or is firing at that
			// moment (EALREADY): cancel it again.
			u.cancelTick(gen)
		}
		return
	}
	current := gen == u.tickGen && u.tickArmed
	if current && c.Res == -int32(unix.ETIME) {
		u.tickFired = true
	}
	if c.Flags&uring.CQEFMore != 0 {
		return
	}
	u.ticks--
	if current {
		u.tickArmed = false
		if c.Res != -int32(unix.ETIME) && c.Res != -int32(unix.ECANCELED) {
			u.tickOff = true // refused (before Linux 6.4): sleep told always
		}
	}
}

// cool settles the waiter's state after a sleep that reaped work completions (and
// ticks): with work it is hot; with only a tick it is idle, and the tick is
// cancelled by the next enter. A sleep ended by a signal or by its timeout changes
// nothing. The waiter calls it.
func (u *uringBackend) cool(work int) {
	if work > 0 {
		u.hot = true
		return
	}
	if !u.tickFired {
		return
	}
	u.hot = false
	u.mu.Lock()
	if u.tickArmed && !u.closed {
		u.disarmTick()
	}
	u.mu.Unlock()
}

// disarmTick queues the cancel of the armed tick; mu is held. Its last completion,
// which ends its count in ticks, comes later; until then no other tick is armed.
func (u *uringBackend) disarmTick() {
	u.cancelTick(u.tickGen)
	u.tickArmed = false
}

// cancelTick queues the cancel of the tick of generation gen; mu is held.
func (u *uringBackend) cancelTick(gen uint32) {
	u.sqe().PrepCancel(makeUD(tagTick, gen, 0), 0, makeUD(tagTick, gen, tickCancel))
	u.ring.Publish()
}
