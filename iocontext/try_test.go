package iocontext_test

import (
	"errors"
	"io"
	"net"
	"testing"

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
