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

// errUnwind unwinds a coroutine whose Context was closed; the coroutine's wrapper
// recovers it.
var errUnwind = errors.New("coroutine: unwound because its Context was closed")

// what the coroutine is waiting for: started by the runner after the suspension
const (
	waitNone = iota
	waitRead
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

	resumeFn func()           // y.resume, made once
	wakeFn   func()           // y.wake, made once
	starting atomic.Uint32    // startIdle / startRunning / startEarly
	rwFn     func(int, error) // read/write completion, made once
	errFn    func(error)      // timer completion, made once
	accFn    func(*iocontext.TCPConn, error)

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

	inline   int // operations completed in a row without suspending
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
	catch := done != nil
	y.next, y.stop = iter.Pull(func(yield func(struct{}) bool) {
		y.yield = yield
		y.raw = gident.Raw()
		y.borrow()
		defer func() {
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

// borrow takes the identity of the runner that resumed the coroutine (see the package
// documentation); called on the coroutine's goroutine each time it is resumed.
func (y *Yield) borrow() {
	y.slot = gident.Lend(y.raw, y.lender, y.hint)
	y.hint = y.slot
}

// states of the operation start that follows a suspension
const (
	startIdle    = iota // no start in progress: a completion resumes through the executor
	startRunning        // the runner is inside start()
	startEarly          // the operation completed inside start(): the runner resumes
)

// wake is called once per operation, by its completion: it resumes the coroutine
// through its executor, or, when the operation completed inline inside start, leaves
// the resumption to the runner that is starting it (a loop, not a recursion).
func (y *Yield) wake() {
	// The load first: coio's own operations never complete inside their start, so
	// the common case costs no locked instruction here.
	if y.starting.Load() == startRunning && y.starting.CompareAndSwap(startRunning, startEarly) {
		return
	}
	y.ex.Dispatch(y.resumeFn)
}

// resume switches into the coroutine, and on the way out starts the operation it
// suspended on. It runs on a runner, as a handler of the executor.
func (y *Yield) resume() {
	defer y.unwound()
	for {
		y.lender = gident.Current()
		_, ok := y.next()
		gident.Return(y.slot)
		y.slot = -1
		if !ok {
			y.finish()
			return
		}
		if y.wait < waitFunc {
			// coio's own operations complete by a posted handler, never inside
			// their start: no need to watch for an early completion.
			y.start()
			return
		}
		y.starting.Store(startRunning)
		y.start()
		if y.starting.CompareAndSwap(startRunning, startIdle) {
			return // the completion will resume the coroutine
		}
		y.starting.Store(startIdle) // completed inside start: go round
	}
}

// unwound handles a panic that left the coroutine through next: the coroutine is over;
// the panic goes on to the runner.
func (y *Yield) unwound() {
	if v := recover(); v != nil {
		gident.Return(y.slot)
		y.slot = -1
		y.finish()
		panic(v)
	}
}

// finish runs once, when the coroutine has returned or panicked.
func (y *Yield) finish() {
	if y.finished {
		return
	}
	y.finished = true
	y.stop()
	p := y.panicked
	y.panicked = nil
	y.done(p)
}

// start begins the operation the coroutine suspended on; its handler resumes it.
func (y *Yield) start() {
	switch w := y.wait; w {
	case waitRead:
		y.stream.AsyncReadSome(y.buf, y.rwFn)
	case waitReadFull:
		y.stream.AsyncRead(y.buf, y.rwFn)
	case waitWrite:
		y.stream.AsyncWrite(y.buf, y.rwFn)
	case waitWriteSome:
		y.stream.AsyncWriteSome(y.buf, y.rwFn)
	case waitAccept:
		y.ln.AsyncAccept(y.accFn)
	case waitSleep:
		y.timer.AsyncWait(y.errFn)
	case waitPost:
		y.ex.Post(y.resumeFn)
	case waitFunc:
		fn := y.fn
		y.fn = nil
		fn()
	case waitSuspend:
		fn := y.sfn
		y.sfn = nil
		fn(y.wakeFn)
	default:
		panic("coroutine: resumed coroutine suspended without an operation")
	}
}

// suspend records nothing itself: the caller has set y.wait and its arguments. It
// yields to the runner, which starts the operation.
func (y *Yield) suspend(wait int) {
	if y.ctx.Closed() && y.err != nil {
		// The Context is shutting down and the last operation already failed: do
		// not start another, unwind (deferred calls run).
		panic(errUnwind)
	}
	y.wait = wait
	y.err = nil
	y.inline = 0
	if !y.yield(struct{}{}) {
		panic(errUnwind) // stopped without being resumed
	}
	y.borrow()
	y.wait = waitNone
	y.stream, y.buf, y.ln = nil, nil, nil
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

// Read reads into b (some bytes, at least one unless there is an error), as
// AsyncReadSome would deliver: (n, nil), (0, io.EOF) at the end of the stream, or an
// error. When data is already there it is read at once, without suspending.
func (y *Yield) Read(s Stream, b []byte) (int, error) {
	if y.fast() {
		if n, err := s.TryReadSome(b); err != iocontext.ErrWouldBlock {
			y.err = err
			return n, err
		}
	}
	y.stream, y.buf = s, b
	y.suspend(waitRead)
	return y.n, y.err
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

// Accept accepts a connection on l.
func (y *Yield) Accept(l *iocontext.TCPListener) (*iocontext.TCPConn, error) {
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
