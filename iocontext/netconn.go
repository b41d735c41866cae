package iocontext

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Listen returns a net.Listener driven by c ("tcp", "tcp4", "tcp6" or "unix"), whose
// connections are net.Conns: goroutine-safe and blocking, with deadlines, so that code
// written for package net — http.Serve, tls.Server, anything taking a net.Conn — runs
// unmodified on coio's backends. The Context must be run by some goroutines (Run):
// the adapters block their callers, never a runner. Do not call their blocking methods
// from a handler of c.
func Listen(c *Context, network, address string) (net.Listener, error) {
	switch network {
	case "unix":
		l, err := ListenUnix(c, address)
		if err != nil {
			return nil, err
		}
		a := &listenerAdapter{addr: l.Addr(), close: l.Close, gone: c.gone}
		a.accept = func(h func(*stream, error)) {
			l.AsyncAccept(func(u *UnixConn, err error) {
				if err != nil {
					h(nil, err)
					return
				}
				h(&u.stream, nil)
			})
		}
		return a, nil
	default:
		l, err := ListenTCP(c, network, address)
		if err != nil {
			return nil, err
		}
		a := &listenerAdapter{addr: l.Addr(), close: l.Close, gone: c.gone}
		a.accept = func(h func(*stream, error)) {
			l.AsyncAccept(func(t *TCPConn, err error) {
				if err != nil {
					h(nil, err)
					return
				}
				h(&t.stream, nil)
			})
		}
		return a, nil
	}
}

// Dial connects to address and returns the connection as a blocking net.Conn driven
// by c (see Listen).
func Dial(c *Context, network, address string) (net.Conn, error) {
	if network == "unix" {
		u, err := DialUnix(c, address)
		if err != nil {
			return nil, err
		}
		return newConnAdapter(&u.stream), nil
	}
	t, err := DialTCP(c, network, address)
	if err != nil {
		return nil, err
	}
	return newConnAdapter(&t.stream), nil
}

type acceptResult struct {
	s   *stream
	err error
}

// listenerAdapter is Listen's net.Listener.
type listenerAdapter struct {
	addr   net.Addr
	close  func() error
	accept func(h func(*stream, error))
	gone   <-chan struct{} // the Context's: closed once nothing runs its handlers
	mu     sync.Mutex      // one accept at a time: the listener allows no more
}

func (a *listenerAdapter) Accept() (net.Conn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	done := make(chan acceptResult, 1)
	a.accept(func(s *stream, err error) { done <- acceptResult{s, err} })
	var r acceptResult
	select {
	case r = <-done:
	case <-a.gone:
		r = lastResult(done, acceptResult{err: net.ErrClosed})
	}
	if r.err != nil {
		if errors.Is(r.err, net.ErrClosed) {
			r.err = &net.OpError{Op: "accept", Net: a.addr.Network(), Addr: a.addr, Err: net.ErrClosed}
		}
		return nil, r.err
	}
	return newConnAdapter(r.s), nil
}

func (a *listenerAdapter) Close() error   { return a.close() }
func (a *listenerAdapter) Addr() net.Addr { return a.addr }

type ioResult struct {
	n   int
	err error
}

// deadline is one direction's deadline; waiters learn of a change through ch, which
// is closed and replaced on every Set.
type deadline struct {
	mu sync.Mutex
	t  time.Time
	ch chan struct{}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	d.t = t
	if d.ch != nil {
		close(d.ch)
	}
	d.ch = make(chan struct{})
	d.mu.Unlock()
}

func (d *deadline) get() (time.Time, chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.t, d.ch
}

// connAdapter is the blocking net.Conn over a stream.
type connAdapter struct {
	s        *stream
	rmu, wmu sync.Mutex // one Read and one Write at a time, as the stream allows
	rd, wd   deadline
	rres     chan ioResult // the read's completion, delivered by its handler
	wres     chan ioResult
	rh, wh   func(int, error)
	closed   atomic.Bool
}

func newConnAdapter(s *stream) *connAdapter {
	a := &connAdapter{s: s, rres: make(chan ioResult, 1), wres: make(chan ioResult, 1)}
	a.rh = func(n int, err error) { a.rres <- ioResult{n, err} }
	a.wh = func(n int, err error) { a.wres <- ioResult{n, err} }
	return a
}

func (a *connAdapter) opErr(op string, err error) error {
	switch {
	case err == nil || err == io.EOF:
		return err
	case errors.Is(err, net.ErrClosed):
		err = net.ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = os.ErrDeadlineExceeded
	default:
		if oe, ok := err.(*net.OpError); ok {
			return oe
		}
	}
	return &net.OpError{Op: op, Net: a.s.network(), Source: a.s.LocalAddr(), Addr: a.s.RemoteAddr(), Err: err}
}

// connHookReadSubmit, when set by a test, runs in Read between the try and the submit.
var connHookReadSubmit func()

// lastResult is what a blocking call whose Context has closed returns: the result its
// handler sent, if it ran (Close runs every handler due before it returns), else
// closed. An op submitted after Close had drained its queues completes with its
// handler queued where nothing runs it any more; the call must not wait for it
// (found when nettest's reader, between its try and its submit, lost the race with
// the test's Close).
func lastResult[T any](res chan T, closed T) T {
	select {
	case r := <-res:
		return r
	default:
		return closed
	}
}

// wait waits for one direction's completion, cancelling the operation when the
// deadline passes; the result of a cancelled operation that completed anyway stands.
func (a *connAdapter) wait(d *deadline, res chan ioResult, cancel func()) ioResult {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	timedOut := false
	for {
		t, changed := d.get()
		var expired <-chan time.Time
		if !t.IsZero() && !timedOut {
			dl := time.Until(t)
			if dl <= 0 {
				timedOut = true
				cancel()
				continue
			}
			if timer == nil {
				timer = time.NewTimer(dl)
			} else {
				timer.Reset(dl)
			}
			expired = timer.C
		}
		select {
		case r := <-res:
			if timedOut && errors.Is(r.err, ErrAborted) && !errors.Is(r.err, net.ErrClosed) {
				r.err = os.ErrDeadlineExceeded
			}
			return r
		case <-expired:
			timedOut = true
			cancel()
		case <-a.s.c.gone:
			return lastResult(res, ioResult{err: net.ErrClosed})
		case <-changed:
			if timer != nil {
				timer.Stop()
			}
		}
	}
}

func (a *connAdapter) Read(b []byte) (int, error) {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	if a.closed.Load() {
		return 0, a.opErr("read", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	if t, _ := a.rd.get(); !t.IsZero() && !time.Now().Before(t) {
		return 0, a.opErr("read", os.ErrDeadlineExceeded)
	}
	if n, err := a.s.TryReadSome(b); err != ErrWouldBlock {
		return n, a.opErr("read", err)
	}
	if connHookReadSubmit != nil {
		connHookReadSubmit()
	}
	a.s.AsyncReadSome(b, a.rh)
	r := a.wait(&a.rd, a.rres, func() { a.s.c.be.CancelOp(&a.s.rop) })
	return r.n, a.opErr("read", r.err)
}

func (a *connAdapter) Write(b []byte) (int, error) {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	if a.closed.Load() {
		return 0, a.opErr("write", net.ErrClosed)
	}
	done := 0
	for done < len(b) {
		if t, _ := a.wd.get(); !t.IsZero() && !time.Now().Before(t) {
			return done, a.opErr("write", os.ErrDeadlineExceeded)
		}
		n, err := a.s.TryWriteSome(b[done:])
		if err == ErrWouldBlock {
			a.s.AsyncWrite(b[done:], a.wh)
			r := a.wait(&a.wd, a.wres, func() { a.s.cancelWrite() })
			return done + r.n, a.opErr("write", r.err)
		}
		done += n
		if err != nil {
			return done, a.opErr("write", err)
		}
	}
	return done, nil
}

func (a *connAdapter) Close() error {
	if !a.closed.CompareAndSwap(false, true) {
		return a.opErr("close", net.ErrClosed)
	}
	return a.s.Close()
}

func (a *connAdapter) LocalAddr() net.Addr  { return a.s.LocalAddr() }
func (a *connAdapter) RemoteAddr() net.Addr { return a.s.RemoteAddr() }

func (a *connAdapter) SetDeadline(t time.Time) error {
	a.rd.set(t)
	a.wd.set(t)
	return nil
}
func (a *connAdapter) SetReadDeadline(t time.Time) error  { a.rd.set(t); return nil }
func (a *connAdapter) SetWriteDeadline(t time.Time) error { a.wd.set(t); return nil }

// CloseWrite shuts the writing side (the peer reads io.EOF), as *net.TCPConn does.
func (a *connAdapter) CloseWrite() error { return a.s.CloseWrite() }

// CloseRead shuts the reading side.
func (a *connAdapter) CloseRead() error { return a.s.CloseRead() }
