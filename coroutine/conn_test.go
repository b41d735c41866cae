package coroutine_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/coroutine"
	"github.com/coionet/coio/internal/testcert"
	"github.com/coionet/coio/iocontext"
)

// serveOne accepts one connection and runs fn in a coroutine with its net.Conn view;
// it returns the address and a channel closed when fn has returned.
func serveOne(t *testing.T, ctx *iocontext.Context, fn func(y *coroutine.Yield, c net.Conn)) (string, chan struct{}) {
	t.Helper()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	coroutine.SpawnWith(ctx, func(y *coroutine.Yield) {
		c, err := y.Accept(ln)
		ln.Close()
		if err != nil {
			t.Error(err)
			return
		}
		nc := y.Conn(c)
		defer nc.Close()
		fn(y, nc)
	}, func(p any) {
		if p != nil {
			t.Errorf("coroutine panicked: %v", p)
		}
		close(done)
	})
	return ln.Addr().String(), done
}

func runBackground(t *testing.T, ctx *iocontext.Context) {
	g := iocontext.NewWorkGuard(ctx)
	stopped := make(chan struct{})
	go func() { testctx.RunN(ctx, 2); close(stopped) }()
	t.Cleanup(func() { g.Reset(); ctx.Stop(); <-stopped })
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCoroutine_CoroutineNetConn(t *testing.T) {
	t.Run("bufio and ReadFull and partial reads", func(t *testing.T) {
		ctx := testctx.New(t)
		var line string
		var full, partial []byte
		addr, done := serveOne(t, ctx, func(y *coroutine.Yield, c net.Conn) {
			small := make([]byte, 100)
			n, err := c.Read(small) // the client sent 3 bytes: a partial read, as in net
			if err != nil {
				t.Error(err)
				return
			}
			partial = small[:n]
			c.Write([]byte("ok\n"))
			r := bufio.NewReader(c)
			line, _ = r.ReadString('\n')
			full = make([]byte, 10)
			if _, err := io.ReadFull(r, full); err != nil {
				t.Error(err)
			}
			bufio.NewWriter(c).WriteString("unused") // not flushed: nothing sent
			w := bufio.NewWriter(c)
			w.WriteString("bye\n")
			w.Flush()
		})
		runBackground(t, ctx)
		c := dial(t, addr)
		c.Write([]byte("abc"))
		ack := make([]byte, 3)
		io.ReadFull(c, ack)
		c.Write([]byte("hello\n0123456789"))
		reply, _ := bufio.NewReader(c).ReadString('\n')
		<-done
		if string(partial) != "abc" || line != "hello\n" || string(full) != "0123456789" || reply != "bye\n" {
			t.Fatalf("partial=%q line=%q full=%q reply=%q", partial, line, full, reply)
		}
	})

	t.Run("io.Copy until EOF", func(t *testing.T) {
		ctx := testctx.New(t)
		var copied int64
		addr, done := serveOne(t, ctx, func(y *coroutine.Yield, c net.Conn) {
			var err error
			copied, err = io.Copy(c, c) // echo until the client closes its side
			if err != nil {
				t.Error(err)
			}
		})
		runBackground(t, ctx)
		c := dial(t, addr)
		msg := make([]byte, 200000)
		for i := range msg {
			msg[i] = byte(i)
		}
		go func() {
			c.Write(msg)
			c.(*net.TCPConn).CloseWrite()
		}()
		got, err := io.ReadAll(c)
		<-done
		if err != nil || len(got) != len(msg) || copied != int64(len(msg)) {
			t.Fatalf("echoed %d (copied %d), %v; want %d", len(got), copied, err, len(msg))
		}
	})

	t.Run("deadlines", func(t *testing.T) {
		ctx := testctx.New(t)
		release := make(chan struct{})
		var errShort, errSuspended, errAfter error
		var nc net.Conn
		ready := make(chan struct{})
		addr, done := serveOne(t, ctx, func(y *coroutine.Yield, c net.Conn) {
			buf := make([]byte, 10)
			c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			_, errShort = c.Read(buf) // nothing comes: the deadline passes
			c.SetReadDeadline(time.Time{})
			nc = c
			close(ready)
			_, errSuspended = c.Read(buf)      // ended by a deadline set from another goroutine
			_, errAfter = c.Write([]byte("x")) // writes are not affected by the read deadline
			<-release
		})
		runBackground(t, ctx)
		c := dial(t, addr)
		<-ready
		time.Sleep(20 * time.Millisecond) // let the Read suspend
		nc.SetReadDeadline(time.Now())
		one := make([]byte, 1)
		io.ReadFull(c, one)
		close(release)
		<-done
		for _, err := range []error{errShort, errSuspended} {
			var ne net.Error
			if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("read past its deadline: %v; want os.ErrDeadlineExceeded, a timeout", err)
			}
		}
		if errAfter != nil || one[0] != 'x' {
			t.Errorf("write after a read timeout: %v", errAfter)
		}
	})

	t.Run("Close from another goroutine", func(t *testing.T) {
		ctx := testctx.New(t)
		var readErr error
		var nc net.Conn
		ready := make(chan struct{})
		addr, done := serveOne(t, ctx, func(y *coroutine.Yield, c net.Conn) {
			nc = c
			close(ready)
			_, readErr = c.Read(make([]byte, 10))
		})
		runBackground(t, ctx)
		dial(t, addr)
		<-ready
		time.Sleep(20 * time.Millisecond)
		nc.Close()
		<-done
		if !errors.Is(readErr, net.ErrClosed) {
			t.Fatalf("suspended Read after Close: %v; want net.ErrClosed", readErr)
		}
	})

	t.Run("crypto/tls", func(t *testing.T) {
		ctx := testctx.New(t)
		cert := testcert.New(t)
		var got string
		addr, done := serveOne(t, ctx, func(y *coroutine.Yield, c net.Conn) {
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			if err := tc.Handshake(); err != nil {
				t.Error(err)
				return
			}
			line, err := bufio.NewReader(tc).ReadString('\n')
			if err != nil {
				t.Error(err)
				return
			}
			got = line
			tc.Write([]byte("secure " + line))
			tc.Close()
		})
		runBackground(t, ctx)
		c, err := tls.Dial("tcp4", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("hello tls\n"))
		reply, _ := io.ReadAll(c)
		<-done
		if got != "hello tls\n" || string(reply) != "secure hello tls\n" {
			t.Fatalf("server got %q, client got %q", got, reply)
		}
	})
}
