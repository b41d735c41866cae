package iocontext_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
	"golang.org/x/sys/unix"
)

func TestStatsCountEchoes(t *testing.T) {
	ctx := newContext(t)
	addr := echoServer(t, ctx)
	done := make(chan struct{})
	go func() { ctx.Run(); close(done) }()
	before := ctx.Stats()
	c, err := net.Dial("tcp4", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const n = 100
	buf := make([]byte, 8)
	for range n {
		c.Write([]byte("12345678"))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close() // the server reads io.EOF and closes its side
	deadline := time.Now().Add(5 * time.Second)
	for ctx.Stats().OpenStreams != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s := ctx.Stats()
	reads := s.Completed[proactor.OpRead] - before.Completed[proactor.OpRead]
	writes := s.Completed[proactor.OpWrite] - before.Completed[proactor.OpWrite]
	// n echoed reads plus the final one that saw the end of stream; n writes.
	if reads != n+1 || writes != n {
		t.Fatalf("completed reads=%d writes=%d; want %d and %d", reads, writes, n+1, n)
	}
	if eof := s.Errors[proactor.OpRead][iocontext.ErrClassEOF]; eof != 1 {
		t.Fatalf("EOF reads = %d; want 1", eof)
	}
	if s.Completed[proactor.OpAccept] < 1 || s.Submitted[proactor.OpAccept] < 2 {
		t.Fatalf("accepts: completed %d, submitted %d", s.Completed[proactor.OpAccept], s.Submitted[proactor.OpAccept])
	}
	// A reactive backend makes a syscall per read and write; io_uring rides them on
	// its enters, of which an echo needs at least one.
	syscalls := s.IOSyscalls
	if s.Backend.Kind == proactor.IOURing {
		syscalls = s.Enters
	}
	if s.Handlers < 2*n || syscalls < uint64(n) || s.BackendWaits == 0 {
		t.Fatalf("handlers=%d syscalls=%d (enters %d) waits=%d; too few for %d echoes", s.Handlers, s.IOSyscalls, s.Enters, s.BackendWaits, n)
	}
	if s.OpenStreams != 0 || s.OpenListeners != 1 {
		t.Fatalf("open streams %d, listeners %d; want 0 and 1", s.OpenStreams, s.OpenListeners)
	}
	if s.Backend.Kind == proactor.Auto || s.Runners != 1 {
		t.Fatalf("backend %v, runners %d", s.Backend.Kind, s.Runners)
	}
	if s.Latency.Count == 0 || s.Latency.Counts[len(s.Latency.Counts)-1] > s.Latency.Count {
		t.Fatalf("latency histogram: %+v", s.Latency)
	}
	ctx.Stop()
	<-done
	if s := ctx.Stats(); s.BusySeconds <= 0 || s.IdleSeconds <= 0 {
		t.Fatalf("busy %v s, idle %v s: both should have grown", s.BusySeconds, s.IdleSeconds)
	}
}

func TestStatsCountAborted(t *testing.T) {
	ctx := newContext(t)
	runInBackground(t, ctx, 1)
	c, _ := connPair(t, ctx)
	got := make(chan error, 1)
	c.AsyncReadSome(make([]byte, 8), func(_ int, err error) { got <- err })
	time.Sleep(10 * time.Millisecond)
	c.Cancel()
	if err := <-got; !errors.Is(err, iocontext.ErrAborted) {
		t.Fatalf("cancelled read: %v", err)
	}
	tm := iocontext.NewTimer(ctx)
	tm.ExpiresAfter(time.Hour)
	tm.AsyncWait(func(err error) { got <- err })
	if ctx.Stats().TimersArmed != 1 {
		t.Fatal("an armed timer is not counted")
	}
	tm.Cancel()
	<-got
	s := ctx.Stats()
	if a := s.Errors[proactor.OpRead][iocontext.ErrClassAborted]; a != 1 {
		t.Fatalf("aborted reads = %d; want 1", a)
	}
	if a := s.Errors[proactor.OpTimer][iocontext.ErrClassAborted]; a != 1 {
		t.Fatalf("aborted timer waits = %d; want 1", a)
	}
	if s.TimersArmed != 0 {
		t.Fatalf("timers armed after Cancel = %d", s.TimersArmed)
	}
}

func TestStatsOff(t *testing.T) {
	ctx := newContext(t, iocontext.WithStats(false))
	for range 10 {
		ctx.Post(func() {})
	}
	ctx.Run()
	if s := ctx.Stats(); s.Handlers != 0 || s.Submitted[proactor.OpPost] != 0 {
		t.Fatalf("statistics off, yet handlers=%d posts=%d", s.Handlers, s.Submitted[proactor.OpPost])
	}
}

// TestStatsExactWhileRunnerWaits: a runner counts its handlers in its own fields and
// publishes them every budget of handlers; one that has run fewer and waits for work
// must have published them, and so must one whose run call returned.
func TestStatsExactWhileRunnerWaits(t *testing.T) {
	ctx := newContext(t)
	g := iocontext.NewWorkGuard(ctx)
	ran := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() { ctx.Run(); close(done) }()
	for range 10 {
		// Posted from a handler too: a runner's own submissions are counted the same way.
		ctx.Post(func() { ctx.Post(func() { ran <- struct{}{} }) })
	}
	for range 10 {
		<-ran
	}
	want := func(s iocontext.Stats, when string) {
		t.Helper()
		if s.Handlers != 20 || s.Submitted[proactor.OpPost] != 20 || s.Completed[proactor.OpPost] != 20 {
			t.Fatalf("%s: handlers %d, posts %d, completed %d; want 20 each", when, s.Handlers, s.Submitted[proactor.OpPost], s.Completed[proactor.OpPost])
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for ctx.Stats().IdleSeconds == 0 || ctx.Stats().Handlers < 20 {
		if time.Now().After(deadline) {
			break // want reports what was published
		}
		time.Sleep(time.Millisecond)
	}
	want(ctx.Stats(), "runner waiting")
	g.Reset()
	<-done
	want(ctx.Stats(), "run returned")
}

// TestStatsCountTryOps: an operation made on a Try fast path counts as submitted,
// completed and immediate (with its error class and its syscalls), not as a handler;
// a try that would block counts no operation. From outside the runners and from a
// handler, on every backend. The figures compared are those the tries alone move (a
// runner publishes its other counts late, and a snapshot may catch it half way).
func TestStatsCountTryOps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 1)
		c, peer := connPair(t, ctx)
		read, write := proactor.OpRead, proactor.OpWrite
		st0 := ctx.Stats()
		// imm: made on the fast path; done: completed; viaHandler: completed by a
		// handler; for reads and writes, which only the tries below make.
		type fig struct{ imm, done, sub, viaHandler uint64 }
		delta := func(st iocontext.Stats, k proactor.OpKind) fig {
			return fig{
				imm:        st.Immediate[k] - st0.Immediate[k],
				done:       st.Completed[k] - st0.Completed[k],
				sub:        st.Submitted[k] - st0.Submitted[k],
				viaHandler: (st.Completed[k] - st.Immediate[k]) - (st0.Completed[k] - st0.Immediate[k]),
			}
		}

		if _, err := c.TryReadSome(make([]byte, 8)); err != iocontext.ErrWouldBlock {
			t.Fatalf("TryReadSome with nothing to read: %v", err)
		}
		unix.Write(peer, []byte("x"))
		if b := readByte(t, c); b != 'x' {
			t.Fatalf("read %q", b)
		}
		if n, err := c.TryWriteSome([]byte("y")); n != 1 || err != nil {
			t.Fatalf("TryWriteSome = %d, %v", n, err)
		}
		st := ctx.Stats() // outside the runners: counted at once
		want := fig{imm: 1, done: 1, sub: 1}
		if r, w := delta(st, read), delta(st, write); r != want || w != want {
			t.Errorf("outside the runners: reads %+v, writes %+v; want %+v each (no handler)", r, w, want)
		}
		if n := st.IOSyscalls - st0.IOSyscalls; n < 2 {
			t.Errorf("%d I/O syscalls counted for a read and a write made at once", n)
		}

		// From a handler: the runner's own counts, published when it waits again.
		unix.Shutdown(peer, unix.SHUT_WR)
		eof := make(chan error, 1)
		ctx.Post(func() {
			_, err := c.TryReadSome(make([]byte, 8))
			for err == iocontext.ErrWouldBlock {
				_, err = c.TryReadSome(make([]byte, 8))
			}
			eof <- err
		})
		if err := recv(t, eof, "the read of the end of the stream"); !errors.Is(err, io.EOF) {
			t.Fatalf("TryReadSome after the peer's shutdown: %v; want io.EOF", err)
		}
		st = soonStats(t, ctx, func(st iocontext.Stats) bool { return st.Immediate[read]-st0.Immediate[read] == 2 })
		if r := delta(st, read); r != (fig{imm: 2, done: 2, sub: 2}) {
			t.Errorf("from a handler: reads %+v; want 2 made at once and none by a handler", r)
		}
		if e := st.Errors[read][iocontext.ErrClassEOF] - st0.Errors[read][iocontext.ErrClassEOF]; e != 1 {
			t.Errorf("%d reads counted as the end of the stream; want 1", e)
		}
	})
}
