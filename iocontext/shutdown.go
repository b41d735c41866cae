package iocontext

import (
	"runtime"
	"time"

	"github.com/coionet/coio/proactor"
)

// Close shuts the Context down: it stops the run calls and waits for them to return,
// closes every I/O object still open (their pending ops complete with an error
// matching ErrAborted and net.ErrClosed), aborts every pending timer wait with
// ErrAborted, runs all those handlers (and whatever they post) on the calling
// goroutine until nothing is left, and releases the backend. Every handler thus runs
// exactly once; none is dropped. Handlers posted after Close has returned are dropped.
//
// Close must not be called from one of the Context's handlers. A second Close returns
// ErrContextClosed. A panic in a handler run by Close propagates out of Close after
// the shutdown is complete.
func (c *Context) Close() (err error) {
	if c.current() != nil {
		panic("iocontext: Close called from a handler of the Context it closes")
	}
	c.objMu.Lock()
	already := c.closed.Swap(true)
	c.objMu.Unlock()
	if already {
		return ErrContextClosed
	}
	c.Stop()
	for c.active.Load() != 0 {
		// Run calls return soon after Stop; waiting here is bounded by the longest
		// handler in flight.
		time.Sleep(50 * time.Microsecond)
		runtime.Gosched()
	}
	for _, o := range c.openObjects() {
		o.shutdown()
	}
	// Offloaded functions cannot be interrupted: wait for those running (their
	// handlers are queued and run below); queued ones are aborted.
	c.offload.shutdown(c)
	for _, w := range c.timers.abortAll() {
		c.push(task{op: &w.op})
	}
	var first any
	inflight, _ := c.be.(proactor.InFlighter)
	deadline := time.Now().Add(shutdownWait)
	for {
		n, p := c.drain()
		if p != nil && first == nil {
			first = p
		}
		if n == 0 && p == nil {
			// On io_uring the aborted ops complete asynchronously: their
			// completions are due shortly, and their handlers must run too.
			if inflight == nil || inflight.InFlight() == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	c.stopped.Store(true)
	c.stopLate()
	close(c.gone)
	// Objects opened by handlers during the drain were refused (the Context is
	// closed), so nothing can be registered with the backend any more.
	err = c.be.Shutdown()
	if first != nil {
		panic(first)
	}
	return err
}

// shutdownWait bounds how long Close waits for the completions of aborted ops.
const shutdownWait = 5 * time.Second

// drain runs everything ready, recovering a panic so that the shutdown completes.
func (c *Context) drain() (n int, p any) {
	defer func() {
		if v := recover(); v != nil {
			p = v
		}
	}()
	c.stopped.Store(false)
	n = c.Poll()
	return n, nil
}

// Closed reports whether Close has been called.
func (c *Context) Closed() bool { return c.closed.Load() }
