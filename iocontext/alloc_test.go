package iocontext_test

import (
	"net"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
	"golang.org/x/sys/unix"
)

// runInBackground runs ctx on one goroutine, kept alive by a work guard, until the test
// ends.
func runInBackground(t testing.TB, ctx *iocontext.Context, runners int) {
	t.Helper()
	g := iocontext.NewWorkGuard(ctx)
	done := make(chan struct{})
	for range runners {
		go func() {
			defer func() { done <- struct{}{} }()
			ctx.Run()
		}()
	}
	t.Cleanup(func() {
		g.Reset()
		ctx.Stop()
		for range runners {
			<-done
		}
		ctx.Close()
	})
}

// eachAllocBackend runs an allocation test on a running Context of each Linux
// backend (io_uring skipped, saying so, where the kernel refuses it).
func eachAllocBackend(t *testing.T, body func(t *testing.T, ctx *iocontext.Context)) {
	kinds := []proactor.Kind{proactor.Epoll, proactor.IOURing}
	if runtime.GOOS != "linux" {
		kinds = []proactor.Kind{proactor.Auto}
	}
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Setenv(proactor.EnvVar, "")
			ctx, err := iocontext.New(iocontext.WithBackend(k))
			if err != nil {
				if k == proactor.IOURing {
					t.Skipf("io_uring refused here: %v", err)
				}
				t.Fatal(err)
			}
			runInBackground(t, ctx, 1)
			body(t, ctx)
		})
	}
}

func newContext(t testing.TB, opts ...iocontext.Option) *iocontext.Context {
	t.Helper()
	ctx, err := iocontext.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// rawClient connects a plain blocking socket to addr: the peer side of allocation
// tests makes syscalls only, so that every allocation counted is coio's.
func rawClient(t testing.TB, addr net.Addr) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	ta := addr.(*net.TCPAddr)
	sa := &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ta.IP.To4())}
	if err := unix.Connect(fd, sa); err != nil {
		t.Fatal(err)
	}
	return fd
}

// connPair returns a coio connection and the raw fd of its peer.
func connPair(t testing.TB, ctx *iocontext.Context) (*iocontext.TCPConn, int) {
	t.Helper()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *iocontext.TCPConn, 1)
	ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
		if err != nil {
			t.Error(err)
		}
		got <- c
	})
	fd := rawClient(t, ln.Addr())
	c := <-got
	t.Cleanup(func() { c.Close(); unix.Close(fd) })
	return c, fd
}

func TestAllocsPost(t *testing.T) { eachAllocBackend(t, allocsPost) }

func allocsPost(t *testing.T, ctx *iocontext.Context) {
	done := make(chan struct{})
	h := func() { done <- struct{}{} }
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Post(h)
		<-done
	})
	t.Logf("Post: %v allocations per run", allocs)
	if allocs != 0 {
		t.Fatalf("Post allocates %v times per handler; want 0", allocs)
	}
}

func TestAllocsAsyncReadSome(t *testing.T) { eachAllocBackend(t, allocsAsyncReadSome) }

func allocsAsyncReadSome(t *testing.T, ctx *iocontext.Context) {
	c, peer := connPair(t, ctx)
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	done := make(chan int)
	h := func(n int, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- n
	}
	allocs := testing.AllocsPerRun(1000, func() {
		unix.Write(peer, msg)
		got := 0
		for got < len(msg) {
			c.AsyncReadSome(buf[got:], h)
			got += <-done
		}
	})
	t.Logf("AsyncReadSome: %v allocations per run", allocs)
	if allocs != 0 {
		t.Fatalf("AsyncReadSome allocates %v times per read; want 0", allocs)
	}
}

func TestAllocsAsyncWriteSome(t *testing.T) { eachAllocBackend(t, allocsAsyncWriteSome) }

func allocsAsyncWriteSome(t *testing.T, ctx *iocontext.Context) {
	c, peer := connPair(t, ctx)
	msg := make([]byte, 64)
	sink := make([]byte, 64)
	done := make(chan int)
	h := func(n int, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- n
	}
	allocs := testing.AllocsPerRun(1000, func() {
		c.AsyncWriteSome(msg, h)
		n := <-done
		for n > 0 {
			m, _ := unix.Read(peer, sink[:n])
			if m <= 0 {
				break
			}
			n -= m
		}
	})
	t.Logf("AsyncWriteSome: %v allocations per run", allocs)
	if allocs != 0 {
		t.Fatalf("AsyncWriteSome allocates %v times per write; want 0", allocs)
	}
}

func TestAllocsAsyncAccept(t *testing.T) { eachAllocBackend(t, allocsAsyncAccept) }

// acceptTarget listens on loopback for an accept allocation test and returns the
// listener and a dial that connects one raw client to it, allocating nothing; the
// caller closes the client.
func acceptTarget(t *testing.T, ctx *iocontext.Context) (*iocontext.TCPListener, func() int) {
	ln := listenTCP4(t, ctx)
	ta := ln.Addr().(*net.TCPAddr)
	sa := &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ta.IP.To4())}
	return ln, func() int {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatal(err)
		}
		return fd
	}
}

func allocsAsyncAccept(t *testing.T, ctx *iocontext.Context) {
	ln, dial := acceptTarget(t, ctx)
	conn := iocontext.NewTCPConn(ctx)
	done := make(chan error)
	h := func(err error) { done <- err }
	allocs := testing.AllocsPerRun(500, func() {
		fd := dial()
		ln.AsyncAcceptInto(conn, h)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		conn.Close()
		unix.Close(fd)
	})
	t.Logf("AsyncAcceptInto: %v allocations per run", allocs)
	if allocs != 0 {
		t.Fatalf("AsyncAcceptInto allocates %v times per accept; want 0", allocs)
	}
}

func TestAllocsTryAcceptInto(t *testing.T) { eachAllocBackend(t, allocsTryAcceptInto) }

func allocsTryAcceptInto(t *testing.T, ctx *iocontext.Context) {
	ln, dial := acceptTarget(t, ctx)
	conn := iocontext.NewTCPConn(ctx)
	allocs := testing.AllocsPerRun(500, func() {
		fd := dial()
		for deadline := time.Now().Add(waitLimit); ; {
			err := ln.TryAcceptInto(conn)
			if err == nil {
				break
			}
			if err != iocontext.ErrWouldBlock || time.Now().After(deadline) {
				t.Fatalf("TryAcceptInto with a connection waiting: %v", err)
			}
		}
		conn.Close()
		unix.Close(fd)
	})
	t.Logf("TryAcceptInto: %v allocations per run", allocs)
	if allocs != 0 {
		t.Fatalf("TryAcceptInto allocates %v times per accept; want 0", allocs)
	}
}

func TestAllocsTimerWait(t *testing.T) { eachAllocBackend(t, allocsTimerWait) }

func allocsTimerWait(t *testing.T, ctx *iocontext.Context) {
	tm := iocontext.NewTimer(ctx)
	done := make(chan error)
	h := func(err error) { done <- err }
	allocs := testing.AllocsPerRun(200, func() {
		tm.ExpiresAfter(100 * time.Microsecond)
		tm.AsyncWait(h)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("Timer.AsyncWait: %v allocations per run", allocs)
	if allocs != 0 {
		t.Fatalf("a timer wait allocates %v times; want 0", allocs)
	}
}

func TestAllocsAsyncReadLent(t *testing.T) { eachAllocBackend(t, allocsAsyncReadLent) }

func allocsAsyncReadLent(t *testing.T, ctx *iocontext.Context) {
	c, peer := connPair(t, ctx)
	msg := make([]byte, 64)
	done := make(chan int)
	h := func(b iocontext.LentBuffer, err error) {
		if err != nil {
			t.Error(err)
		}
		n := len(b.B)
		b.Release()
		done <- n
	}
	allocs := testing.AllocsPerRun(1000, func() {
		unix.Write(peer, msg)
		for got := 0; got < len(msg); {
			c.AsyncReadLent(h)
			got += <-done
		}
	})
	t.Logf("AsyncReadLent: %v allocations per run", allocs)
	if allocs != 0 {
		t.Fatalf("AsyncReadLent allocates %v times per read; want 0", allocs)
	}
}

func TestAllocsConnHandlerEcho(t *testing.T) { eachAllocBackend(t, allocsConnHandlerEcho) }

// allocsConnHandlerEcho echoes with handlers that take the connection
// (AsyncReadLentConn, AsyncWriteLentConn): a round costs no allocation.
func allocsConnHandlerEcho(t *testing.T, ctx *iocontext.Context) {
	c, peer := connPair(t, ctx)
	msg := make([]byte, 64)
	sink := make([]byte, 64)
	done := make(chan int)
	var onWrite func(*iocontext.TCPConn, int, error)
	onRead := func(c *iocontext.TCPConn, b iocontext.LentBuffer, err error) {
		if err != nil {
			t.Error(err)
			done <- 0
			return
		}
		c.AsyncWriteLentConn(b, onWrite)
	}
	onWrite = func(_ *iocontext.TCPConn, n int, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- n
	}
	allocs := testing.AllocsPerRun(1000, func() {
		unix.Write(peer, msg)
		for got := 0; got < len(msg); {
			c.AsyncReadLentConn(onRead)
			n := <-done
			if n == 0 {
				return
			}
			got += n
		}
		for got := 0; got < len(msg); {
			m, _ := unix.Read(peer, sink)
			if m <= 0 {
				break
			}
			got += m
		}
	})
	t.Logf("AsyncReadLentConn + AsyncWriteLentConn: %v allocations per round", allocs)
	if allocs != 0 {
		t.Fatalf("an echo through *Conn handlers allocates %v times per round; want 0", allocs)
	}
}

func TestAllocsAsyncWriteVec(t *testing.T) { eachAllocBackend(t, allocsAsyncWriteVec) }

func allocsAsyncWriteVec(t *testing.T, ctx *iocontext.Context) {
	c, peer := connPair(t, ctx)
	vec := [][]byte{make([]byte, 16), make([]byte, 32), make([]byte, 16)}
	sink := make([]byte, 64)
	done := make(chan int)
	h := func(n int, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- n
	}
	allocs := testing.AllocsPerRun(1000, func() {
		c.AsyncWriteVec(vec, h)
		n := <-done
		for n > 0 {
			m, _ := unix.Read(peer, sink[:n])
			if m <= 0 {
				break
			}
			n -= m
		}
	})
	t.Logf("AsyncWriteVec: %v allocations per run", allocs)
	if allocs != 0 {
		t.Fatalf("AsyncWriteVec allocates %v times per write; want 0", allocs)
	}
}

// TestConnectionSize keeps a TCP connection within the heap's 256-byte size class: with
// lent reads it is most of what an idle connection costs (ARCHITECTURE.md, "Memory per
// idle connection"), so growing it is a decision to make on purpose.
func TestConnectionSize(t *testing.T) {
	for _, c := range []struct {
		name string
		size uintptr
	}{
		{"TCPConn", reflect.TypeFor[iocontext.TCPConn]().Size()},
		{"UnixConn", reflect.TypeFor[iocontext.UnixConn]().Size()},
	} {
		if c.size > 256 {
			t.Errorf("%s is %d bytes; want at most 256 (the size class an idle connection is budgeted)", c.name, c.size)
		}
	}
}
