package iocontext

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coionet/coio/proactor"
)

// ErrClass is the class of an operation's error in statistics.
type ErrClass int

// Error classes, with bounded cardinality for metrics labels.
const (
	ErrClassEOF     ErrClass = iota // orderly end of stream
	ErrClassReset                   // the peer reset the connection or the pipe broke
	ErrClassAborted                 // cancelled, closed, or the Context shut down
	ErrClassTimeout                 // a deadline or timeout passed
	ErrClassOther                   // anything else
	NumErrClasses
)

var errClassNames = [...]string{"eof", "reset", "aborted", "timeout", "other"}

func (e ErrClass) String() string {
	if e >= 0 && e < NumErrClasses {
		return errClassNames[e]
	}
	return "unknown"
}

// NumOpKinds bounds proactor.OpKind values, for arrays indexed by kind.
const NumOpKinds = int(proactor.OpSendTo) + 1

// latencyBounds are the upper bounds of the completion-to-handler latency histogram.
var latencyBounds = [...]time.Duration{
	time.Microsecond, 2 * time.Microsecond, 5 * time.Microsecond,
	10 * time.Microsecond, 20 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, time.Second,
}

// latencySample: one completion in this many is timed from its queueing to its
// handler, so that the clock reads stay off most operations.
const latencySample = 16

// counters are one runner's statistics (or those of the goroutines outside the
// runners). Each is written by its own goroutine and read by Stats with atomic loads,
// so no counter shared between runners is written on the hot path. A runner counts
// its submissions, handlers and waits in plain fields first (own) and adds them to the
// atomic ones every budget of handlers, before it waits for work, and when its run
// call returns (flush): an atomic add is a locked instruction, and the three of each
// posted handler (its submission, the handler count, the completion count) cost 12 ns
// of it (BenchmarkPostChains, one runner: 625–630 ns per handler against 613–614, four
// runs each). Stats is late by at most a budget of handlers of a runner that is busy,
// and exact once it waits or returns. The handler count is the completions' sum.
type counters struct {
	submitted  [NumOpKinds]atomic.Uint64
	completed  [NumOpKinds]atomic.Uint64
	immediate  [NumOpKinds]atomic.Uint64 // made on a Try fast path: submitted and completed, no handler
	errs       [NumOpKinds][NumErrClasses]atomic.Uint64
	waits      atomic.Uint64 // backend waits (epoll_wait), blocking or not
	wakeups    atomic.Uint64 // wake-ups sent: an idle runner signalled, or the backend woken
	ioSyscalls atomic.Uint64 // read/write/accept/connect syscalls made by operations
	runNs      atomic.Int64  // time inside run calls
	idleNs     atomic.Int64  // of which waiting for work
	latency    [len(latencyBounds) + 1]atomic.Uint64
	latSumNs   atomic.Int64
	sample     uint32 // completion counter for latency sampling (owner only)
	own        ownCounts
}

// ownCounts are a runner's counts not yet added to its counters (owner only).
type ownCounts struct {
	submitted, completed, immediate [NumOpKinds]uint64
	waits                           uint64
	dirty                           bool // some count is not zero
}

// flush adds the runner's own counts to the counters Stats reads; the runner's
// goroutine only.
func (st *counters) flush() {
	o := &st.own
	if !o.dirty {
		return
	}
	for k := range NumOpKinds {
		if o.submitted[k] != 0 {
			st.submitted[k].Add(o.submitted[k])
		}
		if o.completed[k] != 0 {
			st.completed[k].Add(o.completed[k])
		}
		if o.immediate[k] != 0 {
			st.immediate[k].Add(o.immediate[k])
		}
	}
	if o.waits != 0 {
		st.waits.Add(o.waits)
	}
	*o = ownCounts{}
}

// countSubmitted counts a submission of kind k by r's goroutine, or by a goroutine
// outside the runners (r nil).
func (c *Context) countSubmitted(r *runner, k proactor.OpKind) {
	if r == nil {
		c.outside.submitted[k].Add(1)
		return
	}
	r.st.own.submitted[k]++
	r.st.own.dirty = true
}

// countTry counts what a Try fast path did, on the calling goroutine's counters: the
// syscalls it made (a try that would block made one too), and, when it made an
// operation (made), that operation, started and finished at once. A try that would
// block made no operation: its operation is counted when it starts. err is the error
// as the caller returns it (io.EOF at the end of a stream comes unwrapped).
func (c *Context) countTry(k proactor.OpKind, made bool, err error, syscalls uint32) {
	if !c.stats || (!made && syscalls == 0) {
		return // nothing to count: spare a would-block try (a lent read's, say) the runner lookup
	}
	var st *counters
	if r := c.current(); r != nil {
		st = r.st
		if made {
			st.own.immediate[k]++
			st.own.dirty = true
		}
	} else {
		st = &c.outside
		if made {
			st.immediate[k].Add(1)
		}
	}
	if syscalls != 0 {
		st.ioSyscalls.Add(uint64(syscalls))
	}
	if err != nil {
		st.errs[k][classify(err)].Add(1)
	}
}

// classify returns the statistics class of an operation's error.
func classify(err error) ErrClass {
	switch {
	case err == io.EOF:
		return ErrClassEOF
	case errors.Is(err, proactor.ErrAborted), errors.Is(err, net.ErrClosed):
		return ErrClassAborted
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrClassTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return ErrClassReset
	}
	return ErrClassOther
}

// counters returns the statistics of the calling goroutine: its runner's, or the
// shared ones of goroutines outside the runners.
func (c *Context) counters() *counters { return c.countersOf(c.current()) }

// countersOf returns r's statistics, or the outside ones for nil.
func (c *Context) countersOf(r *runner) *counters {
	if r != nil {
		return r.st
	}
	return &c.outside
}

// submit starts op on the backend and counts it.
func (c *Context) submit(op *proactor.Op) {
	if !c.stats && !c.batching {
		c.be.Submit(op)
		return
	}
	c.submitFrom(c.current(), op)
}

// submitFrom is submit for a caller that knows its runner (nil: not a runner).
func (c *Context) submitFrom(r *runner, op *proactor.Op) {
	if c.stats {
		c.countSubmitted(r, op.Kind)
	}
	c.be.Submit(op)
	if r == nil && c.batching {
		// Not a runner: no runner's next enter is known to come soon.
		c.be.Flush()
	}
}

// countSubmit counts an operation that completes without reaching the backend.
func (c *Context) countSubmit(k proactor.OpKind) {
	if c.stats {
		c.countSubmitted(c.current(), k)
	}
}

// countDone records a finished task on the runner's counters: op is nil for a posted
// handler.
func (r *runner) countDone(op *proactor.Op, n int, err error, readEOF bool, syscalls uint32, stamp int64) {
	st := r.st
	k := proactor.OpPost
	if op != nil {
		k = op.Kind
		if syscalls != 0 {
			st.ioSyscalls.Add(uint64(syscalls))
		}
		if readEOF {
			st.errs[k][ErrClassEOF].Add(1)
		} else if err != nil {
			st.errs[k][classify(err)].Add(1)
		}
		if stamp != 0 {
			d := time.Duration(r.c.now() - stamp)
			i := 0
			for i < len(latencyBounds) && d > latencyBounds[i] {
				i++
			}
			st.latency[i].Add(1)
			st.latSumNs.Add(int64(d))
		}
	}
	st.own.completed[k]++
	st.own.dirty = true
	_ = n
}

// Stats is a snapshot of what a Context has done, summed over its runners.
//
// An operation made on a Try fast path (TryReadSome, TryWriteSome, TryReadLent,
// TryAccept, …, which AsyncAcceptEach and package coroutine's reads, writes and
// accepts use while data, room or a connection is there) has no handler: it counts in
// Submitted, Completed and Errors, and in Immediate, but not in Handlers. A try that
// would block is not an operation.
type Stats struct {
	Backend proactor.Info // the live backend and why it was chosen

	Handlers  uint64                            // handlers run
	Submitted [NumOpKinds]uint64                // operations started, by proactor.OpKind
	Completed [NumOpKinds]uint64                // operations finished: their handler ran, or they were made on a Try fast path
	Immediate [NumOpKinds]uint64                // of those, made on a Try fast path, without a handler
	Errors    [NumOpKinds][NumErrClasses]uint64 // finished operations with an error, by kind and class
	Latency   Histogram                         // completion queued → handler started (sampled)

	QueueDepth    int     // handlers queued now (shared queue and runners' queues); a busy runner's share may read up to 7 high
	Runners       int     // goroutines inside a run call now
	BusySeconds   float64 // runner time spent running handlers and reaping
	IdleSeconds   float64 // runner time spent waiting for work
	BackendWaits  uint64  // waits in the backend (epoll_wait / kevent / io_uring_enter)
	Wakeups       uint64  // wake-ups sent to idle runners or to the backend
	IOSyscalls    uint64  // read, write, accept and connect syscalls made by operations
	Enters        uint64  // io_uring_enter calls (io_uring backend; 0 on the others)
	OpenStreams   int64   // connections open now
	OpenListeners int64   // listeners open now
	TimersArmed   int     // timers with a pending wait now
	OffloadBusy   int     // offloaded functions running now
	OffloadQueued int     // offloaded functions waiting for a pool goroutine
}

// Histogram is a cumulative latency histogram.
type Histogram struct {
	Bounds []time.Duration // upper bounds of the buckets
	Counts []uint64        // observations ≤ each bound (cumulative), one per bound
	Count  uint64          // all observations
	Sum    time.Duration   // their sum
}

// Stats returns a snapshot of the Context's statistics. It is safe to call at any
// time from any goroutine; the counters are read one by one, so a snapshot taken
// under load is consistent only to within the operations in flight, and a busy
// runner publishes its counts every WithBudget handlers: they are late by at most
// that many until it waits for work or its run call returns. A snapshot taken while a
// runner publishes may hold its new counts of some kinds and its old ones of others.
func (c *Context) Stats() Stats {
	s := Stats{Backend: c.info}
	if ec, ok := c.be.(proactor.EnterCounter); ok {
		s.Enters = ec.Enters()
	}
	c.mu.Lock()
	all := append([]*counters{&c.outside}, c.allCounters...)
	c.mu.Unlock()
	var lat [len(latencyBounds) + 1]uint64
	var latSum int64
	var runNs, idleNs int64
	for _, st := range all {
		for k := range NumOpKinds {
			done, now := st.completed[k].Load(), st.immediate[k].Load()
			s.Submitted[k] += st.submitted[k].Load() + now
			s.Completed[k] += done + now
			s.Immediate[k] += now
			s.Handlers += done // every handler counts one completion
			for e := range NumErrClasses {
				s.Errors[k][e] += st.errs[k][e].Load()
			}
		}
		s.BackendWaits += st.waits.Load()
		s.Wakeups += st.wakeups.Load()
		s.IOSyscalls += st.ioSyscalls.Load()
		runNs += st.runNs.Load()
		idleNs += st.idleNs.Load()
		for i := range lat {
			lat[i] += st.latency[i].Load()
		}
		latSum += st.latSumNs.Load()
	}
	// Run calls still in progress: count their time so far.
	now := c.now()
	for _, r := range *c.runners.Load() {
		if t := r.since.Load(); t != 0 {
			runNs += now - t
		}
		if t := r.idleSince.Load(); t != 0 {
			idleNs += now - t
		}
	}
	s.IdleSeconds = float64(idleNs) / 1e9
	s.BusySeconds = max(float64(runNs-idleNs)/1e9, 0)
	s.Latency.Bounds = latencyBounds[:]
	s.Latency.Counts = make([]uint64, len(latencyBounds))
	var cum uint64
	for i := range latencyBounds {
		cum += lat[i]
		s.Latency.Counts[i] = cum
	}
	s.Latency.Count = cum + lat[len(latencyBounds)]
	s.Latency.Sum = time.Duration(latSum)
	s.QueueDepth = int(c.injLen.Load())
	rs := *c.runners.Load()
	s.Runners = len(rs)
	for _, r := range rs {
		s.QueueDepth += int(r.qlen.Load())
	}
	s.OpenStreams = c.openStreams.Load()
	s.OpenListeners = c.openListeners.Load()
	c.timers.mu.Lock()
	s.TimersArmed = len(c.timers.heap)
	c.timers.mu.Unlock()
	s.OffloadBusy, s.OffloadQueued = c.offload.stats()
	return s
}

// WithStats turns statistics on (the default) or off. Off, the counters are not
// touched at all: bench/ compares the two.
func WithStats(on bool) Option { return func(c *config) { c.noStats = !on } }
