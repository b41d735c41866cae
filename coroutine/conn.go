package coroutine

import (
	"net"
	"os"
	"sync"
	"time"

	"github.com/coionet/coio/iocontext"
)

// ConnStream is a stream that a net.Conn view can wrap: *iocontext.TCPConn and
// *iocontext.UnixConn.
type ConnStream interface {
	Stream
	Cancel()
	Close() error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// Conn returns a net.Conn view of s for code written against net.Conn (bufio, io.Copy,
// encoding/*, crypto/tls). Read and Write must be called from the coroutine of y: they
// suspend it like y.Read and y.Write. Close, SetDeadline, SetReadDeadline and
// SetWriteDeadline may be called from any goroutine: a deadline that passes, even while
// a Read or Write is suspended, makes it return os.ErrDeadlineExceeded (a net.Error
// whose Timeout is true), and Close makes it return an error matching net.ErrClosed.
//
// A deadline cancels the stream's pending operation with Cancel, which aborts both
// directions: the view assumes that its coroutine is the only user of s.
func (y *Yield) Conn(s ConnStream) net.Conn {
	v := &connView{y: y, s: s}
	v.opFn = v.onOp
	v.timerFn = v.onTimer
	return v
}

const (
	dirNone = iota
	dirRead
	dirWrite
)

type connView struct {
	y *Yield
	s ConnStream

	opFn    func(int, error) // made once
	timerFn func(error)      // made once

	mu       sync.Mutex // guards everything below; held only briefly, never while suspended
	rdl, wdl time.Time  // deadlines
	timer    *iocontext.Timer
	dir      int  // direction of the operation in flight
	pending  int  // handlers still to run before the coroutine resumes (op, timer)
	armed    bool // the timer has a wait in flight for this operation
	opDone   bool // the operation's handler has run
	timedOut bool // the deadline cancelled the operation
	n        int
	err      error
}

func (v *connView) Read(b []byte) (int, error)  { return v.do(dirRead, b) }
func (v *connView) Write(b []byte) (int, error) { return v.do(dirWrite, b) }

// do runs one operation with its deadline: the coroutine resumes once both the
// operation's handler and (if armed) the deadline timer's handler have run, so a
// late timer can never cancel the next operation.
func (v *connView) do(dir int, b []byte) (int, error) {
	op := "read"
	if dir == dirWrite {
		op = "write"
	}
	if len(b) == 0 && dir == dirRead {
		return 0, nil
	}
	v.mu.Lock()
	dl := v.deadline(dir)
	if !dl.IsZero() && !time.Now().Before(dl) {
		v.mu.Unlock()
		return 0, v.wrap(op, os.ErrDeadlineExceeded)
	}
	v.dir, v.pending, v.opDone, v.timedOut, v.armed = dir, 1, false, false, false
	if !dl.IsZero() {
		v.armLocked(dl)
	}
	v.mu.Unlock()
	v.y.fn = func() {
		if dir == dirRead {
			v.s.AsyncReadSome(b, v.opFn)
		} else {
			v.s.AsyncWrite(b, v.opFn)
		}
	}
	v.y.suspend(waitFunc)
	v.mu.Lock()
	n, err, timedOut := v.n, v.err, v.timedOut
	v.dir = dirNone
	v.mu.Unlock()
	v.y.err = err
	if timedOut && err != nil && errorsIsAborted(err) {
		err = os.ErrDeadlineExceeded
	}
	if err != nil && dir == dirRead && isEOF(err) {
		return n, err // io.EOF unwrapped, as package net
	}
	return n, v.wrap(op, err)
}

func (v *connView) deadline(dir int) time.Time {
	if dir == dirRead {
		return v.rdl
	}
	return v.wdl
}

// armLocked starts a timer wait for the operation in flight.
func (v *connView) armLocked(dl time.Time) {
	if v.timer == nil {
		v.timer = iocontext.NewTimer(v.y.ctx)
	}
	v.armed = true
	v.pending++
	v.timer.ExpiresAt(dl)
	v.timer.AsyncWait(v.timerFn)
}

func (v *connView) onOp(n int, err error) {
	v.mu.Lock()
	v.n, v.err, v.opDone = n, err, true
	if v.armed {
		v.timer.Cancel() // its handler runs soon with ErrAborted and finishes the join
	}
	last := v.release()
	v.mu.Unlock()
	if last {
		v.y.wake()
	}
}

func (v *connView) onTimer(err error) {
	v.mu.Lock()
	if !v.opDone {
		dl := v.deadline(v.dir)
		switch {
		case dl.IsZero():
			// The deadline was cleared while the operation was in flight.
		case time.Now().Before(dl):
			// Moved later (or re-armed by a Set*Deadline): wait again.
			v.timer.ExpiresAt(dl)
			v.timer.AsyncWait(v.timerFn)
			v.mu.Unlock()
			return
		default:
			v.timedOut = true
			v.s.Cancel() // the operation's handler runs with ErrAborted (or its result)
		}
	}
	v.armed = false
	last := v.release()
	v.mu.Unlock()
	if last {
		v.y.wake()
	}
}

// release counts one handler of the join done; true for the last.
func (v *connView) release() bool {
	v.pending--
	return v.pending == 0
}

func (v *connView) setDeadline(dir int, t time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if dir&dirRead != 0 {
		v.rdl = t
	}
	if dir&dirWrite != 0 {
		v.wdl = t
	}
	if v.dir == dirNone || v.opDone || dir&v.dir == 0 {
		return
	}
	// An operation of that direction is suspended: apply the new deadline to it.
	switch {
	case v.armed:
		v.timer.ExpiresAt(time.Now()) // abort the wait: its handler re-reads the deadline
	case !t.IsZero():
		v.armLocked(t)
	}
}

func (v *connView) SetDeadline(t time.Time) error {
	v.setDeadline(dirRead|dirWrite, t)
	return nil
}
func (v *connView) SetReadDeadline(t time.Time) error  { v.setDeadline(dirRead, t); return nil }
func (v *connView) SetWriteDeadline(t time.Time) error { v.setDeadline(dirWrite, t); return nil }
func (v *connView) Close() error                       { return v.s.Close() }
func (v *connView) LocalAddr() net.Addr                { return v.s.LocalAddr() }
func (v *connView) RemoteAddr() net.Addr               { return v.s.RemoteAddr() }

func (v *connView) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*net.OpError); ok {
		return err
	}
	return &net.OpError{Op: op, Net: "coio", Source: v.s.LocalAddr(), Addr: v.s.RemoteAddr(), Err: err}
}
