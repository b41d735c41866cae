package iocontext

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coionet/coio/proactor"
)

// Timer is a waitable timer (Asio's steady_timer): it has an expiry, and any number of
// waits complete when it passes. Timers use the monotonic clock. A Timer costs nothing
// while no wait is pending; a pending timer sits in its Context's timer heap, where
// arming and cancelling cost O(log n).
//
// All methods are safe for concurrent use.
type Timer struct {
	c     *Context
	when  int64        // expiry, ns since the Context's epoch; guarded by c.timers.mu
	idx   int          // position in the heap, -1 when not in it; guarded by c.timers.mu
	seq   uint64       // arming order, breaks ties between equal expiries
	waits []*timerWait // pending waits; guarded by c.timers.mu
	free  []*timerWait // recycled waits; guarded by c.timers.mu
	ex    Executor     // SetExecutor's executor, nil for direct delivery
}

// SetExecutor makes the timer's wait handlers run through ex (a strand, say) instead of
// directly on the runner that reaps the expiry. Call it before the first AsyncWait.
func (t *Timer) SetExecutor(ex Executor) {
	if ex == Executor(t.c) {
		ex = nil
	}
	t.ex = ex
}

// timerWait is one AsyncWait: an op that never goes to a backend, queued as a
// completion when the timer expires or the wait is aborted.
type timerWait struct {
	op        proactor.Op
	t         *Timer
	h         func(error)
	err       error  // result held for deliverFn
	deliverFn func() // w.deliver, made when the timer has an executor
}

// NewTimer creates a timer on c whose expiry is the time of the call (already expired).
func NewTimer(c *Context) *Timer {
	return &Timer{c: c, when: c.now(), idx: -1}
}

// ExpiresAfter sets the expiry to d from now and aborts the pending waits (each gets
// ErrAborted), returning how many it aborted.
func (t *Timer) ExpiresAfter(d time.Duration) int {
	return t.reset(t.c.now() + int64(d))
}

// ExpiresAt sets the expiry to at and aborts the pending waits, returning how many.
func (t *Timer) ExpiresAt(at time.Time) int {
	return t.reset(int64(at.Sub(t.c.epoch)))
}

// Expiry returns the timer's expiry.
func (t *Timer) Expiry() time.Time {
	q := &t.c.timers
	q.mu.Lock()
	when := t.when
	q.mu.Unlock()
	return t.c.epoch.Add(time.Duration(when))
}

// AsyncWait starts a wait that completes with nil once the expiry has passed (never
// before), or with ErrAborted when the wait is cancelled or the expiry changed first.
// On an expired timer it completes at once with nil, posted, never inline.
func (t *Timer) AsyncWait(h func(error)) {
	c := t.c
	c.addWork()
	c.countSubmit(proactor.OpTimer)
	q := &c.timers
	q.mu.Lock()
	w := t.newWait(h)
	if c.closed.Load() && c.active.Load() == 0 {
		q.mu.Unlock()
		w.op.Err = ErrAborted
		c.push(task{op: &w.op})
		return
	}
	if t.when <= c.now() {
		q.mu.Unlock()
		w.op.Err = nil
		c.push(task{op: &w.op})
		return
	}
	t.waits = append(t.waits, w)
	if t.idx < 0 {
		q.seq++
		t.seq = q.seq
		q.insert(t)
	}
	when := t.when // a handler may re-arm the timer as soon as the lock is released
	q.mu.Unlock()
	// A runner blocked in the backend computed its timeout from the earlier
	// heap; make it look again when this timer is due sooner.
	if c.blocked.Load() && when < c.pollUntil.Load() {
		c.be.Wake()
	}
}

// Cancel aborts every pending wait (each completes with ErrAborted) and returns how
// many it aborted. The expiry is unchanged. Waits of a timer that already expired have
// their result already (nil): Cancel returns 0 for them.
func (t *Timer) Cancel() int {
	q := &t.c.timers
	q.mu.Lock()
	aborted := t.abortLocked()
	q.mu.Unlock()
	return t.deliver(aborted)
}

func (t *Timer) reset(when int64) int {
	q := &t.c.timers
	q.mu.Lock()
	aborted := t.abortLocked()
	t.when = when
	q.mu.Unlock()
	return t.deliver(aborted)
}

// abortLocked takes the timer out of the heap and returns its waits, marked aborted.
func (t *Timer) abortLocked() []*timerWait {
	if t.idx >= 0 {
		t.c.timers.remove(t)
	}
	if len(t.waits) == 0 {
		return nil // keep the slice: re-arming an idle timer allocates nothing
	}
	w := t.waits
	t.waits = nil
	for _, x := range w {
		x.op.Err = ErrAborted
	}
	return w
}

func (t *Timer) deliver(waits []*timerWait) int {
	for _, w := range waits {
		t.c.push(task{op: &w.op})
	}
	return len(waits)
}

// newWait takes a recycled wait or makes one; called with the timers lock held.
func (t *Timer) newWait(h func(error)) *timerWait {
	var w *timerWait
	if n := len(t.free); n > 0 {
		w = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		w = &timerWait{t: t}
		w.op.Kind = proactor.OpTimer
		w.op.Done = w.done
	}
	w.h = h
	return w
}

// done delivers the wait's result; the wait is recycled first, so the handler may
// wait again without allocating.
func (w *timerWait) done(op *proactor.Op) {
	if ex := w.t.ex; ex != nil {
		w.err = op.Err
		op.Err = nil
		if w.deliverFn == nil {
			w.deliverFn = w.deliver
		}
		ex.Dispatch(w.deliverFn)
		return
	}
	h, err := w.h, op.Err
	w.h = nil
	op.Err = nil
	q := &w.t.c.timers
	q.mu.Lock()
	w.t.free = append(w.t.free, w)
	q.mu.Unlock()
	h(err)
}

// deliver runs the handler of a wait delivered through the timer's executor.
func (w *timerWait) deliver() {
	h, err := w.h, w.err
	w.h, w.err = nil, nil
	q := &w.t.c.timers
	q.mu.Lock()
	w.t.free = append(w.t.free, w)
	q.mu.Unlock()
	h(err)
}

// timerQueue is a Context's timers: a 4-ary min-heap ordered by expiry, then by arming
// order. Four children per node make the heap shallower than a binary one (fewer cache
// misses per sift with a million timers) at the cost of more comparisons per level.
type timerQueue struct {
	mu     sync.Mutex
	heap   []*Timer
	seq    uint64
	nextAt atomic.Int64 // expiry of the heap's root, MaxInt64 when empty
}

func (q *timerQueue) init() { q.nextAt.Store(math.MaxInt64) }

// next returns the earliest expiry, MaxInt64 when no timer is pending.
func (q *timerQueue) next() int64 { return q.nextAt.Load() }

func less(a, b *Timer) bool {
	return a.when < b.when || (a.when == b.when && a.seq < b.seq)
}

func (q *timerQueue) insert(t *Timer) {
	t.idx = len(q.heap)
	q.heap = append(q.heap, t)
	q.up(t.idx)
	q.nextAt.Store(q.heap[0].when)
}

func (q *timerQueue) remove(t *Timer) {
	i := t.idx
	last := len(q.heap) - 1
	if i != last {
		q.swap(i, last)
	}
	q.heap[last] = nil
	q.heap = q.heap[:last]
	t.idx = -1
	if i != last {
		if !q.down(i) {
			q.up(i)
		}
	}
	if len(q.heap) > 0 {
		q.nextAt.Store(q.heap[0].when)
	} else {
		q.nextAt.Store(math.MaxInt64)
	}
}

func (q *timerQueue) swap(i, j int) {
	q.heap[i], q.heap[j] = q.heap[j], q.heap[i]
	q.heap[i].idx = i
	q.heap[j].idx = j
}

func (q *timerQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 4
		if !less(q.heap[i], q.heap[p]) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *timerQueue) down(i int) bool {
	start := i
	n := len(q.heap)
	for {
		first := 4*i + 1
		if first >= n {
			break
		}
		m := first
		for c := first + 1; c < first+4 && c < n; c++ {
			if less(q.heap[c], q.heap[m]) {
				m = c
			}
		}
		if !less(q.heap[m], q.heap[i]) {
			break
		}
		q.swap(i, m)
		i = m
	}
	return i != start
}

// expire moves the waits of every timer due at now to dst, in expiry order, and returns
// how many it moved. Lock order: the caller may hold a runner's queue lock.
func (q *timerQueue) expire(now int64, dst *ring) int {
	if q.nextAt.Load() > now {
		return 0
	}
	n := 0
	q.mu.Lock()
	for len(q.heap) > 0 && q.heap[0].when <= now {
		t := q.heap[0]
		q.remove(t)
		for _, w := range t.waits {
			w.op.Err = nil
			dst.push(task{op: &w.op})
			n++
		}
		clear(t.waits)
		t.waits = t.waits[:0]
	}
	q.mu.Unlock()
	return n
}

// abortAll aborts every pending wait of every timer (Context shutdown).
func (q *timerQueue) abortAll() []*timerWait {
	q.mu.Lock()
	var all []*timerWait
	for len(q.heap) > 0 {
		all = append(all, q.heap[0].abortLocked()...)
	}
	q.mu.Unlock()
	return all
}

func timeDuration(ns int64) time.Duration { return time.Duration(ns) }
