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
	"golang.org/x/sys/unix"
)

// eachLoop collects what an AsyncAcceptEach loop hands its handler: connections,
// errors it survives, and the error that ends it.
type eachLoop[C any] struct {
	conns  chan C
	errs   chan error
	ended  chan error
	mu     sync.Mutex
	calls  int
	closed bool // the loop has ended: h must not run again
	t      *testing.T
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

func newEachLoop[C any](t *testing.T) *eachLoop[C] {
	return &eachLoop[C]{conns: make(chan C, 256), errs: make(chan error, 16), ended: make(chan error, 1), t: t}
}

func (e *eachLoop[C]) h(c C, err error) {
	e.mu.Lock()
	e.calls++
	if e.closed {
		e.t.Errorf("AsyncAcceptEach called its handler (%v, %v) after the loop had ended", any(c), err)
	}
	end := errors.Is(err, iocontext.ErrAborted) || errors.Is(err, net.ErrClosed) || errors.Is(err, iocontext.ErrBusy)
	e.closed = e.closed || end
	e.mu.Unlock()
	switch {
	case err == nil:
		e.conns <- c
	case end:
		e.ended <- err
	default:
		e.errs <- err
	}
}

// TestAsyncAcceptEach: the loop accepts every connection of a burst that queued
// while its runner was busy, taking the waiting ones in the same turn (so only a
// couple of accepts complete through handlers), and ends with one ErrAborted call
// when the listener closes; on every backend.
func TestAsyncAcceptEach(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 1)
		ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		loop := newEachLoop[*iocontext.TCPConn](t)
		ln.AsyncAcceptEach(loop.h)

		// Hold the only runner while the burst queues: without the drain each of its
		// connections would take a handler of its own.
		hold, held := make(chan struct{}), make(chan struct{})
		ctx.Post(func() { close(held); <-hold })
		recv(t, held, "the runner taking the blocking handler")
		const n = 40
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
		if handled > 2 {
			t.Errorf("%d accepts completed through handlers for a burst of %d that waited; want at most 2 (the loop takes the waiting ones with TryAccept)", handled, n)
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
		ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
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
		ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
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
