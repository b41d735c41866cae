package iocontext_test

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/coionet/coio/iocontext"
)

// connOps is the *Conn API of one connection type, with results sent on channels: the
// handler's connection argument is checked against the connection the operation was
// started on.
type connOps struct {
	readSome  func(b []byte, ch chan<- connResult)
	read      func(b []byte, ch chan<- connResult)
	readLent  func(ch chan<- connResult)
	write     func(b []byte, ch chan<- connResult)
	writeSome func(b []byte, ch chan<- connResult)
	writeLent func(b iocontext.LentBuffer, ch chan<- connResult)
}

type connResult struct {
	same bool // the handler got the connection the operation was started on
	n    int
	lb   iocontext.LentBuffer
	err  error
}

// connAPI is the *Conn API of a connection type C (*TCPConn or *UnixConn).
type connAPI[C any] interface {
	comparable
	AsyncReadSomeConn(b []byte, h func(C, int, error))
	AsyncReadConn(b []byte, h func(C, int, error))
	AsyncReadLentConn(h func(C, iocontext.LentBuffer, error))
	AsyncWriteSomeConn(b []byte, h func(C, int, error))
	AsyncWriteConn(b []byte, h func(C, int, error))
	AsyncWriteLentConn(b iocontext.LentBuffer, h func(C, int, error))
}

func connOpsFor[C connAPI[C]](c C) connOps {
	nh := func(ch chan<- connResult) func(C, int, error) {
		return func(got C, n int, err error) { ch <- connResult{same: got == c, n: n, err: err} }
	}
	return connOps{
		readSome: func(b []byte, ch chan<- connResult) { c.AsyncReadSomeConn(b, nh(ch)) },
		read:     func(b []byte, ch chan<- connResult) { c.AsyncReadConn(b, nh(ch)) },
		readLent: func(ch chan<- connResult) {
			c.AsyncReadLentConn(func(got C, b iocontext.LentBuffer, err error) {
				ch <- connResult{same: got == c, n: len(b.B), lb: b, err: err}
			})
		},
		write:     func(b []byte, ch chan<- connResult) { c.AsyncWriteConn(b, nh(ch)) },
		writeSome: func(b []byte, ch chan<- connResult) { c.AsyncWriteSomeConn(b, nh(ch)) },
		writeLent: func(b iocontext.LentBuffer, ch chan<- connResult) { c.AsyncWriteLentConn(b, nh(ch)) },
	}
}

func connOpsOf(t *testing.T, s stream) connOps {
	switch c := s.(type) {
	case *iocontext.TCPConn:
		return connOpsFor(c)
	case *iocontext.UnixConn:
		return connOpsFor(c)
	}
	t.Fatalf("no *Conn API for %T", s)
	return connOps{}
}

// countingExecutor posts every handler to its Context and counts them (SetExecutor).
type countingExecutor struct {
	ctx *iocontext.Context
	n   atomic.Int32
}

func (e *countingExecutor) Post(h func())               { e.ctx.Post(h) }
func (e *countingExecutor) Defer(h func())              { e.ctx.Defer(h) }
func (e *countingExecutor) Context() *iocontext.Context { return e.ctx }
func (e *countingExecutor) Dispatch(h func())           { e.n.Add(1); e.ctx.Post(h) }

// TestConnHandlersGetTheirConnection runs every *Conn operation on every backend and
// transport, delivered directly and through an executor: each handler gets the
// connection it was started on with the result the form without Conn would give; a
// second read in flight fails with ErrBusy; the end of stream is io.EOF.
func TestConnHandlersGetTheirConnection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			for _, bound := range []bool{false, true} {
				ctx := be.open(t, iocontext.WithLendBuffers(1024, 8))
				startRunners(t, ctx, 2)
				s, peer := tr.pair(t, ctx)
				var ex *countingExecutor
				if bound {
					ex = &countingExecutor{ctx: ctx}
					s.(interface{ SetExecutor(iocontext.Executor) }).SetExecutor(ex)
				}
				ops := connOpsOf(t, s)
				ch := make(chan connResult, 2)
				get := func(what string) connResult {
					t.Helper()
					r := recv(t, ch, what)
					if !r.same {
						t.Fatalf("%s (bound %v): the handler got another connection", what, bound)
					}
					return r
				}

				buf := make([]byte, 5)
				ops.read(buf, ch) // waits: nothing was sent yet
				ops.readSome(make([]byte, 1), ch)
				if r := get("a second read while one is in flight"); !errors.Is(r.err, iocontext.ErrBusy) {
					t.Fatalf("second read in flight = (%d, %v); want ErrBusy", r.n, r.err)
				}
				peer.Write([]byte("hel"))
				peer.Write([]byte("lo"))
				if r := get("AsyncReadConn"); r.n != 5 || r.err != nil || string(buf) != "hello" {
					t.Fatalf("AsyncReadConn = (%d, %v) %q; want (5, nil) \"hello\"", r.n, r.err, buf)
				}

				ops.write([]byte("world"), ch)
				if r := get("AsyncWriteConn"); r.n != 5 || r.err != nil {
					t.Fatalf("AsyncWriteConn = (%d, %v); want (5, nil)", r.n, r.err)
				}
				ops.writeSome([]byte("!"), ch)
				if r := get("AsyncWriteSomeConn"); r.n != 1 || r.err != nil {
					t.Fatalf("AsyncWriteSomeConn = (%d, %v); want (1, nil)", r.n, r.err)
				}
				got := make([]byte, 6)
				if _, err := io.ReadFull(peer, got); err != nil || string(got) != "world!" {
					t.Fatalf("peer read %q, %v; want \"world!\"", got, err)
				}

				peer.Write([]byte("lent"))
				ops.readLent(ch)
				r := get("AsyncReadLentConn")
				if r.err != nil || string(r.lb.B) != "lent" {
					t.Fatalf("AsyncReadLentConn = (%q, %v); want (\"lent\", nil)", r.lb.B, r.err)
				}
				ops.writeLent(r.lb, ch)
				if r := get("AsyncWriteLentConn"); r.n != 4 || r.err != nil {
					t.Fatalf("AsyncWriteLentConn = (%d, %v); want (4, nil)", r.n, r.err)
				}
				got = make([]byte, 4)
				if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, []byte("lent")) {
					t.Fatalf("peer read %q, %v; want \"lent\"", got, err)
				}

				peer.Close()
				ops.readSome(make([]byte, 8), ch)
				if r := get("AsyncReadSomeConn at the end of stream"); r.n != 0 || !errors.Is(r.err, io.EOF) {
					t.Fatalf("read at the end of stream = (%d, %v); want (0, io.EOF)", r.n, r.err)
				}
				ops.readLent(ch)
				if r := get("AsyncReadLentConn at the end of stream"); r.lb.B != nil || !errors.Is(r.err, io.EOF) {
					t.Fatalf("lent read at the end of stream = (%d bytes, %v); want (none, io.EOF)", len(r.lb.B), r.err)
				}
				if bound && ex.n.Load() < 7 {
					t.Fatalf("%d handlers went through the executor; want the 7 completions", ex.n.Load())
				}
				s.Close()
			}
		})
	})
}

// TestCloseReadAll shuts the reading side of every open stream of a Context: reads
// in flight end with io.EOF after the data already received, writes still work, and
// the count says how many streams it reached.
func TestCloseReadAll(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 2)
		const n = 3
		type conn struct {
			s    stream
			peer interface{ Write([]byte) (int, error) }
		}
		var conns []conn
		// TCP and Unix streams alike (transports[1], tcp6, may be missing here).
		for _, tr := range []transport{transports[0], transports[2], transports[0]} {
			s, peer := tr.pair(t, ctx)
			defer s.Close()
			conns = append(conns, conn{s, peer})
		}
		conns[0].peer.Write([]byte("queued")) // received before the shutdown: still read
		if got := ctx.CloseReadAll(); got != n {
			t.Fatalf("CloseReadAll reached %d streams; want %d", got, n)
		}
		type res struct {
			i   int
			n   int
			err error
		}
		ch := make(chan res, n)
		for i, c := range conns {
			buf := make([]byte, 16)
			c.s.AsyncRead(buf, func(k int, err error) { ch <- res{i, k, err} })
		}
		for range n {
			r := recv(t, ch, "a read after CloseReadAll")
			want := 0
			if r.i == 0 {
				want = len("queued")
			}
			if r.n != want || !errors.Is(r.err, io.EOF) {
				t.Fatalf("stream %d: read (%d, %v) after CloseReadAll; want (%d, io.EOF)", r.i, r.n, r.err, want)
			}
		}
		wch := make(chan error, 1)
		conns[1].s.AsyncWrite([]byte("still"), func(_ int, err error) { wch <- err })
		if err := recv(t, wch, "a write after CloseReadAll"); err != nil {
			t.Fatalf("write after CloseReadAll: %v", err)
		}
	})
}
