package iocontext_test

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
	"golang.org/x/sys/unix"
)

func TestTryReadWriteSome(t *testing.T) {
	ctx := newContext(t)
	runInBackground(t, ctx, 1)
	c, peer := connPair(t, ctx)
	buf := make([]byte, 16)
	if n, err := c.TryReadSome(buf); n != 0 || err != iocontext.ErrWouldBlock {
		t.Fatalf("TryReadSome with nothing to read = %d, %v; want ErrWouldBlock", n, err)
	}
	unix.Write(peer, []byte("hello"))
	var n int
	var err error
	for range 1000 { // the bytes cross loopback at once, but give them a moment
		if n, err = c.TryReadSome(buf); err != iocontext.ErrWouldBlock {
			break
		}
	}
	if n != 5 || err != nil || string(buf[:5]) != "hello" {
		t.Fatalf("TryReadSome = %d, %v, %q", n, err, buf[:n])
	}
	if n, err := c.TryWriteSome([]byte("world")); n != 5 || err != nil {
		t.Fatalf("TryWriteSome = %d, %v", n, err)
	}
	got := make([]byte, 5)
	if _, err := io.ReadFull(fdReader(peer), got); err != nil || string(got) != "world" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	// While an asynchronous read is in flight, a try is refused, not interleaved.
	done := make(chan error, 1)
	c.AsyncReadSome(buf, func(_ int, err error) { done <- err })
	if _, err := c.TryReadSome(buf); !errors.Is(err, iocontext.ErrBusy) {
		t.Fatalf("TryReadSome during AsyncReadSome = %v; want ErrBusy", err)
	}
	unix.Shutdown(peer, unix.SHUT_WR)
	if err := <-done; err != io.EOF {
		t.Fatalf("AsyncReadSome at the peer's close = %v; want io.EOF", err)
	}
	if n, err := c.TryReadSome(buf); n != 0 || err != io.EOF {
		t.Fatalf("TryReadSome after the end of stream = %d, %v; want io.EOF", n, err)
	}
	c.Close()
	if _, err := c.TryWriteSome([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("TryWriteSome after Close = %v; want net.ErrClosed", err)
	}
}

type fdReader int

func (f fdReader) Read(b []byte) (int, error) { return unix.Read(int(f), b) }

// TestTryReadLent: the lent read's fast path on every backend. It says ErrWouldBlock
// when nothing is there and ErrBusy while another read is in flight; it lends what
// came, in order with what an asynchronous lent read got before it (on io_uring the
// bytes may wait in a multishot recv's queue, ahead of the socket), and it reports
// the end of the stream and a closed connection.
func TestTryReadLent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		runInBackground(t, ctx, 1)
		c, peer := connPair(t, ctx)
		if b, err := c.TryReadLent(); err != iocontext.ErrWouldBlock || b.B != nil {
			t.Fatalf("TryReadLent with nothing to read = %q, %v; want ErrWouldBlock", b.B, err)
		}
		try := func() (b iocontext.LentBuffer, err error) {
			err = soon(func() (err error) { b, err = c.TryReadLent(); return err })
			return b, err
		}
		var got []byte
		unix.Write(peer, []byte("hello"))
		b, err := try()
		if err != nil {
			t.Fatalf("TryReadLent with data there = %q, %v", b.B, err)
		}
		got = append(got, b.B...)
		b.Release()
		// An asynchronous lent read first, then more data: whatever the backend
		// received for it since (io_uring's multishot recv) comes out in order.
		done := startLent(t, c)
		if _, err := c.TryReadLent(); !errors.Is(err, iocontext.ErrBusy) {
			t.Fatalf("TryReadLent during AsyncReadLent = %v; want ErrBusy", err)
		}
		unix.Write(peer, []byte(", "))
		b = recv(t, done, "the asynchronous lent read")
		got = append(got, b.B...)
		b.Release()
		unix.Write(peer, []byte("world"))
		for len(got) < len("hello, world") {
			b, err := try()
			if err != nil {
				t.Fatalf("TryReadLent after %q = %q, %v", got, b.B, err)
			}
			got = append(got, b.B...)
			b.Release()
		}
		if string(got) != "hello, world" {
			t.Fatalf("lent reads got %q; want %q", got, "hello, world")
		}
		unix.Shutdown(peer, unix.SHUT_WR)
		if b, err := try(); err != io.EOF || b.B != nil {
			t.Fatalf("TryReadLent at the end of stream = %q, %v; want io.EOF", b.B, err)
		}
		c.Close()
		if _, err := c.TryReadLent(); err == nil || err == iocontext.ErrWouldBlock {
			t.Fatalf("TryReadLent after Close = %v; want an error", err)
		}
	})
}

// startLent starts a lent read on c; its buffer comes on the channel (an error fails
// the test).
func startLent(t *testing.T, c *iocontext.TCPConn) <-chan iocontext.LentBuffer {
	ch := make(chan iocontext.LentBuffer, 1)
	c.AsyncReadLent(func(b iocontext.LentBuffer, err error) {
		if err != nil {
			t.Errorf("AsyncReadLent = %v", err)
		}
		ch <- b
	})
	return ch
}

// TestLentThenOwnReads: reads into the caller's buffer after lent reads, on every
// backend. On io_uring a lent read leaves its multishot recv armed, and bytes it
// received wait for the next lent read: an own-buffer read must take them first, in
// order, keep the rest of a piece it cannot hold, and not race the recv for what
// comes next (found by review: the read waited for good, or bytes came out of order).
func TestLentThenOwnReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		runInBackground(t, ctx, 1)
		c, peer := connPair(t, ctx)
		var got []byte
		lent := func() {
			t.Helper()
			b := recv(t, startLent(t, c), "a lent read")
			got = append(got, b.B...)
			b.Release()
		}
		// own starts a read into a buffer of size and returns a wait for its bytes.
		own := func(size int) func() {
			buf := make([]byte, size)
			ch := make(chan int, 1)
			c.AsyncReadSome(buf, func(n int, err error) {
				if err != nil {
					t.Errorf("AsyncReadSome = %v", err)
				}
				ch <- n
			})
			return func() {
				t.Helper()
				n := recv(t, ch, "an own-buffer read")
				got = append(got, buf[:n]...)
			}
		}
		unix.Write(peer, []byte("a"))
		lent()
		wait := own(16) // nothing there yet: it waits (for the recv to end, on io_uring)
		time.Sleep(10 * time.Millisecond)
		unix.Write(peer, []byte("b"))
		wait()
		unix.Write(peer, []byte("c"))
		lent()
		unix.Write(peer, []byte("defgh")) // queued behind the armed recv on io_uring
		time.Sleep(20 * time.Millisecond)
		for len(got) < len("abcdefgh") {
			own(2)() // pieces larger than the buffer: the rest stays for the next read
		}
		unix.Write(peer, []byte("i"))
		lent() // on io_uring its recv stays armed and receives the next bytes
		unix.Write(peer, []byte("j"))
		buf := make([]byte, 1)
		deadline := time.Now().Add(waitLimit)
		for len(got) < len("abcdefghij") && time.Now().Before(deadline) {
			// TryReadSome too takes what the recv received first, byte by byte.
			if n, err := c.TryReadSome(buf); err == nil {
				got = append(got, buf[:n]...)
			} else if err != iocontext.ErrWouldBlock {
				t.Fatalf("TryReadSome = %v", err)
			}
		}
		if string(got) != "abcdefghij" {
			t.Fatalf("reads got %q; want %q", got, "abcdefghij")
		}
		c.Close()
	})
}

// TestOwnReadAfterLentCancelAndClose: an own-buffer read waiting behind lent reads'
// recv (io_uring: until the recv ends) is aborted by Cancel, and by Close, on every
// backend.
func TestOwnReadAfterLentCancelAndClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		runInBackground(t, ctx, 1)
		c, peer := connPair(t, ctx)
		for _, end := range []string{"Cancel", "Close"} {
			unix.Write(peer, []byte("x"))
			lb := make(chan iocontext.LentBuffer, 1)
			c.AsyncReadLent(func(b iocontext.LentBuffer, err error) { lb <- b })
			b := recv(t, lb, "a lent read")
			b.Release()
			errc := make(chan error, 1)
			c.AsyncReadSome(make([]byte, 8), func(n int, err error) { errc <- err })
			time.Sleep(10 * time.Millisecond)
			if end == "Cancel" {
				c.Cancel()
			} else {
				c.Close()
			}
			if err := recv(t, errc, "the read's end after "+end); !errors.Is(err, iocontext.ErrAborted) && !errors.Is(err, net.ErrClosed) {
				t.Fatalf("own-buffer read after %s = %v; want an aborted error", end, err)
			}
		}
	})
}

// TestTryAccept: the accept's fast path on every backend. It says ErrWouldBlock when
// no connection waits and ErrBusy while an AsyncAccept is in flight; it takes every
// connection waiting, including those a multishot accept (io_uring) took ahead of the
// application, and the connections it returns work.
func TestTryAccept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		runInBackground(t, ctx, 1)
		ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if c, err := ln.TryAccept(); c != nil || err != iocontext.ErrWouldBlock {
			t.Fatalf("TryAccept with no connection waiting = %v, %v; want ErrWouldBlock", c, err)
		}
		// One accepted asynchronously first: on io_uring that arms the multishot
		// accept, which may take the later connections before TryAccept asks.
		got := make(chan *iocontext.TCPConn, 1)
		ln.AsyncAccept(func(c *iocontext.TCPConn, err error) {
			if err != nil {
				t.Error(err)
			}
			got <- c
		})
		if c, err := ln.TryAccept(); c != nil || !errors.Is(err, iocontext.ErrBusy) {
			t.Fatalf("TryAccept during AsyncAccept = %v, %v; want ErrBusy", c, err)
		}
		const n = 4
		var peers []int
		for range n {
			peers = append(peers, rawClient(t, ln.Addr()))
		}
		conns := []*iocontext.TCPConn{<-got}
		for len(conns) < n {
			var c *iocontext.TCPConn
			err := soon(func() (err error) { c, err = ln.TryAccept(); return err })
			if err != nil {
				t.Fatalf("TryAccept with %d connections waiting: %v", n-len(conns), err)
			}
			conns = append(conns, c)
		}
		if c, err := ln.TryAccept(); c != nil || err != iocontext.ErrWouldBlock {
			t.Fatalf("TryAccept after every connection was taken = %v, %v; want ErrWouldBlock", c, err)
		}
		// Each connection is one of the peers': what a peer writes, one of them reads.
		for i, p := range peers {
			unix.Write(p, []byte{byte('a' + i)})
		}
		seen := map[byte]bool{}
		for _, c := range conns {
			seen[readByte(t, c)] = true
			c.Close()
		}
		if len(seen) != n {
			t.Fatalf("the accepted connections read %v; want one byte from each of %d peers", seen, n)
		}
		for _, p := range peers {
			unix.Close(p)
		}
		ln.Close()
		if c, err := ln.TryAccept(); c != nil || err == nil || err == iocontext.ErrWouldBlock {
			t.Fatalf("TryAccept on a closed listener = %v, %v; want an error", c, err)
		}
	})
}

// TestUnixTryAccept: the Unix listener's TryAccept takes waiting connections, says
// ErrWouldBlock when none waits and ErrBusy during an AsyncAccept, on every backend.
func TestUnixTryAccept(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		runInBackground(t, ctx, 1)
		path := filepath.Join(t.TempDir(), "s")
		ln, err := iocontext.ListenUnix(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if c, err := ln.TryAccept(); c != nil || err != iocontext.ErrWouldBlock {
			t.Fatalf("TryAccept with no connection waiting = %v, %v; want ErrWouldBlock", c, err)
		}
		const n = 3
		for i := range n {
			unix.Write(unixClient(t, path), []byte{byte('a' + i)})
		}
		seen := map[byte]bool{}
		for range n {
			var c *iocontext.UnixConn
			if err := soon(func() (err error) { c, err = ln.TryAccept(); return err }); err != nil {
				t.Fatalf("TryAccept: %v", err)
			}
			seen[readByte(t, c)] = true
			c.Close()
		}
		if len(seen) != n {
			t.Fatalf("accepted connections read %v; want one byte from each of %d peers", seen, n)
		}
		got := make(chan error, 1)
		ln.AsyncAccept(func(c *iocontext.UnixConn, err error) { got <- err })
		if c, err := ln.TryAccept(); c != nil || !errors.Is(err, iocontext.ErrBusy) {
			t.Fatalf("TryAccept during AsyncAccept = %v, %v; want ErrBusy", c, err)
		}
		ln.Close()
		select {
		case err := <-got:
			if !errors.Is(err, iocontext.ErrAborted) {
				t.Fatalf("AsyncAccept closed = %v; want ErrAborted", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("AsyncAccept's handler did not run after Close")
		}
	})
}

// TestTryAcceptInto: TryAcceptInto reuses a closed connection for a waiting one, says
// ErrWouldBlock when none waits and ErrBusy for a connection still open, on every
// backend, for TCP and Unix listeners.
func TestTryAcceptInto(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		runInBackground(t, ctx, 1)
		t.Run("tcp", func(t *testing.T) {
			ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			conn := iocontext.NewTCPConn(ctx)
			if err := ln.TryAcceptInto(conn); err != iocontext.ErrWouldBlock {
				t.Fatalf("TryAcceptInto with nothing waiting = %v; want ErrWouldBlock", err)
			}
			for i := range 2 {
				p := rawClient(t, ln.Addr())
				defer unix.Close(p)
				unix.Write(p, []byte{byte('a' + i)})
				if err := soon(func() error { return ln.TryAcceptInto(conn) }); err != nil {
					t.Fatalf("TryAcceptInto, connection %d: %v", i, err)
				}
				if b := readByte(t, conn); b != byte('a'+i) {
					t.Fatalf("connection %d read %q; want %q", i, b, byte('a'+i))
				}
				if i == 0 {
					if err := ln.TryAcceptInto(conn); !errors.Is(err, iocontext.ErrBusy) {
						t.Fatalf("TryAcceptInto an open connection = %v; want ErrBusy", err)
					}
				}
				conn.Close()
			}
		})
		t.Run("unix", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s")
			ln, err := iocontext.ListenUnix(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			conn := iocontext.NewUnixConn(ctx)
			unix.Write(unixClient(t, path), []byte{'u'})
			if err := soon(func() error { return ln.TryAcceptInto(conn) }); err != nil {
				t.Fatalf("TryAcceptInto: %v", err)
			}
			if b := readByte(t, conn); b != 'u' {
				t.Fatalf("read %q; want 'u'", b)
			}
			if err := ln.TryAcceptInto(conn); !errors.Is(err, iocontext.ErrBusy) {
				t.Fatalf("TryAcceptInto an open connection = %v; want ErrBusy", err)
			}
			conn.Close()
		})
	})
}

// soon calls try until it says something other than ErrWouldBlock, for up to
// waitLimit, and returns what it said last.
func soon(try func() error) error {
	deadline := time.Now().Add(waitLimit)
	for {
		err := try()
		if err != iocontext.ErrWouldBlock || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// readByte reads, within waitLimit, the one byte a peer wrote on c.
func readByte(t *testing.T, c interface{ TryReadSome([]byte) (int, error) }) byte {
	t.Helper()
	b := make([]byte, 1)
	var n int
	err := soon(func() (err error) { n, err = c.TryReadSome(b); return err })
	if n != 1 || err != nil {
		t.Fatalf("read on an accepted connection = %d, %v", n, err)
	}
	return b[0]
}

// unixClient connects a plain blocking socket to the Unix listener at path; it is
// closed when the test ends.
func unixClient(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	return fd
}
