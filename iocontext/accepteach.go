package iocontext

import (
	"errors"
	"net"
)

// acceptDrain is how many connections one turn of an AsyncAcceptEach loop takes with
// TryAccept after the one its accept brought, before it accepts again: enough that
// a burst is taken in a few turns, few enough that one turn does not keep the runner
// from the handlers queued behind it for long.
const acceptDrain = 64

// AsyncAcceptEach accepts connections until the listener is closed, calling h with
// each new connection (err == nil). It is the accept loop a server under load wants:
// each accept's handler waits its turn behind every other, so a loop that accepts
// one connection per handler takes a burst one per round of the queue (a burst of
// 1,000 connections into a server busy with 1,000 others waited up to 5 s that way);
// this one takes the connections already waiting (TryAccept, up to 64) before it
// accepts again, as an event loop does.
//
// h gets (nil, err) for an accept error the loop survives, such as running out of
// descriptors (the next accept then backs off, as AsyncAccept's doc says), and the
// loop goes on. The loop ends when the listener (or its Context) is closed, with one
// last call h(nil, err), err matching ErrAborted and net.ErrClosed. Cancel ends it
// with ErrAborted when it finds the loop's accept in flight; like any Cancel it aborts
// only what is in flight, so one made while h runs (from h, or from another
// goroutine) comes before the loop accepts again and misses it: Close is the end
// that cannot be missed. The loop also ends, with h(nil, ErrBusy), if another accept
// is in flight on the listener, now or later: it must be the listener's only
// acceptor. A panic in h leaves the run call as any handler's does, and the loop goes
// on accepting. With SetExecutor, every call of h runs through the executor.
func (l *TCPListener) AsyncAcceptEach(h func(*TCPConn, error)) {
	acceptEach(l.AsyncAccept, l.TryAccept, h)
}

// AsyncAcceptEach accepts connections until the listener is closed, calling h with
// each new connection, as TCPListener.AsyncAcceptEach does.
func (l *UnixListener) AsyncAcceptEach(h func(*UnixConn, error)) {
	acceptEach(l.AsyncAccept, l.TryAccept, h)
}

// acceptEach is AsyncAcceptEach over a listener's AsyncAccept and TryAccept.
func acceptEach[C any](accept func(func(C, error)), try func() (C, error), h func(C, error)) {
	var step func(C, error)
	step = func(conn C, err error) {
		again := true
		// Deferred, so that a panic in h does not end the loop: the accept is made
		// again before the panic leaves for the run call.
		defer func() {
			if again {
				accept(step)
			}
		}()
		for i := 0; err == nil; i++ {
			h(conn, nil)
			if i == acceptDrain {
				return
			}
			conn, err = try()
		}
		if errors.Is(err, ErrWouldBlock) {
			return
		}
		if errors.Is(err, ErrAborted) || errors.Is(err, net.ErrClosed) || errors.Is(err, ErrBusy) {
			again = false
		}
		var none C
		h(none, err)
	}
	accept(step)
}
