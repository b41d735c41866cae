package iocontext

import (
	"errors"
	"net"
	"sync/atomic"

	"github.com/coionet/coio/proactor"
	"golang.org/x/sys/unix"
)

// acceptor is the part of TCPListener and UnixListener that accepts: its FD, its one
// accept op, and the back-off after descriptor exhaustion.
type acceptor struct {
	c    *Context
	netw string
	addr net.Addr
	fd   proactor.FD
	node objNode
	aop  proactor.Op
	kind acceptorKind

	accepting atomic.Bool // an accept is in flight (or waiting out a back-off)
	closed    atomic.Bool

	backoff   int64  // current back-off (ns), 0 when the last accept did not run out of fds
	retryAt   int64  // no accept syscall before this time (ns since the Context's epoch)
	retry     *Timer // waits out the back-off; made on first use
	retryWait func(error)

	ex        Executor // SetExecutor's executor, nil for direct delivery
	deliverFn func()
	fdRes     int
	errRes    error
}

// acceptorKind is what an acceptor reports to its listener.
type acceptorKind interface {
	accepted(fd int, err error)
	shutdowner
}

func (a *acceptor) openAcceptor(c *Context, fd int, netw string, kind acceptorKind) error {
	if c.closed.Load() {
		unix.Close(fd)
		return ErrContextClosed
	}
	a.c, a.netw, a.kind = c, netw, kind
	a.aop = proactor.Op{Kind: proactor.OpAccept, FD: &a.fd, Done: a.acceptDone}
	// Made now, not at the first back-off: Close and Cancel read it from any
	// goroutine, and a field set later by a runner would race with them.
	a.retry = NewTimer(c)
	a.retryWait = a.backoffDone
	if sa, err := unix.Getsockname(fd); err == nil {
		a.addr = sockaddrToAddr(sa)
		if ua, ok := a.addr.(*net.UnixAddr); ok {
			ua.Net = netw
		}
	}
	if err := c.be.Register(&a.fd, fd); err != nil {
		unix.Close(fd)
		return err
	}
	if err := c.register(&a.node, kind); err != nil {
		c.be.Close(&a.fd)
		return err
	}
	c.openListeners.Add(1)
	return nil
}

func (a *acceptor) begin() bool { return a.accepting.CompareAndSwap(false, true) }

func (a *acceptor) end() { a.accepting.Store(false) }

// submit starts the accept, or first waits out the back-off.
func (a *acceptor) submit() {
	c := a.c
	c.addWork()
	if a.retryAt != 0 && c.now() < a.retryAt && !a.fd.Closing() {
		a.retry.ExpiresAt(c.epoch.Add(timeDuration(a.retryAt)))
		a.retry.AsyncWait(a.retryWait)
		if a.fd.Closing() {
			// A Close between the check above and the wait found no wait to
			// cancel: end it now rather than at the back-off's end (up to 1 s).
			a.retry.Cancel()
		}
		return
	}
	c.submit(&a.aop)
}

// backoffDone runs when the back-off timer fires (or is cancelled): the accept's unit
// of work, counted in submit, is still outstanding and goes to the real accept.
func (a *acceptor) backoffDone(err error) {
	if err != nil || a.fd.Closing() {
		// Complete the accept as aborted, as its own queued completion: that task
		// settles the accept's unit of work.
		a.aop.N, a.aop.Err = -1, ErrAborted
		if a.fd.Closing() {
			a.aop.Err = proactor.ErrAbortedClosed
		}
		a.c.push(task{op: &a.aop})
		return
	}
	a.retryAt = 0
	a.c.submit(&a.aop)
}

// tryAccept accepts now, on the calling goroutine, a connection that is already
// waiting: its descriptor, or an error for the listener's user; ErrWouldBlock when
// none is waiting or while a back-off after descriptor exhaustion runs (the
// asynchronous accept waits it out), ErrBusy while an accept is in flight.
func (a *acceptor) tryAccept() (int, error) {
	if !a.begin() {
		return -1, ErrBusy
	}
	defer a.end()
	if a.retryAt != 0 && a.c.now() < a.retryAt {
		return -1, ErrWouldBlock
	}
	op := &a.aop
	ok := a.c.be.TryNow(op)
	fd, err, sys := op.N, op.Err, op.Syscalls
	op.N, op.Err, op.Syscalls = 0, nil, 0
	if !ok {
		a.c.countTry(proactor.OpAccept, false, nil, sys)
		return -1, ErrWouldBlock
	}
	err = a.settle(err)
	a.c.countTry(proactor.OpAccept, true, err, sys)
	if err != nil {
		return -1, err
	}
	return fd, nil
}

// settle records what one accept's result means for the back-off and returns the
// error as the listener's user sees it. A success ends the back-off; a failure other
// than a cancel or a close starts or doubles it. Running out of descriptors or memory
// (EMFILE, ENFILE, ENOBUFS, ENOMEM) leaves the connection queued, so a loop that
// accepts again from its handler would meet it again at once, as it would an error
// that does not depend on the connection (EINVAL once the listening socket is shut
// down, EPERM from a seccomp filter). An error that uses up its connection (EPROTO,
// ENETDOWN) could not spin; for those the pause costs the next connection 5 ms.
func (a *acceptor) settle(err error) error {
	switch {
	case err == nil:
		a.backoff, a.retryAt = 0, 0
		return nil
	case errors.Is(err, proactor.ErrAborted) || errors.Is(err, net.ErrClosed):
	default:
		a.backoff = min(max(2*a.backoff, int64(minAcceptBackoff)), int64(maxAcceptBackoff))
		a.retryAt = a.c.now() + a.backoff
	}
	return opError("accept", a.netw, a.Addr, nil, err)
}

// openErr is what an accept's handler, or TryAccept, gets when the connection it took
// cannot be opened: the Context closing under it is a shutdown, which aborts
// (ErrAborted, and net.ErrClosed: the listener closes with its Context), as every
// other handler cut off by it is.
func openErr(err error) error {
	if err == ErrContextClosed {
		return proactor.ErrAbortedClosed
	}
	return err
}

func (a *acceptor) acceptDone(op *proactor.Op) {
	fd, err := op.N, op.Err
	if err != nil {
		fd = -1
	}
	a.deliver(fd, err)
}

// deliver hands one result to the listener. The unit of work of the accept is settled
// by the runner after this returns.
func (a *acceptor) deliver(fd int, err error) {
	err = a.settle(err)
	if a.ex != nil {
		a.fdRes, a.errRes = fd, err
		a.ex.Dispatch(a.deliverFn)
		return
	}
	a.kind.accepted(fd, err)
}

// SetExecutor makes the listener's accept handlers run through ex (a strand, say)
// instead of directly on the runner that completes the accept. nil restores direct
// delivery.
func (a *acceptor) SetExecutor(ex Executor) {
	if ex == nil || ex == Executor(a.c) {
		a.ex = nil
		return
	}
	a.ex = ex
	a.deliverFn = func() { a.kind.accepted(a.fdRes, a.errRes) }
}

// Addr returns the address the listener is bound to.
func (a *acceptor) Addr() net.Addr { return a.addr }

// Cancel aborts the accept in flight: its handler gets ErrAborted.
func (a *acceptor) Cancel() {
	a.c.be.Cancel(&a.fd)
	a.retry.Cancel()
}

// Close stops listening; the accept in flight completes with an error matching
// ErrAborted and net.ErrClosed. A second Close returns net.ErrClosed.
func (a *acceptor) Close() error {
	if !a.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	a.c.unregister(&a.node)
	err := a.c.be.Close(&a.fd)
	if err == nil {
		a.c.openListeners.Add(-1)
	}
	a.retry.Cancel()
	return err
}

func (a *acceptor) shutdown() { a.Close() }
