package iocontext

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/proactor"
)

// Executor runs handlers. Context and strand.Strand implement it.
type Executor interface {
	// Post queues h to run later; it never runs h before returning.
	Post(h func())
	// Dispatch runs h before returning when the caller is already running a handler
	// of this executor, and otherwise behaves like Post.
	Dispatch(h func())
	// Defer queues h like Post, as a continuation of the current handler: on the
	// same runner when possible.
	Defer(h func())
	// Context returns the Context whose runners execute the handlers.
	Context() *Context
}

// Option configures a Context.
type Option func(*config)

type config struct {
	lendSize, lendCount int
	backend             proactor.Kind
	budget              int
	noStats             bool
	offload             int
}

// WithBackend selects the backend (default proactor.Auto). The environment variable
// COIO_BACKEND overrides it.
func WithBackend(k proactor.Kind) Option { return func(c *config) { c.backend = k } }

// WithLendBuffers sizes the pool AsyncReadLent borrows from: count buffers of size
// bytes (default proactor.DefaultLendCount × proactor.DefaultLendSize). On io_uring
// count must be a power of two up to 32768: the pool is one provided-buffer ring
// that holds about 1 MiB of the buffers at a time, the most recently released first,
// so that reads reuse memory that is still in the cache (it takes more as reads need
// them), and a read that finds every buffer lent waits for a release.
func WithLendBuffers(size, count int) Option {
	return func(c *config) { c.lendSize, c.lendCount = size, count }
}

// WithBudget sets how many handlers a runner runs from its own queue before it looks
// at the backend and the shared queue again (default 128, as tokio's cooperative
// budget). A smaller budget favours fairness between connections, a larger one
// throughput.
func WithBudget(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.budget = n
		}
	}
}

// Context is coio's I/O execution context, Asio's io_context: it owns the handler
// queues, the timers and a backend, and runs handlers on every goroutine that calls one
// of its run functions (Run, RunOne, RunFor, Poll, PollOne). Those goroutines are its
// runners; they share the work, and a connection's next handler may run on any of them.
//
// All methods are safe for concurrent use.
type Context struct {
	be   proactor.Backend
	info proactor.Info
	// batching: the backend queues submissions until an enter (io_uring), so a
	// submitter that is not a runner flushes them itself.
	batching bool
	budget   int
	epoch    time.Time // timer and deadline clock origin (monotonic)

	work    atomic.Int64  // outstanding work: queued handlers, ops in flight, guards
	stopped atomic.Bool   // run calls return; set by Stop or when work runs out
	closed  atomic.Bool   // Close was called
	gone    chan struct{} // closed when Close has run its last handler: nothing runs after
	active  atomic.Int32  // run calls in flight

	injMu  sync.Mutex   // guards inj
	inj    ring         // handlers posted from outside the runners
	injLen atomic.Int32 // len(inj), readable without the lock

	mu          sync.Mutex                // guards idle and runner registration
	runners     atomic.Pointer[[]*runner] // runners inside a run call (copy on write)
	idle        []*runner                 // runners asleep, waiting for a wake-up
	nidle       atomic.Int32              // len(idle)
	searching   atomic.Int32              // runners woken and looking for work
	lateMu      sync.Mutex                // guards late and lateStopped
	late        *time.Timer               // runs lateCheck, made on first use (armLate)
	lateArmed   atomic.Bool               // late is set to fire
	lateStopped bool                      // Close has stopped late for good
	free        []*runner                 // runner structures reused by later run calls

	polling   atomic.Bool  // a runner owns the backend wait
	blocked   atomic.Bool  // that runner is in, or about to enter, a blocking wait
	pollUntil atomic.Int64 // when that blocking wait times out (ns since epoch)

	timers timerQueue

	writers sync.Pool // *writer: the write side of streams with a write in flight

	objMu   sync.Mutex // guards objs and streams
	objs    *objNode   // open I/O objects other than streams, closed by Close
	streams *stream    // open streams, closed by Close, linked through their own links

	stats         bool        // statistics on (WithStats)
	outside       counters    // statistics of goroutines that are not runners
	allCounters   []*counters // every runner's statistics, for Stats; guarded by mu
	openStreams   atomic.Int64
	openListeners atomic.Int64

	offload offloader // Offload's pool and queue
}

// New creates a Context on the backend chosen by the options (default: Auto, or
// $COIO_BACKEND).
func New(opts ...Option) (*Context, error) {
	cfg := config{backend: proactor.Auto, budget: 128, offload: defaultOffloadSize()}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Context{budget: cfg.budget, epoch: time.Now(), stats: !cfg.noStats, gone: make(chan struct{})}
	be, info, err := proactor.Open(cfg.backend, sink{c})
	if err != nil {
		return nil, fmt.Errorf("iocontext: %w", err)
	}
	if cfg.lendSize != 0 || cfg.lendCount != 0 {
		if err := be.SetLendBuffers(cfg.lendSize, cfg.lendCount); err != nil {
			be.Shutdown()
			return nil, fmt.Errorf("iocontext: %w", err)
		}
	}
	c.be, c.info = be, info
	c.batching = info.Kind == proactor.IOURing || info.Kind == proactor.IOURingLocked
	c.offload.size = cfg.offload
	c.timers.init()
	empty := []*runner{}
	c.runners.Store(&empty)
	return c, nil
}

// Backend reports which backend is live and why it was chosen.
func (c *Context) Backend() proactor.Info { return c.info }

// Context returns c; it makes Context an Executor.
func (c *Context) Context() *Context { return c }

// now is the Context's monotonic clock, in ns since its epoch.
func (c *Context) now() int64 { return int64(time.Since(c.epoch)) }

// sink hands backend completions to the Context's queues.
type sink struct{ c *Context }

func (s sink) Complete(op *proactor.Op) {
	if op.Kind == proactor.OpWrite && op.Err == nil {
		releaseWritten(op)
	}
	s.c.push(task{op: op})
}

// current returns the runner of c that the calling goroutine is, or nil. Goroutines
// are identified by gident (see ARCHITECTURE.md, "Knowing the caller"): a scan of the
// few runners inside a run call, a handful of nanoseconds.
func (c *Context) current() *runner {
	if !gident.Supported {
		return nil
	}
	g := gident.Current()
	for _, r := range *c.runners.Load() {
		if r.g.Load() == g {
			if raw := r.raw.Load(); raw != 0 && raw != gident.Raw() {
				continue // a coroutine's run call, and this is not the coroutine
			}
			return r
		}
	}
	return nil
}

// Post queues h to run on one of c's runners. It never runs h before returning, and h
// counts as outstanding work until it has run. Called from a handler of c, it queues
// h on that runner's own queue (which idle runners steal from); from anywhere else, on
// the shared queue. After Close, h is dropped.
func (c *Context) Post(h func()) {
	if c.closed.Load() && c.active.Load() == 0 {
		return
	}
	r := c.current() // once: the count, the statistics and the queue need it
	c.addWorkFrom(r)
	if c.stats {
		c.countSubmitted(r, proactor.OpPost)
	}
	c.pushFrom(r, task{fn: h})
}

// Dispatch runs h at once when called from a handler that one of c's runners is
// running, and otherwise behaves like Post.
func (c *Context) Dispatch(h func()) {
	if r := c.current(); r != nil && r.inHandler { // r is this goroutine's runner: its field
		h()
		return
	}
	c.Post(h)
}

// Defer queues h as a continuation of the running handler: on this runner's own queue
// when called from a handler of c (so it runs after the current handler returns,
// usually on the same runner), like Post otherwise. It never runs h inline.
func (c *Context) Defer(h func()) { c.Post(h) }

// push queues t, on the current runner's queue when there is one.
func (c *Context) push(t task) { c.pushFrom(c.current(), t) }

// pushFrom is push for a caller that already knows its runner (nil: not a runner).
func (c *Context) pushFrom(r *runner, t task) {
	if r != nil {
		if c.stats && t.op != nil {
			r.st.sample++
			if r.st.sample%latencySample == 0 {
				t.stamp = c.now()
			}
		}
		r.mu.Lock()
		r.q.push(t)
		// Under the lock: stored after it, a thief could empty the queue in between
		// and leave qlen above 0 for an empty queue, which idle runners spin on.
		r.qlen.Store(int32(r.q.len()))
		idle := c.nidle.Load() > 0
		// No runner idle but one waiting in the backend: nothing wakes it for this
		// task, and if this handler waits for the task, nothing ever would
		// (lateCheck; TestHandlerWaitsForOneQueuedBehindIt).
		late := !idle && c.blocked.Load()
		if late && !r.watch {
			r.watch, r.watchPops = true, r.pops
		}
		r.mu.Unlock()
		// Wake an idle runner if there is one: if this runner goes on with a long
		// handler, the idle one takes the task instead of leaving it to wait (steal
		// leaves a lone task to a runner that is between handlers).
		if idle {
			c.notify()
		} else if late {
			c.armLate()
		}
		return
	}
	c.injMu.Lock()
	c.inj.push(t)
	c.injLen.Store(int32(c.inj.len()))
	c.injMu.Unlock()
	c.notify()
}

// addWork counts one more unit of outstanding work.
func (c *Context) addWork() { c.work.Add(1) }

// addWorkFrom is addWork for a caller that knows its runner (nil: not a runner). A
// runner that has finished units it has not yet taken off c.work takes one of those
// instead: c.work still counts it, and now stands for the new work. See
// ARCHITECTURE.md, "Work counting and stopping".
func (c *Context) addWorkFrom(r *runner) {
	if r != nil && r.done > 0 {
		r.done--
		return
	}
	c.work.Add(1)
}

// workDone counts one unit of work finished; the last one stops the Context, so that
// every run call returns (Asio's rule).
func (c *Context) workDone() { c.workDoneN(1) }

// workDoneN counts n units of work finished.
func (c *Context) workDoneN(n int64) {
	if left := c.work.Add(-n); left == 0 {
		c.Stop()
	} else if left < 0 {
		panic("iocontext: outstanding work count went below zero")
	}
}

// WorkGuard keeps a Context's run calls from returning for lack of work while it is
// held (Asio's executor_work_guard).
type WorkGuard struct {
	c    *Context
	held atomic.Bool
}

// NewWorkGuard counts one unit of outstanding work on c until Reset.
func NewWorkGuard(c *Context) *WorkGuard {
	g := &WorkGuard{c: c}
	g.held.Store(true)
	c.addWork()
	return g
}

// Reset releases the guard's work. Only the first call has an effect.
func (g *WorkGuard) Reset() {
	if g.held.CompareAndSwap(true, false) {
		g.c.workDone()
	}
}

// Owns reports whether the guard still holds its work.
func (g *WorkGuard) Owns() bool { return g.held.Load() }
