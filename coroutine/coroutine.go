package coroutine

import (
	"errors"
	"io"
	"iter"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/iocontext"
)

// Stream is what Read and Write work on: *iocontext.TCPConn and *iocontext.UnixConn.
type Stream interface {
	TryReadSome(b []byte) (int, error)
	TryWriteSome(b []byte) (int, error)
	AsyncReadSome(b []byte, h func(int, error))
	AsyncRead(b []byte, h func(int, error))
	AsyncWriteSome(b []byte, h func(int, error))
	AsyncWrite(b []byte, h func(int, error))
}

// LentStream is what ReadLent works on: a Stream that reads into buffers its Context
// lends, as *iocontext.TCPConn and *iocontext.UnixConn do.
type LentStream interface {
	Stream
	TryReadLent() (iocontext.LentBuffer, error)
	AsyncReadLent(h func(b iocontext.LentBuffer, err error))
}

// errUnwind unwinds a coroutine whose Context was closed; the coroutine's wrapper
// recovers it.
var errUnwind = errors.New("coroutine: unwound because its Context was closed")

// what the coroutine is waiting for: started by the runner after the suspension
const (
	waitNone = iota
	waitRead
	waitReadLent
	waitReadFull
	waitWrite
	waitWriteSome
	waitAccept
	waitSleep
	waitPost
	waitFunc
	waitSuspend
)

// Yield is a coroutine's handle on its executor: its methods suspend the coroutine
// until an operation completes. A Yield belongs to its coroutine and must only be used
// from it.
type Yield struct {
	ex  iocontext.Executor
	ctx *iocontext.Context

	next   func() (struct{}, bool) // resumes the coroutine (iter.Pull)
	stop   func()
	yield  func(struct{}) bool // suspends it (inside the coroutine)
	raw    uintptr             // the coroutine goroutine's own identity
	lender uintptr             // identity of the runner resuming it
	slot   int                 // its gident loan, -1 when none
	hint   int                 // the slot of its last loan

	resumeFn func() // y.resume, made once
	wakeFn   func() // y.wake, made once
	// startIdle, startEarly, or the startMark of the runner starting a Suspend or
	// Await operation. A plain word written by that runner and read or swapped
	// atomically by a completion that may run elsewhere: see resume and wake.
	starting uintptr
	rwFn     func(int, error) // read/write completion, made once
	errFn    func(error)      // timer completion, made once
	accFn    func(*iocontext.TCPConn, error)
	lentFn   func(iocontext.LentBuffer, error) // lent read completion, made once

	// the pending operation, set by the coroutine before it suspends
	wait   int
	stream Stream
	buf    []byte
	ln     *iocontext.TCPListener
	fn     func()
	sfn    func(resume func())
	timer  *iocontext.Timer

	// its result, set by the completion handler before the resume
	n    int
	err  error
	conn *iocontext.TCPConn
	lent iocontext.LentBuffer

	inline   int // operations completed in a row without suspending
	misses   int // reads in a row whose fast path found nothing there (up to readMisses)
	skipped  int // reads since the last fast-path probe while misses is at readMisses
	done     func(panicked any)
	panicked any
	finished bool
}

// Spawn starts fn as a coroutine on ex. It runs first on a runner of ex's Context
// (never inside Spawn), and counts as outstanding work until it returns. A panic in fn
// propagates out of the run call of the runner that resumed it.
func Spawn(ex iocontext.Executor, fn func(y *Yield)) { spawn(ex, fn, nil) }

// SpawnWith is Spawn with a completion handler, called on a runner when fn returns:
// with nil, or with the value fn panicked with (the panic is then not propagated).
func SpawnWith(ex iocontext.Executor, fn func(y *Yield), done func(panicked any)) {
	if done == nil {
		done = func(any) {}
	}
	spawn(ex, fn, done)
}

func spawn(ex iocontext.Executor, fn func(y *Yield), done func(any)) {
	ctx := ex.Context()
	if ctx.Closed() {
		return // nothing can run any more; starting a goroutine would leak it
	}
	y := &Yield{ex: ex, ctx: ctx, slot: -1, hint: -1}
	y.resumeFn = y.resume
	y.wakeFn = y.wake
	y.rwFn = func(n int, err error) { y.n, y.err = n, err; y.wake() }
	y.errFn = func(err error) { y.err = err; y.wake() }
	y.accFn = func(c *iocontext.TCPConn, err error) { y.conn, y.err = c, err; y.wake() }
	y.lentFn = func(b iocontext.LentBuffer, err error) { y.lent, y.err = b, err; y.wake() }
	catch := done != nil
	y.next, y.stop = iter.Pull(func(yield func(struct{}) bool) {
		y.yield = yield
		y.raw = gident.Raw()
		y.lend() // the first time only: the runner did not know y.raw yet
		defer func() {
			// Give the loan back before this goroutine exits: once it has, its g may
			// be reused by a new goroutine, which must not find the loan.
			gident.Return(y.slot)
			y.slot = -1
			v := recover()
			if v == nil || v == errUnwind {
				return
			}
			if catch {
				y.panicked = v
				return
			}
			if _, ok := v.(*iocontext.PanicError); !ok {
				v = &iocontext.PanicError{Value: v, Stack: debug.Stack()}
			}
			panic(v) // reaches the runner through next, and out of its run call
		}()
		fn(y)
	})
	// The coroutine is outstanding work from here until it returns.
	guard := iocontext.NewWorkGuard(ctx)
	y.done = func(p any) {
		guard.Reset()
		if done != nil {
			done(p)
		}
	}
	ex.Post(y.resumeFn)
}

// lend lends the coroutine the identity of the runner that resumes it (see the
// package documentation). The runner calls it before each switch into the coroutine
// that does not still hold its loan, so that the coroutine has nothing to do but
// return to its caller when it is back (see suspend).
func (y *Yield) lend() {
	y.slot = gident.Lend(y.raw, y.lender, y.hint)
	if y.slot >= 0 {
		y.hint = y.slot
	}
}

// release ends the coroutine's loan; called by the runner, while the coroutine is
// suspended, before anything can let another runner resume it.
func (y *Yield) release() {
	gident.Return(y.slot)
	y.slot = -1
}

// states of the start of a Suspend or Await operation; while a runner is inside it,
// y.starting holds the runner's startMark instead
const (
	startIdle  = 0 // no start in progress: a completion resumes through the executor
	startEarly = 1 // the operation completed inside start: the runner resumes
)

// startMark is the value of y.starting while the calling goroutine is inside the
// start of a Suspend or Await operation: its g (at least 8-aligned, so the low bits
// are free) with a bit set so that it can be neither startIdle nor startEarly, even
// where gident is not supported (Raw is 0).
func startMark() uintptr { return gident.Raw() | 2 }

// wake is called once per operation, by its completion: it resumes the coroutine
// through its executor, or, when the operation completed inside its start, leaves the
// resumption to the runner that is starting it (a loop, not a recursion).
func (y *Yield) wake() {
	// A plain load on amd64 and arm64: coio's own operations never complete inside
	// their start, so they pay no locked instruction here.
	s := atomic.LoadUintptr(&y.starting)
	if s > startEarly {
		if gident.Supported && s == startMark() {
			// Called back from inside the start, on the goroutine running it: no
			// other goroutine can touch y.starting before the start returns (the
			// one completion of this operation is this call), so a plain store
			// will do, and a completion inside its start pays no locked
			// instruction either.
			y.starting = startEarly
			return
		}
		if atomic.CompareAndSwapUintptr(&y.starting, s, startEarly) {
			return // still inside start, on another goroutine: the runner resumes
		}
	}
	y.ex.Dispatch(y.resumeFn)
}

// resume switches into the coroutine, and on the way out starts the operation it
// suspended on. It runs on a runner, as a handler of the executor.
func (y *Yield) resume() {
	defer y.unwound()
	y.lender = gident.Current()
	mark := startMark()
	for {
		if y.slot < 0 { // else kept from the last round: same runner, same identity
			y.lend()
		}
		_, ok := y.next()
		if !ok {
			y.release()
			y.finish()
			return
		}
		if y.err != nil {
			if y.ctx.Closed() {
				// The Context is shutting down and the last operation failed:
				// rather than start another, stop the coroutine, which unwinds it
				// (its deferred calls run, still with the loan, which it gives
				// back).
				y.finish()
				y.release()
				return
			}
			y.err = nil
		}
		y.inline = 0
		if y.wait < waitFunc {
			// coio's own operations complete by a posted handler, never inside
			// their start: no need to watch for an early completion. Their handler
			// may resume the coroutine on another runner at once: no loan may
			// survive the start.
			y.release()
			y.start()
			return
		}
		// Suspend and Await: their start may complete the operation before it
		// returns, on this goroutine or another one. Nothing can resume the
		// coroutine before the start returns (wake leaves it to this loop), so the
		// loan is kept through it, and an early completion goes round without a
		// Return and a Lend. The plain store is safe: every completion of an
		// earlier operation happened before this resumption, and this operation's
		// has not started.
		y.starting = mark
		if y.wait == waitSuspend {
			fn := y.sfn
			y.wait, y.sfn = waitNone, nil
			fn(y.wakeFn)
		} else { // waitFunc: Await
			fn := y.fn
			y.wait, y.fn = waitNone, nil
			fn()
		}
		if atomic.LoadUintptr(&y.starting) == startEarly {
			continue
		}
		y.release() // before the CAS: from then on another runner may resume it
		if atomic.CompareAndSwapUintptr(&y.starting, mark, startIdle) {
			return // the completion will resume the coroutine
		}
		// completed between the load and the CAS: go round (and lend again)
	}
}

// unwound handles a panic that left the coroutine through next, or an operation's
// start: the coroutine is over (stopped if need be); the panic goes on to the runner.
func (y *Yield) unwound() {
	if v := recover(); v != nil {
		y.release()
		y.finish()
		panic(v)
	}
}

// finish runs once, when the coroutine has returned or panicked, or to unwind it.
func (y *Yield) finish() {
	if y.finished {
		return
	}
	y.finished = true
	// Deferred: a deferred call of the coroutine may panic while stop unwinds it, and
	// the work guard must be released all the same.
	defer func() {
		p := y.panicked
		y.panicked = nil
		y.done(p)
	}()
	y.stop()
}

// start begins the I/O operation, timer wait or Post the coroutine suspended on; its
// handler resumes it. (resume starts Suspend's and Await's itself.)
func (y *Yield) start() {
	w, s, b, l := y.wait, y.stream, y.buf, y.ln
	// Cleared before the operation starts, after which its completion may resume the
	// coroutine elsewhere: a parked coroutine keeps no buffer alive.
	y.wait, y.stream, y.buf, y.ln = waitNone, nil, nil, nil
	switch w {
	case waitRead:
		s.AsyncReadSome(b, y.rwFn)
	case waitReadLent:
		s.(LentStream).AsyncReadLent(y.lentFn) // ReadLent stored a LentStream
	case waitReadFull:
		s.AsyncRead(b, y.rwFn)
	case waitWrite:
		s.AsyncWrite(b, y.rwFn)
	case waitWriteSome:
		s.AsyncWriteSome(b, y.rwFn)
	case waitAccept:
		l.AsyncAccept(y.accFn)
	case waitSleep:
		y.timer.AsyncWait(y.errFn)
	case waitPost:
		y.ex.Post(y.resumeFn)
	default:
		panic("coroutine: resumed coroutine suspended without an operation")
	}
}

// suspend yields to the runner, which starts the operation the caller has recorded
// (y.wait and its arguments) and resumes the coroutine when it completes.
//
// It is kept small enough to be inlined, and everything done around the switch back
// is done by the runner (resume, start): after a goroutine switch the CPU's return
// stack holds the other goroutine's calls, so every return until the next call is
// mispredicted, and each frame left between the switch and the caller costs one.
func (y *Yield) suspend(wait int) {
	y.wait = wait
	if !y.yield(struct{}{}) {
		// Stopped instead of resumed (y.finish): unwind, so deferred calls run.
		panic(errUnwind)
	}
}

// inlineBudget bounds how many operations in a row a coroutine completes without
// suspending (its fast path: data already there, room in the socket): then it
// suspends once anyway, so a connection that is always ready cannot keep its runner
// from everything else. The same figure as the Context's handler budget.
const inlineBudget = 128

// fast reports whether the next operation may try the fast path.
func (y *Yield) fast() bool {
	y.inline++
	if y.inline < inlineBudget {
		return true
	}
	y.inline = 0
	return false
}

// Reads whose fast path keeps finding nothing (a request/response connection: the
// next request comes only after the reply) stop trying it after readMisses in a row,
// but for one read in readProbe, which tells when data starts to wait (a pipelining
// peer). A try that finds nothing is a wasted syscall, and on io_uring a lock as well:
// at 64 B × 100 connections × depth 1, 1.07 read syscalls per message on top of the
// requests that then received each message.
const (
	readMisses = 2
	readProbe  = 8
)

// readFast reports whether a read may try the fast path.
func (y *Yield) readFast() bool {
	if y.misses >= readMisses {
		if y.skipped++; y.skipped < readProbe {
			return false
		}
		y.skipped = 0
	}
	return y.fast()
}

// readTried records what a read's fast path found: data (or an error), or nothing.
func (y *Yield) readTried(found bool) {
	switch {
	case found:
		y.misses = 0
	case y.misses < readMisses:
		y.misses++
	}
}

// Read reads into b (some bytes, at least one unless there is an error), as
// AsyncReadSome would deliver: (n, nil), (0, io.EOF) at the end of the stream, or an
// error. When data is already there it is read at once, without suspending (unless
// the connection's reads have lately found nothing there: see readMisses).
func (y *Yield) Read(s Stream, b []byte) (int, error) {
	if y.readFast() {
		n, err := s.TryReadSome(b)
		y.readTried(err != iocontext.ErrWouldBlock)
		if err != iocontext.ErrWouldBlock {
			y.err = err
			return n, err
		}
	}
	y.stream, y.buf = s, b
	y.suspend(waitRead)
	return y.n, y.err
}

// ReadLent reads into a buffer lent by the Context, as AsyncReadLent: it returns the
// bytes that came (at least one), (LentBuffer{}, io.EOF) at the end of the stream, or
// the zero LentBuffer and an error. While the coroutine waits its connection holds no
// read buffer, and a read takes everything received so far, up to the rest of a
// pooled buffer (64 KiB by default): a server with many mostly idle connections, or
// one whose peers send many requests at once, needs neither a buffer per connection
// nor a read per request. The caller owns the buffer until it calls Release, which it
// must do once it is done with b.B, for instance after writing it back with Write.
// When data is already there it is taken at once, without suspending, as Read does.
func (y *Yield) ReadLent(s LentStream) (iocontext.LentBuffer, error) {
	if y.readFast() {
		b, err := s.TryReadLent()
		y.readTried(err != iocontext.ErrWouldBlock)
		if err != iocontext.ErrWouldBlock {
			y.err = err
			return b, err
		}
	}
	y.stream = s
	y.suspend(waitReadLent)
	b := y.lent
	y.lent = iocontext.LentBuffer{}
	return b, y.err
}

// ReadFull reads until b is full, as AsyncRead.
func (y *Yield) ReadFull(s Stream, b []byte) (int, error) { return y.all(s, b, waitReadFull) }

// Write writes all of b, as AsyncWrite. What the socket takes at once is written
// without suspending.
func (y *Yield) Write(s Stream, b []byte) (int, error) { return y.all(s, b, waitWrite) }

// all transfers the whole of b: at once while the socket allows (the fast path), then
// the rest by the asynchronous operation wait (waitReadFull or waitWrite).
func (y *Yield) all(s Stream, b []byte, wait int) (int, error) {
	done := 0
	if y.fast() {
		for done < len(b) {
			var n int
			var err error
			if wait == waitReadFull {
				n, err = s.TryReadSome(b[done:])
			} else {
				n, err = s.TryWriteSome(b[done:])
			}
			if err == iocontext.ErrWouldBlock {
				break
			}
			done += n
			if err != nil {
				y.err = err
				return done, err
			}
		}
		if done == len(b) {
			return done, nil
		}
	}
	y.stream, y.buf = s, b[done:]
	y.suspend(wait)
	return done + y.n, y.err
}

// WriteSome writes some of b, as AsyncWriteSome.
func (y *Yield) WriteSome(s Stream, b []byte) (int, error) {
	if y.fast() {
		if n, err := s.TryWriteSome(b); err != iocontext.ErrWouldBlock {
			y.err = err
			return n, err
		}
	}
	y.stream, y.buf = s, b
	y.suspend(waitWriteSome)
	return y.n, y.err
}

// Accept accepts a connection on l. One already waiting is taken at once, without
// suspending (TryAccept, within the inline budget), so that a listener whose
// connections arrive while the runners are busy drains them in one turn: suspended
// for each, the accepting coroutine got one connection per round of the runners'
// queues, and at 4 KiB × 1,000 connections × depth 16 a hundred connections still in
// the listen queue when the load began waited seconds (ARCHITECTURE.md, "Connections
// accepted one per round").
func (y *Yield) Accept(l *iocontext.TCPListener) (*iocontext.TCPConn, error) {
	if y.fast() {
		if c, err := l.TryAccept(); err != iocontext.ErrWouldBlock {
			y.err = err
			return c, err
		}
	}
	y.ln = l
	y.suspend(waitAccept)
	c := y.conn
	y.conn = nil
	return c, y.err
}

// Dial connects to address on network ("tcp", "tcp4", "tcp6").
func (y *Yield) Dial(network, address string) (*iocontext.TCPConn, error) {
	var conn *iocontext.TCPConn
	err := Await(y, func(h func(error)) {
		iocontext.AsyncDialTCP(y.ctx, network, address, func(c *iocontext.TCPConn, err error) {
			conn = c
			h(err)
		})
	})
	return conn, err
}

// Sleep suspends the coroutine for d. It returns nil, or ErrAborted when the Context
// was closed meanwhile.
func (y *Yield) Sleep(d time.Duration) error {
	if y.timer == nil {
		y.timer = iocontext.NewTimer(y.ctx)
	}
	y.timer.ExpiresAfter(d)
	y.suspend(waitSleep)
	return y.err
}

// Post suspends the coroutine and queues its resumption on its executor, letting the
// handlers queued meanwhile run first.
func (y *Yield) Post() {
	y.suspend(waitPost)
}

// Suspend suspends the coroutine and, once it is suspended, calls start on a runner
// with a resume function; the coroutine goes on when something calls resume, exactly
// once: an operation's completion handler, another goroutine, or start itself. It is
// the primitive under every other method, for integrating other asynchronous sources;
// with a start function made once it allocates nothing.
func (y *Yield) Suspend(start func(resume func())) {
	y.sfn = start
	y.suspend(waitSuspend)
}

// Context returns the Context the coroutine runs on.
func (y *Yield) Context() *iocontext.Context { return y.ctx }

// Executor returns the executor the coroutine was spawned on.
func (y *Yield) Executor() iocontext.Executor { return y.ex }

// Await turns any asynchronous operation into a sequential call: start is called on a
// runner once the coroutine has suspended, starts the operation with the handler it is
// given, and Await returns the value the operation completes with.
func Await[T any](y *Yield, start func(h func(T))) T {
	var result T
	y.fn = func() {
		start(func(v T) {
			result = v
			y.wake()
		})
	}
	y.suspend(waitFunc)
	if err, ok := any(result).(error); ok {
		y.err = err // lets a closed Context unwind a coroutine that ignores errors
	}
	return result
}

func errorsIsAborted(err error) bool { return errors.Is(err, iocontext.ErrAborted) }

func isEOF(err error) bool { return err == io.EOF }
