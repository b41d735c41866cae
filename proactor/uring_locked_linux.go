package proactor

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/internal/uring"
)

// The thread-bound variant of the io_uring backend (Kind IOURingLocked), kept to
// measure the design choice of ARCHITECTURE.md ("io_uring: who enters the ring"). One
// owner goroutine, locked to its OS thread, creates the ring with SINGLE_ISSUER and
// DEFER_TASKRUN and is the only one ever to call io_uring_enter: it submits, runs the
// deferred task work and reaps. Any goroutine still prepares entries (the SQ is plain
// shared memory; only the syscall is bound to the thread) and kicks the owner with
// IORING_REGISTER_SEND_MSG_RING (Linux 6.13) when it sleeps. The owner hands reaped
// completions to the runners through a queue that Wait drains.

// lockedState is the variant's part of uringBackend.
type lockedState struct {
	ownerBlocked atomic.Bool // the owner is (about to be) asleep in io_uring_enter
	ownerG       uintptr     // the owner goroutine (gident.Raw; 0 where unsupported), set before the ring is shared
	kicked       atomic.Bool // a kick is on its way to the sleeping owner
	stop         atomic.Bool
	reaped       atomic.Uint32 // SQ head as of the owner's last finished reap: entries before it are submitted and their immediate completions handed over
	ownerDone    chan struct{}
	calls        chan func() // work that must run on the owner's thread (registration)

	leaked   bool  // set by Shutdown before it stops the owner
	closeErr error // the owner's clean-up result

	outMu sync.Mutex
	outq  []*Op         // completions for the runners
	outCh chan struct{} // a token: outq has something, or Wake was called
	timer *time.Timer   // Wait's timeout, made once
}

// newUringLocked starts the owner goroutine, which sets the ring up on its thread.
func newUringLocked(sink Sink) (*uringBackend, error) {
	type result struct {
		u   *uringBackend
		err error
	}
	res := make(chan result)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		u, err := setupUring(sink, uring.SetupSingleIssuer|uring.SetupDeferTaskrun)
		if err == nil {
			u.lk = &lockedState{ownerDone: make(chan struct{}), outCh: make(chan struct{}, 1), calls: make(chan func(), 1), ownerG: gident.Raw()}
			// A send to the ring is how other threads wake the owner; without it
			// the variant cannot work.
			if err = uring.SendMsgRing(u.ring.Fd(), makeUD(tagWake, 0, 0), 0); err == nil {
				u.ring.Enter(0, 1, uring.EnterGetEvents, time.Second)
				var c [4]uring.CQE
				u.ring.Peek(c[:])
				// Registration, like submission, is bound to the owner's thread:
				// the lend ring is made here, not on first use.
				u.mu.Lock()
				err = u.lendRing()
				u.mu.Unlock()
			}
			if err != nil {
				u.ring.Close()
			}
		}
		res <- result{u, err}
		if err != nil {
			return
		}
		u.ownerLoop()
	}()
	r := <-res
	if r.err != nil {
		return nil, r.err
	}
	r.u.desc = "thread-bound owner, " + r.u.desc
	return r.u, nil
}

// ownerLoop submits, waits, reaps and hands completions over until Shutdown.
func (u *uringBackend) ownerLoop() {
	lk := u.lk
	defer close(lk.ownerDone)
	var ready []*Op
	lk.reaped.Store(u.ring.SQHead()) // the set-up's entries are through
	for !lk.stop.Load() {
		lk.ownerBlocked.Store(true)
		// Entries published before ownerBlocked was set are seen here; a producer
		// publishing after it sees ownerBlocked and kicks.
		minComplete := uint32(1)
		if u.ring.SQPending() > 0 || lk.stop.Load() || len(lk.calls) > 0 {
			minComplete = 0
		}
		_, err := u.enter(u.ring.SQPending(), minComplete, uring.EnterGetEvents, -1)
		head := u.ring.SQHead()
		lk.ownerBlocked.Store(false)
		lk.kicked.Store(false)
		if !transient(err) {
			panic("proactor: io_uring_enter on the owner thread: " + err.Error())
		}
		select {
		case fn := <-lk.calls:
			fn()
		default:
		}
		for {
			n := u.ring.Peek(u.cqes)
			if n == 0 {
				break
			}
			ready = u.complete(u.cqes[:n], ready[:0])
			if len(ready) > 0 {
				lk.outMu.Lock()
				lk.outq = append(lk.outq, ready...)
				lk.outMu.Unlock()
				clear(ready)
				select {
				case lk.outCh <- struct{}{}:
				default:
				}
			}
		}
		lk.reaped.Store(head)
	}
	// Shutdown waited for every request; the ring (and the lend ring, whose
	// unregistration is bound to this thread too) is closed here.
	u.gone.Store(true)
	for u.users.Load() != 0 {
		runtime.Gosched()
	}
	if lk.leaked {
		lk.closeErr = errors.Join(u.ring.Close(), errors.New("proactor: io_uring requests or lent buffers still held at shutdown; their memory is kept"))
		return
	}
	var berr error
	if u.lend != nil {
		berr = u.lend.bufs.Close()
	}
	lk.closeErr = errors.Join(berr, u.ring.Close())
}

// onOwner runs fn on the owner's thread and waits for it.
func (u *uringBackend) onOwner(fn func()) {
	lk := u.lk
	done := make(chan struct{})
	lk.calls <- func() { fn(); close(done) }
	u.kickOwner()
	<-done
}

// kickOwner makes a sleeping owner submit what was published.
func (u *uringBackend) kickOwner() {
	if !u.hold() {
		return // the owner has gone
	}
	defer u.users.Add(-1)
	lk := u.lk
	if lk.ownerBlocked.Load() && lk.kicked.CompareAndSwap(false, true) {
		u.enters.Add(1) // a syscall, like an enter
		_ = uring.SendMsgRing(u.ring.Fd(), makeUD(tagWake, 0, 0), 0)
	}
}

// lockedWait hands over what the owner reaped, waiting up to timeout for some.
func (u *uringBackend) lockedWait(timeout time.Duration, ready []*Op) ([]*Op, error) {
	lk := u.lk
	if target := u.ring.SQTail(); int32(lk.reaped.Load()-target) < 0 {
		// Entries published and not yet through a whole owner pass (submitted and
		// reaped) — queued by this runner's handlers, or by a Poll's caller and
		// perhaps already submitted: a poll must see the ops that complete at
		// submission, so it waits for that pass (bounded by a second: on a loaded
		// machine the owner's thread may wait for a CPU).
		if u.ring.SQPending() > 0 {
			u.kickOwner()
		}
		if timeout == 0 {
			for deadline := time.Now().Add(time.Second); int32(lk.reaped.Load()-target) < 0 && time.Now().Before(deadline); {
				runtime.Gosched()
			}
		}
	}
	take := func() bool {
		lk.outMu.Lock()
		n := len(lk.outq)
		ready = append(ready, lk.outq...)
		clear(lk.outq)
		lk.outq = lk.outq[:0]
		lk.outMu.Unlock()
		return n > 0
	}
	if take() || timeout == 0 {
		return ready, nil
	}
	if timeout < 0 {
		<-lk.outCh
	} else {
		if lk.timer == nil {
			lk.timer = time.NewTimer(timeout)
		} else {
			lk.timer.Reset(timeout)
		}
		select {
		case <-lk.outCh:
			lk.timer.Stop()
		case <-lk.timer.C:
		}
	}
	take()
	return ready, nil
}

// lockedShutdown waits for the requests still in the kernel, then stops the owner,
// which closes the ring.
func (u *uringBackend) lockedShutdown() error {
	lk := u.lk
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	deadline := time.Now().Add(time.Second)
	for {
		u.mu.Lock()
		idle := u.used == 0
		u.mu.Unlock()
		if idle || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	u.mu.Lock()
	lk.leaked = u.used > 0 || u.lend != nil && u.lend.lent > 0
	u.mu.Unlock()
	if lk.leaked {
		keepForever(u)
	}
	lk.stop.Store(true)
	lk.kicked.Store(false)
	u.kickOwner()
	<-lk.ownerDone
	return lk.closeErr
}
