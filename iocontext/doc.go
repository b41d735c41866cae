// Package iocontext is coio's I/O execution context, modelled on Boost.Asio's
// io_context, and the I/O objects that run on it: TCP and Unix-domain listeners and
// connections, and timers.
//
// A Context owns the queues of completion handlers, the timers and a backend (io_uring,
// epoll or kqueue; see package proactor). Goroutines that call Run (or RunOne, RunFor,
// Poll, PollOne) become its runners and execute handlers. Any number of goroutines may
// run one Context at once; they share its work, and a connection's next handler may
// run on whichever runner is free, so load spreads over every core while nothing is
// pinned. A Pool of Contexts, one per core, offers the pinned alternative.
//
// # Handlers
//
// Every asynchronous operation (AsyncReadSome, AsyncWrite, AsyncAccept, AsyncWait, …)
// takes a handler and returns at once. The handler runs exactly once, on a runner:
// with the result, or with ErrAborted when the operation was cancelled, its object
// closed or the Context closed. It never runs inside the call that started the
// operation, even when the result is known at once; it is delivered as if posted. The
// operation's state is released before the handler runs, so the handler may start the
// next operation of the same kind, and, with a handler value made once, that costs no
// allocation.
//
// Because a handler waits its turn behind every other, an accept loop under load
// takes the connections already waiting (TryAccept, TryAcceptInto) before it accepts
// again, as AsyncAcceptEach does; one AsyncAccept per connection takes a burst of
// new connections one per round of the queue. The Try forms (TryReadSome,
// TryWriteSome, TryAccept, …) do the operation now, on the calling goroutine, or say
// ErrWouldBlock.
//
// Streams allow one read and one write in flight at a time (a second one fails with
// ErrBusy); a read and a write may overlap. AsyncReadLent reads into a buffer the
// Context lends (on io_uring, a provided-buffer ring), so a connection waiting for data
// holds no read buffer; AsyncWriteVec writes several buffers with one gathered write.
// Each read and write has a form whose handler takes the connection (AsyncReadLentConn,
// AsyncWriteConn, ...): one func value then serves every connection, and a server
// needs no closure per connection. Context.CloseReadAll shuts the reading side of every
// open stream, for a graceful drain.
//
// On io_uring, operations started by handlers are handed to the kernel together, by
// the next io_uring_enter of a runner (the one that waits for completions submits them
// in the same syscall); a handler that blocks delays the submission of what it started.
//
// # Work and stopping
//
// A Context counts outstanding work: queued handlers, operations in flight, and work
// guards. Run returns when the count reaches zero (the Context is then stopped) or
// when Stop is called. Restart makes a stopped Context runnable again.
//
// # Errors
//
// Handlers receive Go errors: io.EOF at an orderly end of stream, net.ErrClosed for an
// operation started after Close, ErrAborted for a cancelled operation (also matching
// net.ErrClosed when the cause was Close), os.ErrDeadlineExceeded for timeouts, and
// otherwise a *net.OpError wrapping an *os.SyscallError, so that
// errors.Is(err, syscall.ECONNRESET) works.
//
// # Panics
//
// A handler that panics makes the run call of the goroutine that ran it panic with a
// *PanicError carrying the value and the handler's stack; the other runners go on, the
// work accounting stays right, and Run may be called again to go on with the
// remaining handlers.
//
// # Thread safety
//
// Context, the I/O objects and Timer are safe for concurrent use. Handlers of one
// object may run on different runners over time, but the one-read-one-write rule means
// a stream's read handlers never overlap each other, nor do its write handlers.
package iocontext
