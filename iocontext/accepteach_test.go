package iocontext_test

import (
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
	"github.com/coionet/coio/strand"
	"golang.org/x/sys/unix"
)

// eachLoop collects what an AsyncAcceptEach loop hands its handler: connections,
// errors it survives, and the error that ends it. The handler never blocks (it runs
// on a runner): a call the test did not make room for fails the test instead.
type eachLoop[C any] struct {
	conns  chan C
	errs   chan error
	ended  chan error
	mu     sync.Mutex
	closed bool // the loop has ended: h must not run again
	t      *testing.T
}

func newEachLoop[C any](t *testing.T) *eachLoop[C] {
	return &eachLoop[C]{conns: make(chan C, 512), errs: make(chan error, 16), ended: make(chan error, 1), t: t}
}

func (e *eachLoop[C]) h(c C, err error) {
	e.mu.Lock()
	if e.closed {
		e.t.Errorf("AsyncAcceptEach called its handler (%v, %v) after the loop had ended", any(c), err)
	}
	end := errors.Is(err, iocontext.ErrAborted) || errors.Is(err, net.ErrClosed) || errors.Is(err, iocontext.ErrBusy)
	e.closed = e.closed || end
	e.mu.Unlock()
	ch, what := e.errs, "error"
	switch {
	case err == nil:
		select {
		case e.conns <- c:
		default:
			e.t.Errorf("more connections accepted than the test made")
		}
		return
	case end:
		ch, what = e.ended, "end"
	}
	select {
	case ch <- err:
	default:
		e.t.Errorf("AsyncAcceptEach reported another %s: %v", what, err)
	}
}

// soonStats returns the Context's statistics once ok holds of them: a busy runner
// publishes its counts every budget of handlers and when it waits for work.
func soonStats(t *testing.T, ctx *iocontext.Context, ok func(iocontext.Stats) bool) iocontext.Stats {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		st := ctx.Stats()
		if ok(st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAsyncAcceptEach: the loop accepts every connection of a burst that queued
// while its runner was busy, taking the waiting ones in the same turn (65 a turn, so
// 150 take three accepts through handlers), goes on after a turn that hit that
// bound, and ends with one call when the listener closes; on every backend.
func TestAsyncAcceptEach(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 1)
		ln := listenTCP4(t, ctx)
		loop := newEachLoop[*iocontext.TCPConn](t)
		ln.AsyncAcceptEach(loop.h)

		// Hold the only runner while the burst queues: without the drain each of its
		// connections would take a handler of its own.
		hold, held := make(chan struct{}), make(chan struct{})
		ctx.Post(func() { close(held); <-hold })
		recv(t, held, "the runner taking the blocking handler")
		const n = 150 // more than two turns' worth (1 + acceptDrain each)
		var peers []int
		for range n {
			peers = append(peers, rawClient(t, ln.Addr()))
		}
		defer func() {
			for _, p := range peers {
				unix.Close(p)
			}
		}()
		st0 := ctx.Stats()
		close(hold)
		var conns []*iocontext.TCPConn
		for range n {
			conns = append(conns, recv(t, loop.conns, "an accepted connection"))
		}
		st := soonStats(t, ctx, func(st iocontext.Stats) bool {
			return st.Completed[proactor.OpAccept]-st0.Completed[proactor.OpAccept] >= n
		})
		handled := st.Completed[proactor.OpAccept] - st.Immediate[proactor.OpAccept] - (st0.Completed[proactor.OpAccept] - st0.Immediate[proactor.OpAccept])
		if handled > 4 {
			t.Errorf("%d accepts completed through handlers for a burst of %d that waited; want at most 4 (the loop takes up to 64 waiting ones with TryAccept each turn)", handled, n)
		}
		if imm := st.Immediate[proactor.OpAccept] - st0.Immediate[proactor.OpAccept]; imm+handled != n {
			t.Errorf("Stats counted %d accepts made at once and %d through handlers for %d connections", imm, handled, n)
		}
		// Every connection is a peer's: what a peer writes, one of them reads.
		for i, p := range peers {
			unix.Write(p, []byte{byte(i)})
		}
		seen := map[byte]bool{}
		for _, c := range conns {
			seen[readByte(t, c)] = true
			c.Close()
		}
		if len(seen) != n {
			t.Errorf("the accepted connections read %d distinct bytes; want %d", len(seen), n)
		}

		// The loop goes on after the burst, and ends once when the listener closes.
		p := rawClient(t, ln.Addr())
		defer unix.Close(p)
		recv(t, loop.conns, "a connection after the burst").Close()
		ln.Close()
		if err := recv(t, loop.ended, "the loop's end"); !errors.Is(err, iocontext.ErrAborted) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("the loop ended with %v; want ErrAborted or net.ErrClosed", err)
		}
		select {
		case err := <-loop.errs:
			t.Errorf("the loop reported %v", err)
		default:
		}
	})
}

// TestAsyncAcceptEachUnix: the Unix listener's loop accepts, and a Cancel that finds
// its accept in flight ends it.
func TestAsyncAcceptEachUnix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 1)
		path := filepath.Join(sockDir(t), "each.sock")
		ln, err := iocontext.ListenUnix(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		loop := newEachLoop[*iocontext.UnixConn](t)
		ln.AsyncAcceptEach(loop.h)
		for i := range 3 {
			p := unixClient(t, path)
			unix.Write(p, []byte{byte('a' + i)})
			c := recv(t, loop.conns, "an accepted Unix connection")
			if b := readByte(t, c); b != byte('a'+i) {
				t.Errorf("connection %d read %q", i, b)
			}
			c.Close()
		}
		// From a handler: with one runner it runs after the loop's turn, so the
		// loop's next accept is in flight for Cancel to find.
		ctx.Post(ln.Cancel)
		if err := recv(t, loop.ended, "the loop's end after Cancel"); !errors.Is(err, iocontext.ErrAborted) {
			t.Errorf("the loop ended with %v after Cancel; want ErrAborted", err)
		}
	})
}

// TestAsyncAcceptEachSurvivesPanic: a handler that panics leaves the run call, as any
// does, and the loop accepts the next connection once Run is called again.
func TestAsyncAcceptEachSurvivesPanic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		ln := listenTCP4(t, ctx)
		got := make(chan *iocontext.TCPConn, 2)
		first := true
		ln.AsyncAcceptEach(func(c *iocontext.TCPConn, err error) {
			if err != nil {
				return
			}
			got <- c
			if first {
				first = false
				panic("first connection")
			}
			ctx.Stop()
		})
		p1 := rawClient(t, ln.Addr())
		defer unix.Close(p1)
		var pe *iocontext.PanicError
		func() {
			defer func() {
				if v := recover(); v != nil {
					pe, _ = v.(*iocontext.PanicError)
				}
			}()
			runOn(t, ctx, ctx.Run)
		}()
		if pe == nil || pe.Value != "first connection" {
			t.Fatalf("Run ended with %v; want the handler's panic", pe)
		}
		recv(t, got, "the first connection").Close()
		p2 := rawClient(t, ln.Addr())
		defer unix.Close(p2)
		runOn(t, ctx, ctx.Run) // returns at the handler's Stop
		recv(t, got, "a connection after the panic").Close()
		ctx.Restart()
		ln.Close()
		runOn(t, ctx, ctx.Run) // the loop's end: nothing else keeps Run
	})
}

// TestAsyncAcceptEachBusy: a loop started while another accept is in flight ends at
// once with ErrBusy, and leaves that accept alone.
func TestAsyncAcceptEachBusy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 1)
		ln := listenTCP4(t, ctx)
		other := make(chan *iocontext.TCPConn, 1)
		ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
			if err != nil {
				t.Errorf("the first accept: %v", err)
			}
			other <- c
		})
		loop := newEachLoop[*iocontext.TCPConn](t)
		ln.AsyncAcceptEach(loop.h)
		if err := recv(t, loop.ended, "the busy loop's end"); !errors.Is(err, iocontext.ErrBusy) {
			t.Errorf("the loop ended with %v; want ErrBusy", err)
		}
		p := rawClient(t, ln.Addr())
		defer unix.Close(p)
		recv(t, other, "the first accept's connection").Close()
	})
}

// TestAsyncAcceptEachThroughExecutor: with SetExecutor, every call of the loop's
// handler runs through the executor, the connections' and the final ErrBusy alike
// (that one, failing before its accept starts, was posted directly until session 18).
func TestAsyncAcceptEachThroughExecutor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 2)
		ln := listenTCP4(t, ctx)
		s := strand.New(ctx)
		ln.SetExecutor(s)
		calls := make(chan bool, 8)
		ln.AsyncAcceptEach(func(c *iocontext.TCPConn, err error) {
			calls <- s.RunningInThisStrand()
			if c != nil {
				c.Close()
			}
		})
		p := rawClient(t, ln.Addr())
		defer unix.Close(p)
		if !recv(t, calls, "the loop's call for a connection") {
			t.Error("the loop's handler ran outside the listener's executor for a connection")
		}
		// A second acceptor: the loop's next accept fails with ErrBusy, or this one
		// does; either handler must run through the executor.
		ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
			calls <- s.RunningInThisStrand()
			if c != nil {
				c.Close()
			}
		})
		ln.Close()
		for range 2 {
			if !recv(t, calls, "the end of the loop and of the other accept") {
				t.Error("a handler that failed at once ran outside the listener's executor")
			}
		}
	})
}

// TestAsyncAcceptEachContextClose: a Context closed with a connection waiting (and
// no runner) ends the loop with exactly one call, an abort: the accept that took the
// connection could not open it (the Context was closing) and said ErrContextClosed,
// which the loop took for an error to go on after, until session 18.
func TestAsyncAcceptEachContextClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		ln := listenTCP4(t, ctx)
		p := rawClient(t, ln.Addr())
		defer unix.Close(p)
		loop := newEachLoop[*iocontext.TCPConn](t)
		ln.AsyncAcceptEach(loop.h)
		if err := ctx.Close(); err != nil {
			t.Fatal(err)
		}
		if err := recv(t, loop.ended, "the loop's end at Context.Close"); !errors.Is(err, iocontext.ErrAborted) || !errors.Is(err, net.ErrClosed) {
			t.Errorf("the loop ended with %v at Context.Close; want ErrAborted and net.ErrClosed (a shutdown aborts)", err)
		}
		select {
		case err := <-loop.errs:
			t.Errorf("the loop reported %v before it ended", err)
		case c := <-loop.conns:
			t.Errorf("the loop handed out %v from a closed Context", c)
		default:
		}
	})
}

// TestBusyHandlersRunThroughExecutor: an operation refused at once with ErrBusy (a
// second read on a stream, a second accept on a listener) delivers its handler
// through the object's executor, as its completions are.
func TestBusyHandlersRunThroughExecutor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 2)
		c, _ := connPair(t, ctx)
		s := strand.New(ctx)
		c.SetExecutor(s)
		in := make(chan bool, 2)
		c.AsyncReadSome(make([]byte, 8), func(int, error) { in <- s.RunningInThisStrand() })
		c.AsyncReadSome(make([]byte, 8), func(_ int, err error) {
			if !errors.Is(err, iocontext.ErrBusy) {
				t.Errorf("second read: %v; want ErrBusy", err)
			}
			in <- s.RunningInThisStrand()
		})
		if !recv(t, in, "the refused read's handler") {
			t.Error("a stream's ErrBusy handler ran outside its executor")
		}
		c.Close()
		recv(t, in, "the first read's end")

		ln := listenTCP4(t, ctx)
		ln.SetExecutor(s)
		ln.AsyncAccept(func(_ *iocontext.TCPConn, err error) { in <- s.RunningInThisStrand() })
		ln.AsyncAcceptInto(iocontext.NewTCPConn(ctx), func(err error) {
			if !errors.Is(err, iocontext.ErrBusy) {
				t.Errorf("second accept: %v; want ErrBusy", err)
			}
			in <- s.RunningInThisStrand()
		})
		if !recv(t, in, "the refused accept's handler") {
			t.Error("a listener's ErrBusy handler ran outside its executor")
		}
		ln.Close()
		recv(t, in, "the first accept's end")
	})
}

// TestAsyncAcceptEachCloseDuringBackoff: a Close from another goroutine while the
// loop waits out the back-off after running out of descriptors ends the loop at once,
// with one call (the back-off's timer was made by a runner at the first failure and
// read by Close without synchronisation until session 18: the race detector caught
// it here).
func TestAsyncAcceptEachCloseDuringBackoff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 1)
		ln := listenTCP4(t, ctx)
		// The client's socket is made first; connecting needs no descriptor.
		cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(cfd)
		ta := ln.Addr().(*net.TCPAddr)
		restore := exhaustFDs(t)
		defer restore()
		loop := newEachLoop[*iocontext.TCPConn](t)
		ln.AsyncAcceptEach(loop.h)
		if err := unix.Connect(cfd, &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ta.IP.To4())}); err != nil {
			t.Fatalf("connect: %v", err)
		}
		if err := recv(t, loop.errs, "an accept failure while out of descriptors"); !errors.Is(err, unix.EMFILE) && !errors.Is(err, unix.ENFILE) {
			t.Fatalf("the loop reported %v; want EMFILE", err)
		}
		time.Sleep(2 * time.Millisecond) // into the back-off (5 ms after the first failure)
		ln.Close()
		if err := recv(t, loop.ended, "the loop's end at Close during the back-off"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("the loop ended with %v; want net.ErrClosed", err)
		}
		restore()
	})
}
