package coroutine_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/coroutine"
	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/strand"
)

// echoServer serves coroutine-style echo on a fresh listener and returns its address.
func echoServer(t testing.TB, ctx *iocontext.Context) (net.Addr, *iocontext.TCPListener) {
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		for {
			c, err := y.Accept(ln)
			if err != nil {
				return
			}
			coroutine.Spawn(ctx, func(y *coroutine.Yield) {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := y.Read(c, buf)
					if err != nil {
						return
					}
					if _, err := y.Write(c, buf[:n]); err != nil {
						return
					}
				}
			})
		}
	})
	return ln.Addr(), ln
}

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

func TestCoroutine_CoroutineSequentialRead(t *testing.T) {
	ctx := testctx.New(t)
	addr, ln := echoServer(t, ctx)
	done := make(chan struct{})
	go func() { testctx.RunN(ctx, 2); close(done) }()
	for i := range 10 {
		c, err := net.Dial("tcp4", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("message %d %s", i, string(make([]byte, i*3000)))
		go c.Write([]byte(msg))
		got := make([]byte, len(msg))
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo %d: %v", i, err)
		}
		c.Close()
	}
	// Reads report (0, io.EOF) at the peer's close, as the callback API does.
	var eofErr error
	var eofN = -1
	gotEOF := make(chan struct{})
	iocontext.AsyncDialTCP(ctx, "tcp4", addr.String(), func(c *iocontext.TCPConn, err error) {
		if err != nil {
			t.Error(err)
			close(gotEOF)
			return
		}
		coroutine.Spawn(ctx, func(y *coroutine.Yield) {
			defer close(gotEOF)
			defer c.Close()
			y.Write(c, []byte("x"))
			b := make([]byte, 1)
			y.ReadFull(c, b)
			c.CloseWrite()
			eofN, eofErr = y.Read(c, b) // the server echoes nothing more and closes
		})
	})
	<-gotEOF
	if eofN != 0 || eofErr != io.EOF {
		t.Fatalf("read at end of stream = %d, %v; want 0, io.EOF", eofN, eofErr)
	}
	ln.Close()
	<-done
}

func TestCoroutine_CoroutineNoLostWakeup(t *testing.T) {
	// Operations that complete at once (data already there, expired timer, Post)
	// must resume the coroutine exactly once each.
	ctx := testctx.New(t)
	var steps atomic.Int64
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		for range 10000 {
			y.Post()
			steps.Add(1)
			y.Sleep(0)
			steps.Add(1)
		}
	})
	testctx.RunN(ctx, 2)
	if steps.Load() != 20000 {
		t.Fatalf("steps = %d; want 20000", steps.Load())
	}
}

func TestCoroutine_CoroutineNeverTwoRunners(t *testing.T) {
	ctx := testctx.New(t)
	var inside atomic.Int32
	var bad atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		coroutine.SpawnWith(ctx, func(y *coroutine.Yield) {
			for range 200 {
				if inside.Add(1) > 50 {
					bad.Add(1)
				}
				y.Post()
				inside.Add(-1)
			}
		}, func(p any) {
			if p != nil {
				t.Error(p)
			}
			wg.Done()
		})
	}
	// Per coroutine, a counter of its own would be touched by two runners at once if
	// it were ever resumed twice concurrently; the race detector watches `local`.
	for range 50 {
		wg.Add(1)
		coroutine.SpawnWith(ctx, func(y *coroutine.Yield) {
			local := 0
			for range 200 {
				local++
				y.Sleep(0)
			}
			if local != 200 {
				bad.Add(1)
			}
		}, func(any) { wg.Done() })
	}
	testctx.RunN(ctx, 4)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatal("a coroutine ran on two runners at once")
	}
}

func TestCoroutine_CoroutineMigrates(t *testing.T) {
	if !gident.Supported {
		t.Skip("goroutine identity not supported on this architecture: cannot tell runners apart")
	}
	ctx := testctx.New(t)
	var mu sync.Mutex
	runners := map[uintptr]bool{}
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		for i := 0; i < 5000; i++ {
			mu.Lock()
			runners[gident.Current()] = true // the resuming runner's identity
			n := len(runners)
			mu.Unlock()
			if n >= 2 {
				return
			}
			y.Sleep(time.Duration(i%3) * 10 * time.Microsecond)
		}
	})
	// Other work keeps the runners alternating.
	for range 500 {
		ctx.Post(func() { time.Sleep(20 * time.Microsecond) })
	}
	testctx.RunN(ctx, 2)
	if len(runners) < 2 {
		t.Fatal("the coroutine was only ever resumed by one runner")
	}
}

func TestCoroutine_CoroutineThroughExecutor(t *testing.T) {
	ctx := testctx.New(t)
	s := strand.New(ctx)
	var bad atomic.Int32
	var inside atomic.Int32
	for range 20 {
		coroutine.Spawn(s, func(y *coroutine.Yield) {
			for range 100 {
				if !s.RunningInThisStrand() {
					bad.Add(1)
				}
				if inside.Add(1) != 1 {
					bad.Add(1) // two coroutines of the strand running at once
				}
				inside.Add(-1)
				y.Sleep(0)
			}
		})
	}
	testctx.RunN(ctx, 4)
	if bad.Load() != 0 {
		t.Fatalf("%d resumptions happened outside the strand", bad.Load())
	}
}

func TestCoroutine_CoroutinePanic(t *testing.T) {
	ctx := testctx.New(t)
	boom := errors.New("boom")
	var got any
	coroutine.SpawnWith(ctx, func(y *coroutine.Yield) {
		y.Post()
		panic(boom)
	}, func(p any) { got = p })
	ctx.Run()
	if got != boom {
		t.Fatalf("completion handler got %v; want the panic value", got)
	}

	// Without a completion handler the panic leaves Run, and Run goes on after it.
	ctx.Restart()
	after := false
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		y.Post()
		panic(boom)
	})
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		y.Sleep(time.Millisecond)
		after = true
	})
	var pe *iocontext.PanicError
	for range 3 {
		func() {
			defer func() {
				if v := recover(); v != nil {
					pe, _ = v.(*iocontext.PanicError)
				}
			}()
			ctx.Run()
		}()
	}
	if pe == nil || !errors.Is(pe, boom) {
		t.Fatalf("Run panicked with %v; want a PanicError wrapping boom", pe)
	}
	if !after {
		t.Fatal("the other coroutine did not finish after the panic")
	}
}

func TestCoroutine_CoroutineUnwindOnShutdown(t *testing.T) {
	ctx, err := iocontext.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var errs sync.Map
	var unwound atomic.Int32
	started := make(chan struct{}, 3)
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		defer unwound.Add(1)
		started <- struct{}{}
		_, err := y.Accept(ln)
		errs.Store("accept", err)
	})
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		defer unwound.Add(1)
		started <- struct{}{}
		errs.Store("sleep", y.Sleep(time.Hour))
	})
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		defer unwound.Add(1) // ignores every error: must be unwound all the same
		started <- struct{}{}
		for {
			y.Sleep(time.Hour)
		}
	})
	done := make(chan struct{})
	go func() { ctx.Run(); close(done) }()
	for range 3 {
		<-started
	}
	time.Sleep(20 * time.Millisecond) // let them suspend
	ctx.Stop()
	<-done
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}
	if unwound.Load() != 3 {
		t.Fatalf("%d of 3 coroutines unwound", unwound.Load())
	}
	for _, k := range []string{"accept", "sleep"} {
		v, _ := errs.Load(k)
		if err, _ := v.(error); !errors.Is(err, iocontext.ErrAborted) {
			t.Errorf("%s: %v; want ErrAborted", k, v)
		}
	}
}

// TestFastPathYields: a coroutine whose reads always find data completes them without
// suspending, but not for ever: it suspends every so often, so other handlers run.
func TestFastPathYields(t *testing.T) {
	ctx := testctx.New(t)
	pr, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const total = 20000
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := net.Dial("tcp4", pr.Addr().String())
		if err != nil {
			t.Error(err)
			peer <- nil
			return
		}
		c.Write(make([]byte, total)) // everything is there before the reads start
		peer <- c
	}()
	var reads atomic.Int64
	readsWhenOtherRan := int64(-1)
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		c, err := y.Accept(pr)
		pr.Close()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		pc := <-peer
		if pc == nil {
			return
		}
		defer pc.Close()
		ctx.Post(func() { readsWhenOtherRan = reads.Load() })
		b := make([]byte, 1)
		for reads.Load() < total {
			if _, err := y.Read(c, b); err != nil {
				t.Error(err)
				return
			}
			reads.Add(1)
		}
	})
	ctx.Run()
	if readsWhenOtherRan < 0 || readsWhenOtherRan >= total {
		t.Fatalf("the other handler ran after %d of %d reads: the fast path starved it", readsWhenOtherRan, total)
	}
}

// TestAcceptTakesWaitingConnectionsAtOnce: connections already waiting are accepted
// without suspending, so that the listener's connections are drained in one turn, not
// one per round of the runner's queue: a handler posted after the first accept runs
// after the last. With an Accept that always suspended it ran after the first.
func TestAcceptTakesWaitingConnectionsAtOnce(t *testing.T) {
	ctx := testctx.New(t)
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range n { // each Dial returns once the kernel has queued the connection
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	accepted, acceptedWhenOtherRan := 0, -1
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		defer ln.Close()
		for accepted < n {
			c, err := y.Accept(ln)
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
			if accepted++; accepted == 1 {
				ctx.Post(func() { acceptedWhenOtherRan = accepted })
			}
		}
	})
	ctx.Run()
	if accepted != n || acceptedWhenOtherRan != n {
		t.Fatalf("accepted %d of %d; a handler posted after the first accept ran after %d; want %d", accepted, n, acceptedWhenOtherRan, n)
	}
}
