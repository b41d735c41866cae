package iocontext

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/proactor"
)

// injectBatch bounds how many handlers a runner moves from the shared queue to its own
// in one lock acquisition: enough to amortise the lock, small enough that another
// runner finds the rest.
const injectBatch = 32

// runner is the state of one goroutine inside a run call.
type runner struct {
	c *Context
	g atomic.Uintptr // gident of the goroutine, 0 while unused; read by scans of stale snapshots

	mu   sync.Mutex   // guards q and took; taken by the owner and by thieves
	q    ring         // local queue: completions it reaped, handlers posted from its handlers
	qlen atomic.Int32 // q.len() for thieves, the idle check and Stats: exact at 0, see popLocal
	// took: the owner took a task from q and has not been back for the next one or to
	// the backend since, so it is running a handler (or about to come back). Thieves
	// read it under mu; the owner sets it there at no extra cost, where an atomic flag
	// stored around every handler cost two locked instructions a task.
	took bool

	wake      chan struct{} // a token wakes the runner from its idle sleep
	searching bool          // woken and counted in c.searching until it finds work or sleeps
	inHandler bool          // running a handler: Dispatch runs inline; a panic must settle its work. The owner's alone
	budget    int           // handlers left before the next look at the backend and shared queue
	limit     int           // the run call's handler limit (0: none)
	ready     []*proactor.Op
	writers   []*writer    // spare writers for this runner's handlers (getWriter); the owner's alone
	sleepT    *time.Timer  // RunFor's sleep timeout, made on first use
	st        *counters    // statistics, kept when the runner structure is reused
	since     atomic.Int64 // when the current run call began (ns since epoch), 0 outside
	idleSince atomic.Int64 // when the current idle wait began, 0 when not idle

	runnable [1]metrics.Sample // the runtime's runnable goroutines (othersRunnable)
	yields   int               // idle waits in a row that yielded instead of blocking

	// done: units of work this runner finished and has not yet taken off c.work, less
	// the units it started since (addWorkFrom); never below 0, so c.work never falls
	// below the work outstanding. The owner's alone; flushDone publishes it.
	done int64

	// raw: the goroutine's own identity when g is one it borrowed (a run call made by a
	// coroutine, gident.Lend), else 0. Such a runner is the caller's only on that
	// goroutine (current): the coroutine may suspend inside the run call and give the
	// identity back, and the lender is then no runner of this call.
	raw atomic.Uintptr

	// pops counts the tasks the owner took from q (guarded by mu, so it costs no
	// locked instruction of its own). watch and watchPops: a task was queued here
	// while the other runners waited in the backend, and pops when it was, or at the
	// last look since; lateCheck compares them to find a runner stuck in a handler.
	pops      uint64
	watch     bool
	watchPops uint64
}

// mode says how a run call behaves.
type mode struct {
	limit    int   // handlers to run at most (0: no limit)
	block    bool  // wait for work when none is ready
	deadline int64 // RunFor: return at this time (ns since epoch); 0 none
}

// Run runs handlers until the Context is stopped or runs out of work, and returns how
// many it ran. Several goroutines may call Run at once: they share the work. A handler
// that panics makes the Run of the goroutine that ran it panic with a *PanicError; Run
// may be called again afterwards and goes on with the remaining work.
func (c *Context) Run() int { return c.run(mode{block: true}) }

// RunOne runs at most one handler, waiting until one is ready, and returns 1 or 0.
func (c *Context) RunOne() int { return c.run(mode{limit: 1, block: true}) }

// RunFor runs handlers for at most d and returns how many it ran. It returns by d (plus
// scheduling slack) even when work remains, and earlier when the Context is stopped or
// runs out of work.
func (c *Context) RunFor(d time.Duration) int {
	return c.run(mode{block: true, deadline: c.now() + max(int64(d), 1)})
}

// Poll runs every handler that is ready, without waiting, and returns how many it ran.
func (c *Context) Poll() int { return c.run(mode{}) }

// PollOne runs at most one ready handler, without waiting.
func (c *Context) PollOne() int { return c.run(mode{limit: 1}) }

// Stop makes every run call return as soon as it can and run calls made later return
// at once, until Restart. Queued handlers are kept, not run and not dropped. Stop
// returns without waiting.
func (c *Context) Stop() {
	c.stopped.Store(true)
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.nidle.Store(0)
	c.searching.Add(int32(len(idle)))
	c.mu.Unlock()
	for _, r := range idle {
		r.signal() // r counts itself as searching when it sees the token
	}
	c.be.Wake()
}

// Stopped reports whether the Context is stopped: by Stop, or because a run call found
// no work left.
func (c *Context) Stopped() bool { return c.stopped.Load() }

// Restart makes a stopped Context runnable again. It panics when a run call is in
// flight.
func (c *Context) Restart() {
	if c.active.Load() != 0 {
		panic("iocontext: Restart called while a run call is in flight; wait for every Run to return first")
	}
	c.stopped.Store(false)
}

func (c *Context) run(m mode) (n int) {
	if c.stopped.Load() {
		return 0
	}
	if c.work.Load() == 0 {
		c.Stop()
		return 0
	}
	r := c.enter()
	r.limit = m.limit
	defer func() {
		if r.inHandler {
			// A handler panicked: its unit of work is finished all the same (leave
			// takes it off the count).
			r.inHandler = false
			r.done++
		}
		v := recover()
		var pe *PanicError
		if v != nil {
			if p, ok := v.(*PanicError); ok {
				pe = p
			} else {
				pe = &PanicError{Value: v, Stack: debug.Stack()}
			}
		}
		c.leave(r)
		if pe != nil {
			panic(pe)
		}
	}()
	for {
		if c.stopped.Load() {
			return n
		}
		t, ok := r.next(m.block)
		if ok && c.stopped.Load() {
			// Stop came while next was looking (a spinning runner may take a
			// handler posted after Stop): the handler waits for a Restart.
			r.unpopLocal(t)
			return n
		}
		if ok {
			r.yields = 0
			if r.searching {
				r.stopSearching()
				// Chain the wake-up: if there is still work for another runner,
				// wake one more (one at a time, never a herd).
				if r.qlen.Load() > 0 || c.injLen.Load() > 0 {
					c.notify()
				}
			}
			if !r.runTask(t) {
				continue // an op that went back to waiting: no handler ran
			}
			n++
			if m.limit > 0 && n >= m.limit {
				return n
			}
			// RunFor must return by its deadline even when work never runs out;
			// reading the clock every 16 handlers keeps its cost out of the loop.
			if m.deadline != 0 && n&15 == 0 && c.now() >= m.deadline {
				return n
			}
			continue
		}
		r.flushDone()
		if c.work.Load() == 0 {
			c.Stop()
			return n
		}
		if !m.block {
			return n
		}
		if m.deadline != 0 && c.now() >= m.deadline {
			return n
		}
		r.idleWait(m.deadline)
	}
}

// runTask runs one task; false when it was an op that the backend parked again.
func (r *runner) runTask(t task) bool {
	c := r.c
	if op := t.op; op != nil {
		if op.NeedsPerform && !c.be.Perform(op) {
			return false
		}
		if c.stats {
			// Read what the handler's owner may reuse before it runs.
			eof := op.Kind == proactor.OpRead && op.Err == nil && op.N == 0 && (len(op.Buf) > 0 || op.Lend)
			r.countDone(op, op.N, op.Err, eof, op.Syscalls, t.stamp)
			op.Syscalls = 0
		}
		r.inHandler = true
		op.Done(op)
	} else {
		if c.stats {
			r.countDone(nil, 0, nil, false, 0, 0)
		}
		r.inHandler = true
		t.fn()
	}
	r.inHandler = false
	r.done++ // taken off c.work by flushDone, or by the next op this runner starts
	return true
}

// flushDone takes the units of work r finished off c.work; the last one stops the
// Context.
func (r *runner) flushDone() {
	if d := r.done; d != 0 {
		r.done = 0
		r.c.workDoneN(d)
	}
}

// enter registers the calling goroutine as a runner.
func (c *Context) enter() *runner {
	c.active.Add(1)
	c.mu.Lock()
	var r *runner
	if n := len(c.free); n > 0 {
		r = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		r = &runner{c: c, wake: make(chan struct{}, 1), ready: make([]*proactor.Op, 0, 256), st: new(counters)}
		r.runnable[0].Name = "/sched/goroutines/runnable:goroutines"
		c.allCounters = append(c.allCounters, r.st)
	}
	r.since.Store(max(c.now(), 1))
	id, raw := gident.Current(), gident.Raw()
	r.g.Store(id)
	if raw == id {
		raw = 0
	}
	r.raw.Store(raw)
	r.budget = c.budget
	old := *c.runners.Load()
	rs := make([]*runner, len(old), len(old)+1)
	copy(rs, old)
	rs = append(rs, r)
	c.runners.Store(&rs)
	c.countRunners(len(rs))
	c.mu.Unlock()
	return r
}

// countRunners tells the backend how many runners there are; c.mu is held, so that
// the counts arrive in order.
func (c *Context) countRunners(n int) {
	if rc, ok := c.be.(proactor.RunnerCounter); ok {
		rc.SetRunners(n)
	}
}

// leave unregisters r; handlers left on its queue move to the shared queue so that the
// next run call finds them.
func (c *Context) leave(r *runner) {
	r.flushDone()
	c.be.Flush() // nothing this run call's handlers submitted waits for a next one
	if r.searching {
		r.stopSearching()
	}
	c.mu.Lock()
	old := *c.runners.Load()
	rs := make([]*runner, 0, len(old))
	for _, o := range old {
		if o != r {
			rs = append(rs, o)
		}
	}
	c.runners.Store(&rs)
	c.countRunners(len(rs))
	for i, o := range c.idle {
		if o == r {
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			c.nidle.Store(int32(len(c.idle)))
			break
		}
	}
	r.mu.Lock()
	moved := r.q.len()
	if moved > 0 {
		// Put them in front of the shared queue: they were taken from its front or
		// queued before anything posted there since, and FIFO must hold.
		c.injMu.Lock()
		var q ring
		r.q.moveTo(&q, math.MaxInt)
		c.inj.moveTo(&q, math.MaxInt)
		c.inj = q
		c.injLen.Store(int32(c.inj.len()))
		c.injMu.Unlock()
	}
	r.qlen.Store(0)
	r.mu.Unlock()
	select { // drop a stale wake-up token
	case <-r.wake:
	default:
	}
	r.g.Store(0)
	r.raw.Store(0)
	r.st.flush()
	r.st.runNs.Add(c.now() - r.since.Swap(0))
	c.free = append(c.free, r)
	c.mu.Unlock()
	c.active.Add(-1)
	if moved > 0 {
		c.notify()
	}
}

func (r *runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *runner) stopSearching() {
	r.searching = false
	r.c.searching.Add(-1)
}

// next finds a task: the runner's own queue (with a look at the backend and the shared
// queue every budget handlers), then the shared queue, then another runner's queue,
// then the backend without blocking.
func (r *runner) next(block bool) (task, bool) {
	c := r.c
	r.budget--
	if r.budget <= 0 {
		r.budget = c.budget
		r.st.flush()
		r.flushDone() // the count is exact every budget, for Stats and for Stop
		r.syncQlen()  // popLocal lets it lag; Stats' queue depth is good every budget
		// Hand what the last handlers submitted to the kernel even when another
		// runner holds the backend's wait.
		c.be.Flush()
		// Fairness: a runner whose own queue never empties would otherwise never
		// reap new completions or run posted handlers.
		r.pollBackend()
		r.takeInjected()
		// Pass through the Go scheduler. A runner that never blocks never changes
		// its P's schedtick, so after 10 ms sysmon preempts it and, catching it in a
		// syscall, retakes its P; the runner then pays a slow return from every such
		// syscall and sysmon polls every 20 µs again. Measured on examples/echo under
		// load: ~4,900 sysmon nanosleeps/s without this, ~100 with it.
		runtime.Gosched()
	}
	if t, ok := r.popLocal(); ok {
		return t, true
	}
	if r.takeInjected() {
		if t, ok := r.popLocal(); ok {
			return t, true
		}
	}
	if r.steal() {
		if t, ok := r.popLocal(); ok {
			return t, true
		}
	}
	// A blocking run call goes on to wait in the backend itself (idleWait); a
	// non-blocking look first would only cost a second epoll_wait per idle cycle.
	if !block && r.pollBackend() {
		if t, ok := r.popLocal(); ok {
			return t, true
		}
	}
	return task{}, false
}

// popLocal takes the task at the front of r's own queue. It stores the queue's length
// for others only when the queue empties, or every 8 tasks: an atomic store is a locked
// instruction (XCHG on amd64), and this runs for every handler. So qlen may be up to 7
// above the queue's length, never above 0 when the queue is empty (every store of qlen
// is made under r.mu, the queue's state at that moment): the idle check (hasWork) and
// the chained wake-up in run stay exact, and a thief that picks its victim by a stale
// count takes half of what it finds there under the lock.
func (r *runner) popLocal() (task, bool) {
	if r.qlen.Load() == 0 {
		return task{}, false
	}
	r.mu.Lock()
	t, ok := r.q.pop()
	if n := r.q.len(); n&7 == 0 {
		r.qlen.Store(int32(n))
	}
	r.took = ok
	if ok {
		r.pops++
	}
	r.mu.Unlock()
	return t, ok
}

// syncQlen stores the exact length of r's queue in qlen.
func (r *runner) syncQlen() {
	r.mu.Lock()
	r.qlen.Store(int32(r.q.len()))
	r.mu.Unlock()
}

// unpopLocal puts back the task popLocal returned.
func (r *runner) unpopLocal(t task) {
	r.mu.Lock()
	r.q.unpop(t)
	r.qlen.Store(int32(r.q.len()))
	r.mu.Unlock()
}

// takeInjected moves a share of the shared queue to the runner's own queue.
func (r *runner) takeInjected() bool {
	c := r.c
	if c.injLen.Load() == 0 {
		return false
	}
	c.injMu.Lock()
	n := c.inj.len()
	if n == 0 {
		c.injMu.Unlock()
		return false
	}
	// Take a fair share so the other runners find some too.
	share := n/len(*c.runners.Load()) + 1
	share = min(share, injectBatch, n)
	if r.limit > 0 {
		share = min(share, r.limit) // RunOne and PollOne take no more than they run
	}
	r.mu.Lock()
	c.inj.moveTo(&r.q, share)
	r.qlen.Store(int32(r.q.len()))
	r.mu.Unlock()
	c.injLen.Store(int32(c.inj.len()))
	c.injMu.Unlock()
	return true
}

// steal takes half of the fullest other runner's queue.
func (r *runner) steal() bool {
	var victim *runner
	var most int32
	for _, o := range *r.c.runners.Load() {
		if o == r {
			continue
		}
		if n := o.qlen.Load(); n > most {
			victim, most = o, n
		}
	}
	if victim == nil {
		return false
	}
	victim.mu.Lock()
	n := victim.q.len()
	if n == 0 || (n == 1 && !victim.took) {
		// A lone task of a runner that is between handlers is about to be run by
		// that runner; taking it would only move it away from a warm cache.
		victim.mu.Unlock()
		return false
	}
	// Half, rounded up: a lone queued task is worth taking from a runner that is
	// busy running a long handler.
	take := (n + 1) / 2
	r.mu.Lock()
	victim.q.moveTo(&r.q, take)
	r.qlen.Store(int32(r.q.len()))
	r.mu.Unlock()
	victim.qlen.Store(int32(victim.q.len()))
	victim.mu.Unlock()
	return true
}

// pollBackend reaps completions and expired timers without blocking, if no other
// runner is waiting in the backend. It reports whether it queued anything.
func (r *runner) pollBackend() bool {
	c := r.c
	if !c.polling.CompareAndSwap(false, true) {
		return false
	}
	var err error
	r.ready, err = c.be.Wait(0, r.ready[:0])
	c.polling.Store(false)
	if c.stats {
		r.st.own.waits++
		r.st.own.dirty = true
	}
	if err != nil && !c.closed.Load() {
		panic("iocontext: backend wait failed: " + err.Error())
	}
	// A runner that went to sleep while this one held the backend found the slot
	// taken; hand the blocking wait to it.
	if c.nidle.Load() > 0 && !c.blocked.Load() {
		c.notify()
	}
	return r.queueReady()
}

// queueReady moves reaped ops and expired timer waits to the runner's own queue.
func (r *runner) queueReady() bool {
	c := r.c
	n := len(r.ready)
	r.mu.Lock()
	for i, op := range r.ready {
		t := task{op: op}
		if c.stats {
			r.st.sample++
			if r.st.sample%latencySample == 0 {
				t.stamp = c.now()
			}
		}
		r.q.push(t)
		r.ready[i] = nil
	}
	if c.timers.next() != math.MaxInt64 {
		// The clock only when a timer is armed: it is a vDSO call, once a reap.
		n += c.timers.expire(c.now(), &r.q)
	}
	r.qlen.Store(int32(r.q.len()))
	r.took = false // at the backend, not in a handler
	r.mu.Unlock()
	r.ready = r.ready[:0]
	return n > 0
}

// idleWait waits for work: as the one runner blocked in the backend when that slot is
// free, otherwise asleep until another runner or a producer wakes it.
func (r *runner) idleWait(deadline int64) {
	c := r.c
	if c.stats {
		r.st.flush() // Stats is exact while the runner waits
		start := max(c.now(), 1)
		r.idleSince.Store(start)
		defer func() {
			r.idleSince.Store(0)
			r.st.idleNs.Add(c.now() - start)
		}()
	}
	if r.searching {
		r.stopSearching()
	}
	if r.yields < yieldMax && !c.polling.Load() && r.othersRunnable() {
		// Do not block in the backend while goroutines wait to run: its wait is a
		// syscall that keeps this goroutine's P, and goroutines that the handlers
		// made runnable (a blocking adapter's callers, woken by a channel send, and
		// what they start) would wait on that P, its CPU idle, until sysmon retakes
		// it, 20 µs to 10 ms later. Measured with go tool trace on examples/http
		// -mode nethttp (GOMAXPROCS=1, 100 connections, io_uring): the P sat idle
		// that way 23% of the time, p90 6 ms a wait, p99 latency 35-110 ms. Let them
		// run, then look at the backend without blocking. Bounded: goroutines
		// runnable on other Ps are counted too, and must not make this a spin.
		r.yields++
		runtime.Gosched()
		r.pollBackend()
		return
	}
	r.yields = 0
	if c.polling.CompareAndSwap(false, true) {
		timeout := time.Duration(-1)
		until := int64(math.MaxInt64)
		if next := c.timers.next(); next != math.MaxInt64 {
			until = next
		}
		if deadline != 0 && deadline < until {
			until = deadline
		}
		if until != math.MaxInt64 {
			timeout = time.Duration(max(until-c.now(), 0))
		}
		c.pollUntil.Store(until)
		c.blocked.Store(true)
		// A timer armed after the look above but before blocked was set saw blocked
		// clear and did not wake the backend: look again now that it is set.
		if next := c.timers.next(); next < until {
			until = next
			c.pollUntil.Store(until)
			timeout = time.Duration(max(until-c.now(), 0))
		}
		// Anything published before blocked was set must be seen now; anything after
		// it will find blocked set and wake the backend.
		if !c.hasWork(r) && !c.stopped.Load() {
			var err error
			if c.stats {
				r.st.waits.Add(1) // after the flush above: counted where Stats sees it
			}
			r.ready, err = c.be.Wait(timeout, r.ready[:0])
			if err != nil && !c.closed.Load() {
				c.blocked.Store(false)
				c.polling.Store(false)
				panic("iocontext: backend wait failed: " + err.Error())
			}
		}
		c.blocked.Store(false)
		c.polling.Store(false)
		if r.queueReady() && c.nidle.Load() > 0 {
			// Hand the backend to an idle runner while this one runs what it reaped.
			c.notify()
		}
		return
	}
	// What this runner's handlers submitted must reach the kernel before it sleeps:
	// the runner blocked in the backend does not know about it.
	c.be.Flush()
	// Sleep. Register first, then look again: a producer that published work before
	// the registration is seen by the second look; one after it finds us idle.
	c.mu.Lock()
	if c.stopped.Load() {
		c.mu.Unlock()
		return
	}
	c.idle = append(c.idle, r)
	c.nidle.Store(int32(len(c.idle)))
	c.mu.Unlock()
	if c.hasWork(r) || !c.polling.Load() || c.stopped.Load() || c.work.Load() == 0 {
		if c.removeIdle(r) {
			return
		}
		// Someone already took r off the idle list and counted it as searching; the
		// token is on its way.
		<-r.wake
		r.searching = true
		return
	}
	if deadline == 0 {
		<-r.wake
	} else {
		d := time.Duration(deadline - c.now())
		if r.sleepT == nil {
			r.sleepT = time.NewTimer(d)
		} else {
			r.sleepT.Reset(d)
		}
		select {
		case <-r.wake:
			r.sleepT.Stop()
		case <-r.sleepT.C:
			if c.removeIdle(r) {
				return
			}
			<-r.wake
		}
	}
	r.searching = true
}

// yieldMax bounds the idle waits in a row that yield to runnable goroutines instead of
// blocking in the backend.
const yieldMax = 4

// othersRunnable reports whether goroutines are waiting for a P, in ~150 ns.
func (r *runner) othersRunnable() bool {
	metrics.Read(r.runnable[:])
	v := r.runnable[0].Value
	return v.Kind() == metrics.KindUint64 && v.Uint64() > 0
}

// lateWake is how long a task queued by a runner whose peers all wait in the backend
// may wait before lateCheck looks whether that runner is stuck in a handler.
const lateWake = 2 * time.Millisecond

// armLate makes lateCheck run after lateWake, unless it is set to already.
func (c *Context) armLate() {
	if c.lateArmed.Load() || !c.lateArmed.CompareAndSwap(false, true) {
		return
	}
	c.lateMu.Lock()
	if !c.lateStopped {
		if c.late == nil {
			c.late = time.AfterFunc(lateWake, c.lateCheck)
		} else {
			c.late.Reset(lateWake)
		}
	}
	c.lateMu.Unlock()
}

// lateCheck wakes a runner for the tasks queued on one that has been inside the same
// handler since it queued them, or since the last look. A handler may wait for one
// it has just posted (legitimate with several runners); the post woke nobody, because
// the other runners were waiting in the backend, not idle, and they would wait there
// for good while the task sat behind the handler that waits for it. A runner that
// moves on is looked at again while its queue is not empty.
func (c *Context) lateCheck() {
	// Under lateMu, so that Close's stopLate waits for a check under way: its
	// notify may wake the backend, which Close then shuts down.
	c.lateMu.Lock()
	if c.lateStopped {
		c.lateMu.Unlock()
		return
	}
	c.lateArmed.Store(false)
	stuck, again := false, false
	for _, r := range *c.runners.Load() {
		r.mu.Lock()
		switch {
		case !r.watch:
		case r.q.len() == 0:
			r.watch = false
		case r.took && r.pops == r.watchPops:
			stuck = true
			r.watch = false
		default:
			r.watchPops = r.pops
			again = true
		}
		r.mu.Unlock()
	}
	if stuck {
		c.notify() // an idle runner, or else the one waiting in the backend
	}
	c.lateMu.Unlock()
	if again {
		c.armLate()
	}
}

// stopLate stops lateCheck for good, and waits for one under way (Close).
func (c *Context) stopLate() {
	c.lateMu.Lock()
	c.lateStopped = true
	if c.late != nil {
		c.late.Stop()
	}
	c.lateMu.Unlock()
}

// removeIdle takes r off the idle list; false when a waker already did.
func (c *Context) removeIdle(r *runner) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, o := range c.idle {
		if o == r {
			c.idle = append(c.idle[:i], c.idle[i+1:]...)
			c.nidle.Store(int32(len(c.idle)))
			return true
		}
	}
	return false
}

// hasWork reports whether a runner would find a task now.
func (c *Context) hasWork(self *runner) bool {
	if c.injLen.Load() > 0 {
		return true
	}
	for _, o := range *c.runners.Load() {
		if o.qlen.Load() > 0 {
			return true
		}
	}
	return c.timers.next() <= c.now()
}

// notify wakes a runner for newly published work: an idle one when there is one and
// nobody is already searching, else the runner blocked in the backend.
func (c *Context) notify() {
	if c.searching.Load() > 0 {
		return
	}
	if c.nidle.Load() > 0 {
		c.mu.Lock()
		if n := len(c.idle); n > 0 {
			r := c.idle[n-1]
			c.idle = c.idle[:n-1]
			c.nidle.Store(int32(n - 1))
			c.searching.Add(1)
			c.mu.Unlock()
			if c.stats {
				c.counters().wakeups.Add(1)
			}
			r.signal()
			return
		}
		c.mu.Unlock()
	}
	if c.blocked.Load() {
		if c.stats {
			c.counters().wakeups.Add(1)
		}
		c.be.Wake()
	}
}
