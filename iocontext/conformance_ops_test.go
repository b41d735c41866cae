package iocontext_test

// SEMANTICS.md, "ops — the asynchronous operation contract" and "ops — cancellation and
// close".

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
)

// coioListener is a coio TCP or Unix listener seen through what the tests need.
type coioListener struct {
	addr   net.Addr
	accept func(h func(stream, error))
	cancel func()
	close  func() error
}

// listenCoio opens a coio listener for the transport on ctx; closed when the test ends.
func (tr transport) listenCoio(t testing.TB, ctx *iocontext.Context) coioListener {
	t.Helper()
	if tr.network == "unix" {
		ln, err := iocontext.ListenUnix(ctx, filepath.Join(sockDir(t), "l.sock"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return coioListener{ln.Addr(), func(h func(stream, error)) {
			ln.AsyncAccept(func(c *iocontext.UnixConn, err error) {
				if c == nil {
					h(nil, err)
					return
				}
				h(c, err)
			})
		}, ln.Cancel, ln.Close}
	}
	ln, err := iocontext.ListenTCP(ctx, tr.network, tr.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return coioListener{ln.Addr(), func(h func(stream, error)) {
		ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
			if c == nil {
				h(nil, err)
				return
			}
			h(c, err)
		})
	}, ln.Cancel, ln.Close}
}

// dialPeer connects a Go peer to addr.
func dialPeer(t testing.TB, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout(addr.Network(), addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestOps_HandlerExactlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			r := startRunners(t, ctx, 2)

			// One of each kind of outcome: result, cancel, close, timer fired and cancelled,
			// accept done and aborted. rwHandler fails the test on a second call.
			s, peer := tr.pair(t, ctx)
			res, h := rwHandler(t, "read with data")
			s.AsyncReadSome(make([]byte, 8), h)
			peer.Write([]byte("a"))
			if got := recv(t, res, "read"); got.n != 1 || got.err != nil {
				t.Fatalf("read = %v; want (1, nil)", got)
			}
			res, h = rwHandler(t, "write")
			s.AsyncWrite([]byte("hello"), h)
			if got := recv(t, res, "write"); got.n != 5 || got.err != nil {
				t.Fatalf("write = %v; want (5, nil)", got)
			}
			readN(t, peer, 5)
			res, h = rwHandler(t, "cancelled read")
			s.AsyncReadSome(make([]byte, 8), h)
			s.Cancel()
			if got := recv(t, res, "cancelled read"); !errors.Is(got.err, iocontext.ErrAborted) {
				t.Fatalf("cancelled read = %v; want ErrAborted", got)
			}

			cl := tr.listenCoio(t, ctx)
			addr, accept, closeLn := cl.addr, cl.accept, cl.close
			acc := make(chan error, 2)
			var accCalls atomic.Int32
			accept(func(c stream, err error) {
				accCalls.Add(1)
				if c != nil {
					c.Close()
				}
				acc <- err
			})
			dialPeer(t, addr)
			if err := recv(t, acc, "accept"); err != nil {
				t.Fatalf("accept = %v", err)
			}
			accept(func(c stream, err error) { accCalls.Add(1); acc <- err })
			closeLn()
			if err := recv(t, acc, "aborted accept"); !isAbortedClosed(err) {
				t.Fatalf("accept pending at listener Close = %v; want ErrAborted and net.ErrClosed", err)
			}

			tm := iocontext.NewTimer(ctx)
			tm.ExpiresAfter(5 * time.Millisecond)
			terr, th := errHandler(t, "timer wait")
			tm.AsyncWait(th)
			if err := recv(t, terr, "timer wait"); err != nil {
				t.Fatalf("timer wait = %v", err)
			}
			tm.ExpiresAfter(time.Hour)
			terr, th = errHandler(t, "cancelled timer wait")
			tm.AsyncWait(th)
			tm.Cancel()
			if err := recv(t, terr, "cancelled timer wait"); !errors.Is(err, iocontext.ErrAborted) {
				t.Fatalf("cancelled wait = %v", err)
			}

			// Races: a read whose data arrives while it is being cancelled gets either
			// its data or ErrAborted, once; no byte is lost or read twice.
			start := time.Now()
			written, read, iters := 0, 0, 0
			buf := make([]byte, 64)
			drain := func() {
				t.Helper()
				rest := written - read
				if rest < 0 {
					t.Fatalf("read %d bytes of %d written", read, written)
				}
				if rest == 0 {
					return
				}
				res, h := rwHandler(t, "drain")
				s.AsyncRead(make([]byte, rest), h)
				if got := recv(t, res, "drain"); got.n != rest || got.err != nil {
					t.Fatalf("after %d racing reads, reading the %d bytes left = %v", iters, rest, got)
				}
				read += rest
			}
			for ; iters < 300 && time.Since(start) < 3*time.Second; iters++ {
				res, h := rwHandler(t, fmt.Sprintf("racing read %d", iters))
				s.AsyncReadSome(buf, h)
				wrote := make(chan error, 1)
				go func() { _, err := peer.Write([]byte{byte(iters)}); wrote <- err }()
				s.Cancel()
				got := recv(t, res, "racing read")
				if err := <-wrote; err != nil {
					t.Fatalf("peer write %d: %v", iters, err)
				}
				written++
				switch {
				case got.err == nil:
					read += got.n
				case errors.Is(got.err, iocontext.ErrAborted):
				default:
					t.Fatalf("racing read %d = %v; want data or ErrAborted", iters, got)
				}
				if written-read >= 64 {
					// Most racing reads are cancelled before their byte comes, so
					// the bytes pile up in the socket. A Unix socket counts each
					// 1-byte write at the size of its buffer (over 700 bytes):
					// about 280 of them fill its send buffer, and the peer's next
					// write would block until its deadline.
					drain()
				}
			}
			drain()

			// A read racing with Close: once, with data or aborted.
			for i := range 50 {
				s2, peer2 := tr.pair(t, ctx)
				res, h := rwHandler(t, fmt.Sprintf("read racing Close %d", i))
				s2.AsyncReadSome(buf, h)
				wrote := make(chan struct{})
				go func() { peer2.Write([]byte("x")); close(wrote) }()
				s2.Close()
				got := recv(t, res, "read racing Close")
				<-wrote
				if got.err != nil && !isAbortedClosed(got.err) {
					t.Fatalf("read racing Close = %v; want data or ErrAborted+net.ErrClosed", got)
				}
				peer2.Close()
			}

			r.stop()
			if err := ctx.Close(); err != nil {
				t.Fatal(err)
			}
			if n := accCalls.Load(); n != 2 {
				t.Fatalf("accept handlers ran %d times; want 2", n)
			}
		})
	})
}

func TestOps_NeverInlineCompletion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			s, peer := tr.pair(t, ctx)
			idle, _ := tr.pair(t, ctx)
			closed, _ := tr.pair(t, ctx)
			closed.Close()
			cl := tr.listenCoio(t, ctx)
			addr, accept := cl.addr, cl.accept
			dialPeer(t, addr) // queued before the accept starts
			expired := iocontext.NewTimer(ctx)
			peer.Write([]byte("data"))
			time.Sleep(20 * time.Millisecond) // let the bytes land: the read's result is known at once

			var initiating bool // set around each initiating call; all on this goroutine
			type outcome struct {
				calls  int
				inline bool
				n      int
				err    error
			}
			outcomes := map[string]*outcome{}
			rw := func(name string) func(int, error) {
				o := &outcome{}
				outcomes[name] = o
				return func(n int, err error) {
					o.calls++
					o.inline = o.inline || initiating
					o.n, o.err = n, err
				}
			}
			buf := make([]byte, 16)
			start := func() {
				initiating = true
				s.AsyncReadSome(buf, rw("read, data ready"))
				s.AsyncReadSome(make([]byte, 1), rw("second read (ErrBusy)"))
				s.AsyncWriteSome([]byte("x"), rw("write, buffer empty"))
				idle.AsyncReadSome(nil, rw("zero-length read"))
				closed.AsyncReadSome(buf, rw("read after Close"))
				closed.AsyncWrite(buf, rw("write after Close"))
				accErr := rw("accept, connection queued")
				accept(func(c stream, err error) {
					if c != nil {
						c.Close()
					}
					accErr(0, err)
				})
				waitH := rw("wait on an expired timer")
				expired.AsyncWait(func(err error) { waitH(0, err) })
				initiating = false
			}

			// From outside the runners: nothing runs before a run call.
			start()
			if n := runOn(t, ctx, ctx.Poll); n == 0 {
				t.Fatal("Poll ran nothing")
			}
			for name, o := range outcomes {
				if o.inline {
					t.Errorf("%s: handler ran inside the initiating call (from outside)", name)
				}
			}
			readN(t, peer, 1)

			// From a handler on the only runner: still never inside the call.
			ctx.Restart()
			peer.Write([]byte("data"))
			time.Sleep(20 * time.Millisecond)
			dialPeer(t, addr)
			outcomes = map[string]*outcome{}
			ctx.Post(start)
			runOn(t, ctx, func() int { return ctx.RunFor(5 * time.Second) })
			want := map[string]func(o *outcome) bool{
				"read, data ready":          func(o *outcome) bool { return o.n == 4 && o.err == nil },
				"second read (ErrBusy)":     func(o *outcome) bool { return errors.Is(o.err, iocontext.ErrBusy) },
				"write, buffer empty":       func(o *outcome) bool { return o.n == 1 && o.err == nil },
				"zero-length read":          func(o *outcome) bool { return o.n == 0 && o.err == nil },
				"read after Close":          func(o *outcome) bool { return errors.Is(o.err, net.ErrClosed) },
				"write after Close":         func(o *outcome) bool { return errors.Is(o.err, net.ErrClosed) },
				"accept, connection queued": func(o *outcome) bool { return o.err == nil },
				"wait on an expired timer":  func(o *outcome) bool { return o.err == nil },
			}
			for name, o := range outcomes {
				if o.inline {
					t.Errorf("%s: handler ran inside the initiating call (from a handler)", name)
				}
				if o.calls != 1 {
					t.Errorf("%s: handler ran %d times", name, o.calls)
				}
				if !want[name](o) {
					t.Errorf("%s: got (%d, %v)", name, o.n, o.err)
				}
			}
		})
	})
}

func TestOps_ResourcesReleasedBeforeHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			startRunners(t, ctx, 1)
			s, peer := tr.pair(t, ctx)
			const k = 50

			// Each read handler starts the next read on the same stream.
			msg := pattern(k, 1)
			peer.Write(msg)
			got := make([]byte, k)
			done := make(chan error, 1)
			i := 0
			var onRead func(int, error)
			onRead = func(n int, err error) {
				if err != nil || n != 1 {
					done <- fmt.Errorf("read %d = (%d, %v)", i, n, err)
					return
				}
				if i++; i == k {
					done <- nil
					return
				}
				s.AsyncRead(got[i:i+1], onRead)
			}
			s.AsyncRead(got[:1], onRead)
			if err := recv(t, done, "the read chain"); err != nil {
				t.Fatalf("a read started from the previous read's handler: %v", err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("read chain got %v; want %v", got, msg)
			}

			// Each write handler starts the next write.
			j := 0
			var onWrite func(int, error)
			onWrite = func(n int, err error) {
				if err != nil || n != 1 {
					done <- fmt.Errorf("write %d = (%d, %v)", j, n, err)
					return
				}
				if j++; j == k {
					done <- nil
					return
				}
				s.AsyncWrite(msg[j:j+1], onWrite)
			}
			s.AsyncWrite(msg[:1], onWrite)
			if err := recv(t, done, "the write chain"); err != nil {
				t.Fatalf("a write started from the previous write's handler: %v", err)
			}
			if echoed := readN(t, peer, k); !bytes.Equal(echoed, msg) {
				t.Fatalf("peer got %v; want %v", echoed, msg)
			}

			// Each timer handler waits again on the same timer; the wait being delivered
			// is no longer pending, so re-arming aborts nothing.
			tm := iocontext.NewTimer(ctx)
			w := 0
			var onWait func(error)
			onWait = func(err error) {
				if err != nil {
					done <- fmt.Errorf("wait %d = %v", w, err)
					return
				}
				if w++; w == 10 {
					done <- nil
					return
				}
				if n := tm.ExpiresAfter(time.Millisecond); n != 0 {
					done <- fmt.Errorf("re-arming the timer from its handler aborted %d waits", n)
					return
				}
				tm.AsyncWait(onWait)
			}
			tm.ExpiresAfter(time.Millisecond)
			tm.AsyncWait(onWait)
			if err := recv(t, done, "the timer chain"); err != nil {
				t.Fatal(err)
			}

			// Each accept handler starts the next accept on the same listener.
			cl := tr.listenCoio(t, ctx)
			addr, accept := cl.addr, cl.accept
			a := 0
			var onAccept func(stream, error)
			onAccept = func(c stream, err error) {
				if err != nil {
					done <- fmt.Errorf("accept %d = %v", a, err)
					return
				}
				c.Close()
				if a++; a == 5 {
					done <- nil
					return
				}
				accept(onAccept)
			}
			accept(onAccept)
			for range 5 {
				dialPeer(t, addr)
			}
			if err := recv(t, done, "the accept chain"); err != nil {
				t.Fatal(err)
			}

			// And the next op costs no allocation: a chain of reads with a handler value
			// made once allocates nothing per read.
			const per = 20
			peer.Write(make([]byte, per*12)) // 1 warm-up run + 10 measured, with room
			time.Sleep(20 * time.Millisecond)
			one := make([]byte, 1)
			cnt := 0
			var chain func(int, error)
			chain = func(n int, err error) {
				if err != nil {
					done <- err
					return
				}
				if cnt++; cnt%per == 0 {
					done <- nil
					return
				}
				s.AsyncReadSome(one, chain)
			}
			var chainErr error
			allocs := testing.AllocsPerRun(10, func() {
				s.AsyncReadSome(one, chain)
				if err := <-done; err != nil && chainErr == nil {
					chainErr = err
				}
			})
			if chainErr != nil {
				t.Fatal(chainErr)
			}
			if allocs != 0 {
				t.Errorf("a chain of %d reads re-armed from their handler allocates %v times; want 0", per, allocs)
			}
		})
	})
}

func TestOps_ReadSomeMayBeShort(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			startRunners(t, ctx, 1)
			s, peer := tr.pair(t, ctx)
			buf := make([]byte, 100)

			peer.Write([]byte("hello"))
			res, h := rwHandler(t, "read")
			s.AsyncReadSome(buf, h)
			if got := recv(t, res, "a read of 100 with 5 available"); got.n != 5 || got.err != nil || string(buf[:5]) != "hello" {
				t.Fatalf("AsyncReadSome = %v %q; want (5, nil) \"hello\"", got, buf[:got.n])
			}

			// Pending first, then fewer bytes than asked arrive: it completes with them.
			res, h = rwHandler(t, "pending read")
			s.AsyncReadSome(buf, h)
			time.Sleep(20 * time.Millisecond)
			peer.Write([]byte("ab"))
			if got := recv(t, res, "a pending read of 100 given 2"); got.n != 2 || got.err != nil || string(buf[:2]) != "ab" {
				t.Fatalf("AsyncReadSome = %v %q; want (2, nil) \"ab\"", got, buf[:got.n])
			}
		})
	})
}

func TestOps_ReadFillsOrFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			startRunners(t, ctx, 2)

			t.Run("ReadFills", func(t *testing.T) {
				s, peer := tr.pair(t, ctx)
				msg := pattern(1000, 3)
				buf := make([]byte, 1000)
				res, h := rwHandler(t, "AsyncRead")
				s.AsyncRead(buf, h)
				peer.Write(msg[:300])
				time.Sleep(10 * time.Millisecond)
				peer.Write(msg[300:500])
				quiet(t, res, 50*time.Millisecond, "AsyncRead completed with the buffer half full")
				for i := 500; i < 1000; i += 100 {
					peer.Write(msg[i : i+100])
					time.Sleep(2 * time.Millisecond)
				}
				if got := recv(t, res, "AsyncRead"); got.n != 1000 || got.err != nil || !bytes.Equal(buf, msg) {
					t.Fatalf("AsyncRead = %v, data equal %v; want (1000, nil), true", got, bytes.Equal(buf, msg))
				}
			})

			t.Run("ReadFailsAtEOF", func(t *testing.T) {
				s, peer := tr.pair(t, ctx)
				buf := make([]byte, 1000)
				res, h := rwHandler(t, "AsyncRead")
				s.AsyncRead(buf, h)
				peer.Write(pattern(300, 4))
				time.Sleep(10 * time.Millisecond)
				peer.Close()
				if got := recv(t, res, "AsyncRead"); got.n != 300 || got.err != io.EOF {
					t.Fatalf("AsyncRead of 1000 with 300 sent then EOF = %v; want (300, io.EOF)", got)
				}
			})

			if tr.network != "unix" {
				t.Run("ReadFailsAtReset", func(t *testing.T) {
					s, peer := tr.pair(t, ctx)
					buf := make([]byte, 1000)
					res, h := rwHandler(t, "AsyncRead")
					s.AsyncRead(buf, h)
					peer.Write(pattern(300, 4))
					time.Sleep(20 * time.Millisecond)
					resetPeer(t, peer)
					if got := recv(t, res, "AsyncRead"); got.n != 300 || !errors.Is(got.err, syscall.ECONNRESET) {
						t.Fatalf("AsyncRead of 1000 with 300 sent then a reset = %v; want (300, ECONNRESET)", got)
					}
				})
			}

			t.Run("WriteAll", func(t *testing.T) {
				s, peer := tr.pair(t, ctx)
				msg := pattern(8<<20, 5)
				res, h := rwHandler(t, "AsyncWrite")
				s.AsyncWrite(msg, h)
				got := readN(t, peer, len(msg))
				if r := recv(t, res, "AsyncWrite"); r.n != len(msg) || r.err != nil {
					t.Fatalf("AsyncWrite of 8 MiB = %v; want (%d, nil)", r, len(msg))
				}
				if !bytes.Equal(got, msg) {
					t.Fatal("the peer received other bytes than written")
				}
			})

			t.Run("WriteFails", func(t *testing.T) {
				s, peer := tr.pair(t, ctx)
				msg := make([]byte, 32<<20)
				res, h := rwHandler(t, "AsyncWrite")
				s.AsyncWrite(msg, h)
				readN(t, peer, 1<<20)
				if tc, ok := peer.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
				peer.Close()
				r := recv(t, res, "AsyncWrite to a closed peer")
				if r.err == nil || r.n < 1<<20 || r.n >= len(msg) {
					t.Fatalf("AsyncWrite of 32 MiB, peer gone after 1 MiB = %v; want an error and 1 MiB <= n < 32 MiB", r)
				}
				if !errors.Is(r.err, syscall.EPIPE) && !errors.Is(r.err, syscall.ECONNRESET) {
					t.Fatalf("AsyncWrite to a closed peer: %v; want EPIPE or ECONNRESET", r.err)
				}
			})
		})
	})
}

func TestOps_OneReadOneWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			startRunners(t, ctx, 2)
			s, peer := tr.pair(t, ctx)

			buf := make([]byte, 8)
			r1, h1 := rwHandler(t, "first read")
			s.AsyncReadSome(buf, h1)
			other := make([]byte, 8)
			r2, h2 := rwHandler(t, "second read")
			s.AsyncReadSome(other, h2)
			if got := recv(t, r2, "the second read"); !errors.Is(got.err, iocontext.ErrBusy) || got.n != 0 {
				t.Fatalf("second concurrent AsyncReadSome = %v; want (0, ErrBusy)", got)
			}
			r3, h3 := rwHandler(t, "third read")
			s.AsyncRead(other, h3)
			if got := recv(t, r3, "the third read"); !errors.Is(got.err, iocontext.ErrBusy) {
				t.Fatalf("AsyncRead while a read is in flight = %v; want ErrBusy", got)
			}
			// A write may overlap the read.
			w0, hw0 := rwHandler(t, "write during a read")
			s.AsyncWrite([]byte("w"), hw0)
			if got := recv(t, w0, "the write"); got.n != 1 || got.err != nil {
				t.Fatalf("write while a read is in flight = %v; want (1, nil)", got)
			}
			readN(t, peer, 1)
			peer.Write([]byte("abc"))
			if got := recv(t, r1, "the first read"); got.n != 3 || got.err != nil || string(buf[:3]) != "abc" {
				t.Fatalf("first read = %v %q; want (3, nil) \"abc\"", got, buf[:got.n])
			}
			if !bytes.Equal(other, make([]byte, 8)) {
				t.Fatal("the refused reads' buffer was written to")
			}

			// Writes: the refused one's bytes never reach the peer.
			big := pattern(16<<20, 7)
			w1, hw1 := rwHandler(t, "first write")
			s.AsyncWrite(big, hw1)
			w2, hw2 := rwHandler(t, "second write")
			s.AsyncWrite([]byte("INTRUDER"), hw2)
			if got := recv(t, w2, "the second write"); !errors.Is(got.err, iocontext.ErrBusy) || got.n != 0 {
				t.Fatalf("second concurrent AsyncWrite = %v; want (0, ErrBusy)", got)
			}
			w3, hw3 := rwHandler(t, "third write")
			s.AsyncWriteSome([]byte("INTRUDER"), hw3)
			if got := recv(t, w3, "the third write"); !errors.Is(got.err, iocontext.ErrBusy) {
				t.Fatalf("AsyncWriteSome while a write is in flight = %v; want ErrBusy", got)
			}
			got := readN(t, peer, len(big))
			if r := recv(t, w1, "the first write"); r.n != len(big) || r.err != nil {
				t.Fatalf("first write = %v; want (%d, nil)", r, len(big))
			}
			if !bytes.Equal(got, big) {
				t.Fatal("the peer received other bytes than the first write's")
			}
			wt, hwt := rwHandler(t, "tail write")
			s.AsyncWrite([]byte("END"), hwt)
			recv(t, wt, "the tail write")
			if tail := readN(t, peer, 3); string(tail) != "END" {
				t.Fatalf("after the first write the peer got %q; want END", tail)
			}

			// Many goroutines start a read at once: exactly one is accepted.
			const g = 8
			var wg, ready sync.WaitGroup
			gate := make(chan struct{})
			results := make(chan result, g)
			bufs := make([][]byte, g)
			ready.Add(g)
			for i := range g {
				bufs[i] = make([]byte, 4)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ready.Done()
					<-gate
					s.AsyncReadSome(bufs[i], func(n int, err error) { results <- result{n, err} })
				}()
			}
			ready.Wait()
			close(gate)
			wg.Wait()
			busy := 0
			for range g - 1 {
				r := recv(t, results, "the refused reads")
				if !errors.Is(r.err, iocontext.ErrBusy) {
					t.Fatalf("concurrent reads: %v; want %d ErrBusy and one pending", r, g-1)
				}
				busy++
			}
			quiet(t, results, 20*time.Millisecond, "all concurrent reads completed without data")
			peer.Write([]byte("z"))
			if r := recv(t, results, "the accepted read"); r.n != 1 || r.err != nil {
				t.Fatalf("the accepted concurrent read = %v; want (1, nil)", r)
			}
		})
	})
}

func TestOps_ZeroLengthRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			s, peer := tr.pair(t, ctx)
			zero := func(what string, read func(b []byte, h func(int, error)), b []byte) {
				t.Helper()
				res, h := rwHandler(t, what)
				read(b, h)
				runOn(t, ctx, func() int { return ctx.RunFor(5 * time.Second) })
				select {
				case got := <-res:
					if got.n != 0 || got.err != nil {
						t.Fatalf("%s = %v; want (0, nil)", what, got)
					}
				default:
					t.Fatalf("%s did not complete", what)
				}
				ctx.Restart()
			}
			zero("AsyncReadSome(nil)", s.AsyncReadSome, nil)
			zero("AsyncReadSome(empty)", s.AsyncReadSome, []byte{})
			zero("AsyncRead(empty)", s.AsyncRead, make([]byte, 0, 8))

			// With data and then EOF waiting, a zero-length read reports neither: it made
			// no syscall. The data and the EOF are still there afterwards.
			peer.Write([]byte("x"))
			peer.Close()
			time.Sleep(20 * time.Millisecond)
			zero("AsyncReadSome(empty) with data and EOF pending", s.AsyncReadSome, []byte{})
			buf := make([]byte, 4)
			res, h := rwHandler(t, "read after the zero-length one")
			s.AsyncReadSome(buf, h)
			runOn(t, ctx, ctx.Run)
			if got := <-res; got.n != 1 || got.err != nil || buf[0] != 'x' {
				t.Fatalf("read after a zero-length read = %v; want (1, nil) \"x\"", got)
			}
			ctx.Restart()
			res, h = rwHandler(t, "read at EOF")
			s.AsyncReadSome(buf, h)
			runOn(t, ctx, ctx.Run)
			if got := <-res; got.err != io.EOF {
				t.Fatalf("read at EOF = %v; want io.EOF", got)
			}

			if tr.network != "unix" {
				// A pending error (a reset) is not collected by a zero-length read either.
				ctx.Restart()
				s2, peer2 := tr.pair(t, ctx)
				resetPeer(t, peer2)
				time.Sleep(20 * time.Millisecond)
				zero("AsyncReadSome(empty) with a reset pending", s2.AsyncReadSome, []byte{})
				res, h := rwHandler(t, "read after the reset")
				s2.AsyncReadSome(buf, h)
				runOn(t, ctx, ctx.Run)
				if got := <-res; !errors.Is(got.err, syscall.ECONNRESET) {
					t.Fatalf("read after a zero-length read on a reset stream = %v; want ECONNRESET", got)
				}
			}
		})
	})
}

func TestOps_EOFAtOrderlyClose(t *testing.T) {
	type closeWriter interface{ CloseWrite() error }
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			startRunners(t, ctx, 1)
			buf := make([]byte, 8)

			s, peer := tr.pair(t, ctx)
			peer.Write([]byte("hi"))
			peer.Close()
			time.Sleep(10 * time.Millisecond)
			for i, want := range []result{{2, nil}, {0, io.EOF}, {0, io.EOF}} {
				res, h := rwHandler(t, "read")
				s.AsyncReadSome(buf, h)
				got := recv(t, res, fmt.Sprintf("read %d (want %v) after the peer wrote \"hi\" and closed", i, want))
				if got.n != want.n || got.err != want.err { // io.EOF itself, unwrapped
					t.Fatalf("read %d after the peer wrote \"hi\" and closed = %v (%T); want %v", i, got, got.err, want)
				}
			}

			// A pending read, then the peer shuts its writing side: EOF; the other
			// direction still works.
			s2, peer2 := tr.pair(t, ctx)
			res, h := rwHandler(t, "pending read")
			s2.AsyncReadSome(buf, h)
			time.Sleep(10 * time.Millisecond)
			if err := peer2.(closeWriter).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, res, "pending read"); got.n != 0 || got.err != io.EOF {
				t.Fatalf("pending read at the peer's CloseWrite = %v; want (0, io.EOF)", got)
			}
			wres, wh := rwHandler(t, "write after EOF")
			s2.AsyncWrite([]byte("ok"), wh)
			if got := recv(t, wres, "write"); got.n != 2 || got.err != nil {
				t.Fatalf("write after reading EOF = %v", got)
			}
			if got := readN(t, peer2, 2); string(got) != "ok" {
				t.Fatalf("peer got %q", got)
			}

			// And the other way round: coio's CloseWrite is the peer's EOF.
			if err := s2.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if n, err := peer2.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("peer read after CloseWrite = (%d, %v); want (0, EOF)", n, err)
			}
		})
	})
}

// ---- ops — cancellation and close

func TestOps_CancelAbortsPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			s, peer := tr.pair(t, ctx)
			rres, rh := rwHandler(t, "read")
			s.AsyncReadSome(make([]byte, 8), rh)
			big := pattern(32<<20, 9)
			wres, wh := rwHandler(t, "write")
			s.AsyncWrite(big, wh)
			runOn(t, ctx, ctx.Poll) // run the write's partial completions, if any

			s.Cancel()
			select {
			case <-rres:
				t.Fatal("Cancel ran the read's handler inside the call")
			case <-wres:
				t.Fatal("Cancel ran the write's handler inside the call")
			default:
			}
			ctx.Restart()
			if n := runOn(t, ctx, ctx.Run); n != 2 {
				t.Fatalf("Run after Cancel = %d; want the 2 aborted handlers", n)
			}
			r, w := <-rres, <-wres
			for name, got := range map[string]result{"read": r, "write": w} {
				if !errors.Is(got.err, iocontext.ErrAborted) || errors.Is(got.err, net.ErrClosed) {
					t.Errorf("cancelled %s = %v; want ErrAborted (and not net.ErrClosed: nothing was closed)", name, got)
				}
			}
			if r.n != 0 || w.n <= 0 || w.n >= len(big) {
				t.Fatalf("cancelled read reports %d bytes, write %d of %d", r.n, w.n, len(big))
			}

			// Cancel between two parts of an AsyncRead / AsyncWrite: the first part's
			// completion is queued (no runner has run it), the op as a whole is pending
			// and must be aborted, not go on waiting for the rest.
			s2, peer2 := tr.pair(t, ctx)
			peer2.Write(pattern(300, 1))
			time.Sleep(20 * time.Millisecond)
			r2res, r2h := rwHandler(t, "AsyncRead across Cancel")
			s2.AsyncRead(make([]byte, 1000), r2h)
			w2res, w2h := rwHandler(t, "AsyncWrite across Cancel")
			s2.AsyncWrite(make([]byte, 32<<20), w2h)
			s2.Cancel()
			ctx.Restart()
			runOn(t, ctx, func() int { return ctx.RunFor(2 * time.Second) })
			select {
			case r := <-r2res:
				if r.n != 300 || !errors.Is(r.err, iocontext.ErrAborted) {
					t.Errorf("AsyncRead with 300 of 1000 bytes done at Cancel = %v; want (300, ErrAborted)", r)
				}
			default:
				t.Errorf("AsyncRead with 300 of 1000 bytes done at Cancel was not aborted (still pending 2s later)")
			}
			select {
			case w := <-w2res:
				if w.n <= 0 || !errors.Is(w.err, iocontext.ErrAborted) {
					t.Errorf("AsyncWrite partly done at Cancel = %v; want (n > 0, ErrAborted)", w)
				}
			default:
				t.Errorf("AsyncWrite partly done at Cancel was not aborted (still pending 2s later)")
			}
			s2.Close()
			runOn(t, ctx, ctx.Poll)

			// The write's count is exact: the peer gets those bytes, then what comes next.
			ctx.Restart()
			startRunners(t, ctx, 1)
			tres, th := rwHandler(t, "tail write")
			s.AsyncWrite([]byte("TAIL"), th)
			got := readN(t, peer, w.n+4)
			if !bytes.Equal(got[:w.n], big[:w.n]) || string(got[w.n:]) != "TAIL" {
				t.Fatalf("after a write cancelled at %d bytes the peer got other bytes", w.n)
			}
			recv(t, tres, "the tail write")

			// The stream still works, and Cancel with nothing pending does nothing.
			s.Cancel()
			peer.Write([]byte("after"))
			buf := make([]byte, 5)
			res, h := rwHandler(t, "read after Cancel")
			s.AsyncRead(buf, h)
			if got := recv(t, res, "read after Cancel"); got.n != 5 || got.err != nil || string(buf) != "after" {
				t.Fatalf("read after Cancel = %v %q", got, buf)
			}

			// From a handler: the aborted handler is posted, not run inside Cancel.
			res, h = rwHandler(t, "read cancelled from a handler")
			inCancel := make(chan bool, 1)
			var cancelling atomic.Bool
			s.AsyncReadSome(buf, func(n int, err error) {
				inCancel <- cancelling.Load()
				h(n, err)
			})
			ctx.Post(func() { cancelling.Store(true); s.Cancel(); cancelling.Store(false) })
			if got := recv(t, res, "read cancelled from a handler"); !errors.Is(got.err, iocontext.ErrAborted) {
				t.Fatalf("read cancelled from a handler = %v", got)
			}
			if <-inCancel {
				t.Fatal("Cancel from a handler ran the aborted handler inside the call")
			}

			// A listener's Cancel aborts its accept; it accepts again afterwards.
			cl := tr.listenCoio(t, ctx)
			acc := make(chan error, 1)
			cl.accept(func(c stream, err error) {
				if c != nil {
					c.Close()
				}
				acc <- err
			})
			time.Sleep(10 * time.Millisecond)
			cl.cancel()
			if err := recv(t, acc, "cancelled accept"); !errors.Is(err, iocontext.ErrAborted) || errors.Is(err, net.ErrClosed) {
				t.Fatalf("cancelled accept = %v; want ErrAborted only", err)
			}
			cl.accept(func(c stream, err error) {
				if c != nil {
					c.Close()
				}
				acc <- err
			})
			dialPeer(t, cl.addr)
			if err := recv(t, acc, "accept after Cancel"); err != nil {
				t.Fatalf("accept after Cancel = %v; want a connection", err)
			}
		})
	})
}

func TestOps_CloseAbortsPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			ln := tr.peerListener(t)
			before := openFDs()
			s := tr.dial(t, ctx, ln)
			var sfd = -1
			if before != nil {
				if fds := newFDs(before, openFDs()); len(fds) == 1 {
					sfd = fds[0]
				}
			}
			peer := acceptPeer(t, ln)

			rres, rh := rwHandler(t, "read")
			s.AsyncReadSome(make([]byte, 8), rh)
			wres, wh := rwHandler(t, "write")
			s.AsyncWrite(make([]byte, 32<<20), wh)
			runOn(t, ctx, ctx.Poll)

			if err := s.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			select {
			case <-rres:
				t.Fatal("Close ran the read's handler inside the call")
			case <-wres:
				t.Fatal("Close ran the write's handler inside the call")
			default:
			}
			if err := s.Close(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("second Close = %v; want net.ErrClosed", err)
			}
			ctx.Restart()
			runOn(t, ctx, ctx.Run)
			r, w := <-rres, <-wres
			for name, got := range map[string]result{"read": r, "write": w} {
				if !isAbortedClosed(got.err) {
					t.Errorf("%s pending at Close = %v; want ErrAborted and net.ErrClosed", name, got)
				}
			}
			// The descriptor is closed once nothing uses it: the peer gets exactly the
			// bytes written, then EOF.
			if n, err := io.Copy(io.Discard, peer); err != nil || n != int64(w.n) {
				t.Fatalf("peer read %d bytes then %v; want %d then EOF", n, err, w.n)
			}
			if sfd >= 0 && openFDs()[sfd] {
				t.Fatalf("descriptor %d still open after Close and its handlers", sfd)
			}

			// Close between two parts of an AsyncRead / AsyncWrite: the first part's
			// completion is queued (no runner has run it), the op as a whole is pending.
			s3, peer3 := tr.pair(t, ctx)
			peer3.Write(pattern(300, 1))
			time.Sleep(20 * time.Millisecond)
			rres, rh = rwHandler(t, "AsyncRead across Close")
			s3.AsyncRead(make([]byte, 1000), rh)
			wres, wh = rwHandler(t, "AsyncWrite across Close")
			s3.AsyncWrite(make([]byte, 32<<20), wh)
			s3.Close()
			ctx.Restart()
			runOn(t, ctx, ctx.Run)
			r, w = <-rres, <-wres
			if r.n != 300 || !isAbortedClosed(r.err) {
				t.Errorf("AsyncRead with 300 of 1000 bytes done at Close = %v; want (300, ErrAborted and net.ErrClosed)", r)
			}
			if w.n <= 0 || !isAbortedClosed(w.err) {
				t.Errorf("AsyncWrite partly done at Close = %v; want (n > 0, ErrAborted and net.ErrClosed)", w)
			}

			// Two Closes at once: one succeeds, the other gets net.ErrClosed.
			s2, _ := tr.pair(t, ctx)
			errs := make(chan error, 2)
			for range 2 {
				go func() { errs <- s2.Close() }()
			}
			e1, e2 := recv(t, errs, "Close"), recv(t, errs, "Close")
			if (e1 == nil) == (e2 == nil) || !errors.Is(errors.Join(e1, e2), net.ErrClosed) {
				t.Fatalf("concurrent Closes = %v, %v; want one nil and one net.ErrClosed", e1, e2)
			}

			// Listeners: Close aborts the pending accept; a second Close fails.
			cl := tr.listenCoio(t, ctx)
			accept, closeLn := cl.accept, cl.close
			acc := make(chan error, 1)
			accept(func(c stream, err error) { acc <- err })
			if err := closeLn(); err != nil {
				t.Fatalf("listener Close = %v", err)
			}
			ctx.Restart()
			runOn(t, ctx, ctx.Run)
			if err := <-acc; !isAbortedClosed(err) {
				t.Fatalf("accept pending at listener Close = %v; want ErrAborted and net.ErrClosed", err)
			}
			if err := closeLn(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("second listener Close = %v; want net.ErrClosed", err)
			}
		})
	})
}

func TestOps_OpsAfterCloseFail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			s, _ := tr.pair(t, ctx)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			cl := tr.listenCoio(t, ctx)
			accept := cl.accept
			cl.close()
			buf := make([]byte, 8)
			type op struct {
				name  string
				start func(h func(int, error))
			}
			ops := []op{
				{"AsyncReadSome", func(h func(int, error)) { s.AsyncReadSome(buf, h) }},
				{"AsyncRead", func(h func(int, error)) { s.AsyncRead(buf, h) }},
				{"AsyncWriteSome", func(h func(int, error)) { s.AsyncWriteSome(buf, h) }},
				{"AsyncWrite", func(h func(int, error)) { s.AsyncWrite(buf, h) }},
				{"AsyncAccept", func(h func(int, error)) {
					accept(func(c stream, err error) {
						if c != nil {
							c.Close()
							err = errors.New("accepted a connection on a closed listener")
						}
						h(0, err)
					})
				}},
			}
			// One op at a time (two reads at once would be ErrBusy), from outside the
			// runners and from a handler; the handler must be posted, not run inline.
			for _, fromHandler := range []bool{false, true} {
				for _, o := range ops {
					var initiating, inline atomic.Bool
					res, h := rwHandler(t, o.name)
					start := func() {
						initiating.Store(true)
						o.start(func(n int, err error) {
							inline.Store(initiating.Load())
							h(n, err)
						})
						initiating.Store(false)
					}
					ctx.Restart()
					if fromHandler {
						ctx.Post(start)
					} else {
						start()
						select {
						case got := <-res:
							t.Fatalf("%s after Close ran its handler inside the call: %v", o.name, got)
						default:
						}
					}
					runOn(t, ctx, ctx.Run)
					select {
					case got := <-res:
						if got.n != 0 || !errors.Is(got.err, net.ErrClosed) {
							t.Errorf("%s after Close (from a handler: %v) = %v; want (0, net.ErrClosed)", o.name, fromHandler, got)
						}
						if inline.Load() {
							t.Errorf("%s after Close (from a handler: %v): handler ran inline", o.name, fromHandler)
						}
					default:
						t.Errorf("%s after Close (from a handler: %v): handler did not run", o.name, fromHandler)
					}
				}
			}
		})
	})
}

func TestOps_CompletedBeforeCancelKeepsResult(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			// settle gives the kernel time to finish an op whose result is at hand (the
			// data is there, the buffer has room): a proactive backend completes it
			// asynchronously, a reactive one within the initiating call.
			settle := func() { time.Sleep(20 * time.Millisecond) }
			buf := make([]byte, 8)
			for _, how := range []string{"Cancel", "Close"} {
				s, peer := tr.pair(t, ctx)
				peer.Write([]byte("abc"))
				settle()
				rres, rh := rwHandler(t, "read")
				s.AsyncReadSome(buf, rh)
				wres, wh := rwHandler(t, "write")
				s.AsyncWrite([]byte("hello"), wh)
				settle()
				if how == "Cancel" {
					s.Cancel()
				} else {
					s.Close()
				}
				ctx.Restart()
				runOn(t, ctx, ctx.Run)
				if got := <-rres; got.n != 3 || got.err != nil || string(buf[:3]) != "abc" {
					t.Errorf("read completed before %s = %v %q; want (3, nil) \"abc\"", how, got, buf[:got.n])
				}
				if got := <-wres; got.n != 5 || got.err != nil {
					t.Errorf("write completed before %s = %v; want (5, nil)", how, got)
				}
				if got := readN(t, peer, 5); string(got) != "hello" {
					t.Errorf("peer got %q", got)
				}
			}

			// From a handler: start a read whose data is there, cancel in the same handler.
			s, peer := tr.pair(t, ctx)
			peer.Write([]byte("xyz"))
			settle()
			res, h := rwHandler(t, "read cancelled by its initiator")
			ctx.Post(func() {
				s.AsyncReadSome(buf, h)
				settle()
				s.Cancel()
			})
			ctx.Restart()
			runOn(t, ctx, ctx.Run)
			if got := <-res; got.n != 3 || got.err != nil {
				t.Errorf("read completed before a Cancel in the same handler = %v; want (3, nil)", got)
			}

			// An accept whose connection was queued.
			cl := tr.listenCoio(t, ctx)
			dialPeer(t, cl.addr)
			settle()
			acc := make(chan error, 1)
			cl.accept(func(c stream, err error) {
				if c != nil {
					c.Close()
				}
				acc <- err
			})
			settle()
			cl.cancel()
			ctx.Restart()
			runOn(t, ctx, ctx.Run)
			if err := <-acc; err != nil {
				t.Errorf("accept completed before Cancel = %v; want nil", err)
			}
		})
	})
}

func TestOps_NoStaleCompletion(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			startRunners(t, ctx, 2)
			ln := tr.peerListener(t)
			dial := func() (stream, int) {
				before := openFDs()
				var s stream
				var err error
				if tr.network == "unix" {
					s, err = iocontext.DialUnix(ctx, ln.Addr().String())
				} else {
					s, err = iocontext.DialTCP(ctx, tr.network, ln.Addr().String())
				}
				if err != nil {
					t.Fatal(err)
				}
				fd := -1
				if before != nil {
					if fds := newFDs(before, openFDs()); len(fds) == 1 {
						fd = fds[0]
					}
				}
				return s, fd
			}
			accept := func() net.Conn {
				c := acceptPeer(t, ln)
				return c
			}
			reused, iters := 0, 0
			start := time.Now()
			for ; iters < 200 && time.Since(start) < 3*time.Second; iters++ {
				a, fdA := dial()
				pa := accept()
				bufA := make([]byte, 16)
				resA, hA := rwHandler(t, fmt.Sprintf("old read %d", iters))
				a.AsyncReadSome(bufA, hA)
				// The old descriptor's data arrives as it is closed ...
				wrote := make(chan struct{})
				go func() { pa.Write([]byte("OLD!")); close(wrote) }()
				if iters%2 == 0 {
					<-wrote
				}
				a.Close()
				// ... and a new stream takes its number.
				b, fdB := dial()
				if fdA >= 0 && fdA == fdB {
					reused++
				}
				pb := accept()
				bufB := make([]byte, 4)
				resB, hB := rwHandler(t, fmt.Sprintf("new read %d", iters))
				b.AsyncRead(bufB, hB)
				<-wrote
				pa.Write([]byte("OLD2")) // to a closed stream: the peer may get an error
				pb.Write([]byte("NEW!"))
				if got := recv(t, resB, "the new stream's read"); got.n != 4 || got.err != nil || string(bufB) != "NEW!" {
					t.Fatalf("iteration %d: new stream (fd %d, old %d) read %v %q; want (4, nil) \"NEW!\"", iters, fdB, fdA, got, bufB)
				}
				switch got := recv(t, resA, "the old stream's read"); {
				// Its own data may include OLD2: a read whose syscall was already under
				// way when Close was called keeps the old descriptor open until it
				// returns, and reads what reached that socket (CompletedBeforeCancel).
				case got.err == nil && got.n > 0 && bytes.HasPrefix([]byte("OLD!OLD2"), bufA[:got.n]):
				case got.err != nil && isAbortedClosed(got.err):
				default:
					t.Fatalf("iteration %d: old stream's read = %v %q; want its own data or ErrAborted+net.ErrClosed", iters, got, bufA[:got.n])
				}
				if a.LocalAddr() != nil {
					t.Fatalf("iteration %d: the closed stream reports a local address (%v): it reached the new descriptor", iters, a.LocalAddr())
				}
				b.Close()
				pa.Close()
				pb.Close()
			}
			t.Logf("%d iterations, descriptor number reused in %d", iters, reused)
			if openFDs() != nil && reused == 0 {
				t.Fatal("the new stream never got the old descriptor number: the test proved nothing")
			}

			// The same object reopened: completions of its previous life never reach it.
			if tr.network == "unix" {
				return
			}
			conn := iocontext.NewTCPConn(ctx)
			for i := range 20 {
				cerr, ch := errHandler(t, "connect")
				conn.AsyncConnect(tr.network, ln.Addr().(*net.TCPAddr), ch)
				if err := recv(t, cerr, "connect"); err != nil {
					t.Fatalf("reconnect %d: %v", i, err)
				}
				p := accept()
				buf := make([]byte, 4)
				res, h := rwHandler(t, fmt.Sprintf("read in life %d", i))
				conn.AsyncRead(buf, h)
				want := fmt.Sprintf("L%03d", i)
				if i%2 == 0 {
					p.Write([]byte(want))
					if got := recv(t, res, "read"); got.err != nil || string(buf) != want {
						t.Fatalf("life %d read %v %q; want %q", i, got, buf, want)
					}
					conn.Close()
				} else {
					wrote := make(chan struct{})
					go func() { p.Write([]byte("late")); close(wrote) }() // may or may not arrive before the Close
					conn.Close()
					got := recv(t, res, "read")
					<-wrote
					if got.err != nil && !isAbortedClosed(got.err) || got.err == nil && string(buf) != "late" {
						t.Fatalf("life %d read %v %q", i, got, buf)
					}
				}
				p.Close()
			}
		})
	})
}
