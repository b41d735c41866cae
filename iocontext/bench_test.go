package iocontext_test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
	"golang.org/x/sys/unix"
)

// spin does about a microsecond of work that the compiler cannot remove.
//
//go:noinline
func spin(n int) uint64 {
	x := uint64(n)
	for i := 0; i < 600; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

var spinSink atomic.Uint64

// BenchmarkPost measures Post plus the run of handlers doing ~1µs of work, posted from
// outside and run by 1 or 2 runners. On two cores, 2 runners should take at most ~1/1.5
// of the time per handler that 1 runner takes.
func BenchmarkPost(b *testing.B) {
	for _, runners := range []int{1, 2} {
		b.Run(fmt.Sprintf("runners=%d", runners), func(b *testing.B) {
			b.ReportAllocs()
			ctx := newContext(b)
			defer ctx.Close()
			h := func() { spinSink.Add(spin(1)) }
			b.StopTimer()
			for range b.N {
				ctx.Post(h)
			}
			b.StartTimer()
			var wg sync.WaitGroup
			for range runners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx.Run()
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkPostChains measures handlers that post their successor (64 chains), the
// pattern of a server whose handlers start the next operation: local queues and
// stealing, no shared queue.
func BenchmarkPostChains(b *testing.B) {
	for _, runners := range []int{1, 2} {
		b.Run(fmt.Sprintf("runners=%d", runners), func(b *testing.B) {
			b.ReportAllocs()
			ctx := newContext(b)
			defer ctx.Close()
			var left atomic.Int64
			left.Store(int64(b.N))
			var step func()
			step = func() {
				spinSink.Add(spin(1))
				if left.Add(-1) > 0 {
					ctx.Post(step)
				}
			}
			for range min(64, b.N) {
				ctx.Post(step)
			}
			var wg sync.WaitGroup
			for range runners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx.Run()
				}()
			}
			wg.Wait()
		})
	}
}

// BenchmarkHandlerOverhead measures the scheduler's own cost per handler: 64 chains of
// empty handlers that post their successor, run by one runner. Every handler of a
// server pays it (ARCHITECTURE.md, "Locked instructions per handler").
func BenchmarkHandlerOverhead(b *testing.B) {
	b.ReportAllocs()
	ctx := newContext(b)
	defer ctx.Close()
	left := b.N
	var step func()
	step = func() {
		// One runner: the counter is only touched by it.
		if left--; left > 0 {
			ctx.Post(step)
		}
	}
	for range min(64, b.N) {
		ctx.Post(step)
	}
	ctx.Run()
}

// BenchmarkTimerArmFire arms timers 0–1 ms ahead in batches of 1,000 and waits for
// them all to fire: the cost per timer of heap insertion, expiry and handler delivery.
func BenchmarkTimerArmFire(b *testing.B) {
	b.ReportAllocs()
	ctx := newContext(b)
	runInBackground(b, ctx, 1)
	const batch = 1000
	timers := make([]*iocontext.Timer, batch)
	for i := range timers {
		timers[i] = iocontext.NewTimer(ctx)
	}
	var fired sync.WaitGroup
	h := func(err error) {
		if err != nil {
			b.Error(err)
		}
		fired.Done()
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		fired.Add(n)
		for i := range n {
			timers[i].ExpiresAfter(time.Duration(i) * time.Microsecond)
			timers[i].AsyncWait(h)
		}
		fired.Wait()
	}
}

// echoServer is a coio callback echo server on ctx; it returns the listener address.
func echoServer(b testing.TB, ctx *iocontext.Context) net.Addr {
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var accept func(*iocontext.TCPConn, error)
	accept = func(c *iocontext.TCPConn, err error) {
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		var onRead, onWrite func(int, error)
		onRead = func(n int, err error) {
			if err != nil {
				c.Close()
				return
			}
			c.AsyncWrite(buf[:n], onWrite)
		}
		onWrite = func(_ int, err error) {
			if err != nil {
				c.Close()
				return
			}
			c.AsyncReadSome(buf, onRead)
		}
		c.AsyncReadSome(buf, onRead)
		ln.AsyncAccept(accept)
	}
	ln.AsyncAccept(accept)
	return ln.Addr()
}

// goEchoServer is the peer: Go's net, a goroutine per connection, a 4 KiB buffer.
func goEchoServer(b testing.TB) (net.Addr, func()) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr(), func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// servers runs fn against a coio echo server (one runner) and a Go net echo server.
func servers(b *testing.B, fn func(b *testing.B, addr net.Addr)) {
	b.Run("server=coio", func(b *testing.B) {
		ctx := newContext(b)
		addr := echoServer(b, ctx)
		runInBackground(b, ctx, 1)
		fn(b, addr)
	})
	b.Run("server=gonet", func(b *testing.B) {
		addr, stop := goEchoServer(b)
		defer stop()
		fn(b, addr)
	})
}

// BenchmarkEchoRoundTrip64B: one connection, a 64 B message written and read back per
// op by a client making plain blocking syscalls.
func BenchmarkEchoRoundTrip64B(b *testing.B) {
	servers(b, func(b *testing.B, addr net.Addr) {
		fd := rawClient(b, addr)
		defer unix.Close(fd)
		msg := make([]byte, 64)
		buf := make([]byte, 64)
		b.SetBytes(64)
		b.ResetTimer()
		for range b.N {
			if _, err := unix.Write(fd, msg); err != nil {
				b.Fatal(err)
			}
			for got := 0; got < 64; {
				n, err := unix.Read(fd, buf[got:])
				if err != nil || n == 0 {
					b.Fatal(err)
				}
				got += n
			}
		}
	})
}

// BenchmarkEchoThroughput100Conns: 100 connections each doing 64 B round trips at
// depth 1, driven by the same Go net client against both servers.
func BenchmarkEchoThroughput100Conns(b *testing.B) {
	const conns = 100
	servers(b, func(b *testing.B, addr net.Addr) {
		cs := make([]net.Conn, conns)
		for i := range cs {
			c, err := net.Dial("tcp4", addr.String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cs[i] = c
		}
		var left atomic.Int64
		left.Store(int64(b.N))
		b.SetBytes(64)
		b.ResetTimer()
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := make([]byte, 64)
				buf := make([]byte, 64)
				for left.Add(-1) >= 0 {
					if _, err := c.Write(msg); err != nil {
						b.Error(err)
						return
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	})
}

// BenchmarkTryWriteRead: a 64-byte TryWriteSome to the peer's socket and its
// TryReadSome back, from a handler (as a coroutine's fast path runs), with the
// Context's statistics on and off: what counting the Try operations costs.
func BenchmarkTryWriteRead(b *testing.B) {
	for _, stats := range []bool{true, false} {
		b.Run(fmt.Sprintf("stats=%v", stats), func(b *testing.B) {
			ctx := newContext(b, iocontext.WithStats(stats))
			runInBackground(b, ctx, 1)
			c, peer := connPair(b, ctx)
			msg, buf := make([]byte, 64), make([]byte, 64)
			done := make(chan error, 1)
			b.ResetTimer()
			ctx.Post(func() {
				for range b.N {
					if _, err := c.TryWriteSome(msg); err != nil {
						done <- err
						return
					}
					// The peer echoes with a plain syscall: the bytes are there when
					// TryReadSome asks, on the loopback.
					n, err := unix.Read(peer, buf)
					if err != nil {
						done <- err
						return
					}
					unix.Write(peer, buf[:n])
					for got := 0; got < n; {
						m, err := c.TryReadSome(buf[got:])
						if err == iocontext.ErrWouldBlock {
							continue
						}
						if err != nil {
							done <- err
							return
						}
						got += m
					}
				}
				done <- nil
			})
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
