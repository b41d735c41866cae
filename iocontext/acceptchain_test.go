package iocontext_test

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
)

// Accepts chained after the listener's handler (acceptor.run): an accept loop whose
// handler accepts again before it returns gets the connections already waiting one
// after another, not one per round of the queue.

// needChain skips a test of the chain where the Context cannot know its caller.
func needChain(t *testing.T) {
	t.Helper()
	if !gident.Supported {
		t.Skip("no goroutine identity on this architecture: accepts are not chained")
	}
}

// runOut runs ctx on this goroutine until it runs out of work, bounded by waitLimit,
// and returns what the run call panicked with.
func runOut(t *testing.T, ctx *iocontext.Context) any {
	t.Helper()
	done := make(chan any, 1)
	go func() { done <- catch(func() { ctx.Run() }) }()
	select {
	case p := <-done:
		return p
	case <-time.After(waitLimit):
		ctx.Stop()
		<-done
		t.Fatal("Run did not run out of work")
		return nil
	}
}

// waitingTCP listens on ctx and connects n raw clients, whose handshakes the kernel
// completes before anything is accepted: n connections wait in the listen queue.
func waitingTCP(t *testing.T, ctx *iocontext.Context, n int) *iocontext.TCPListener {
	t.Helper()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	for range n {
		fd := rawClient(t, ln.Addr())
		t.Cleanup(func() { unix.Close(fd) })
	}
	return ln
}

// chainOrder accepts n waiting connections with an accept loop, the first handler
// posting a marker, and returns how many had been accepted when the marker ran.
func chainOrder(t *testing.T, ctx *iocontext.Context, ln *iocontext.TCPListener, n int) int {
	t.Helper()
	accepted, markerAt := 0, -1
	var accept func(*iocontext.TCPConn, error)
	accept = func(c *iocontext.TCPConn, err error) {
		if err != nil {
			t.Errorf("accept %d: %v", accepted+1, err)
			return
		}
		c.Close()
		accepted++
		if accepted == 1 {
			ctx.Post(func() { markerAt = accepted })
		}
		if accepted < n {
			ln.AsyncAccept(accept)
		}
	}
	ln.AsyncAccept(accept)
	if p := runOut(t, ctx); p != nil {
		t.Fatalf("Run panicked: %v", p)
	}
	if accepted != n {
		t.Fatalf("accepted %d connections, want %d", accepted, n)
	}
	return markerAt
}

func TestAcceptChainTakesWaitingConnections(t *testing.T) {
	needChain(t)
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		const n = 8
		ln := waitingTCP(t, ctx, n)
		// Without the chain the marker, queued by the first handler, ran before the
		// second accept's handler.
		if got := chainOrder(t, ctx, ln, n); got != n {
			t.Fatalf("a handler posted by the first accept's handler ran after %d accepts; want all %d waiting connections accepted first", got, n)
		}
		st := ctx.Stats()
		if s, c := st.Submitted[proactor.OpAccept], st.Completed[proactor.OpAccept]; s != n || c != n {
			t.Fatalf("Stats: %d accepts submitted, %d completed; want %d and %d", s, c, n, n)
		}
	})
}

func TestAcceptChainIsBounded(t *testing.T) {
	needChain(t)
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		n := iocontext.AcceptChain + 3
		ln := waitingTCP(t, ctx, n)
		if got := chainOrder(t, ctx, ln, n); got != iocontext.AcceptChain {
			t.Fatalf("a handler posted by the first accept's handler ran after %d accepts; want %d (AcceptChain)", got, iocontext.AcceptChain)
		}
	})
}

func TestAcceptChainUnix(t *testing.T) {
	needChain(t)
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		path := filepath.Join(t.TempDir(), "s")
		ln, err := iocontext.ListenUnix(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		const n = 4
		for range n {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
				t.Fatal(err)
			}
		}
		accepted, markerAt := 0, -1
		var accept func(*iocontext.UnixConn, error)
		accept = func(c *iocontext.UnixConn, err error) {
			if err != nil {
				t.Errorf("accept %d: %v", accepted+1, err)
				return
			}
			c.Close()
			accepted++
			if accepted == 1 {
				ctx.Post(func() { markerAt = accepted })
			}
			if accepted < n {
				ln.AsyncAccept(accept)
			}
		}
		ln.AsyncAccept(accept)
		if p := runOut(t, ctx); p != nil {
			t.Fatalf("Run panicked: %v", p)
		}
		if accepted != n || markerAt != n {
			t.Fatalf("accepted %d, marker after %d; want %d and %d", accepted, markerAt, n, n)
		}
	})
}

// A Cancel or Close made by the handler after it accepted again aborts that accept,
// as it would one in flight, though a connection is waiting; the connection stays
// for the next accept.
func TestAcceptChainCancelAndClose(t *testing.T) {
	needChain(t)
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Run("Cancel", func(t *testing.T) {
			ctx := be.open(t)
			ln := waitingTCP(t, ctx, 2)
			var errs []error
			var accept func(*iocontext.TCPConn, error)
			accept = func(c *iocontext.TCPConn, err error) {
				errs = append(errs, err)
				if c != nil {
					c.Close()
				}
				switch len(errs) {
				case 1:
					ln.AsyncAccept(accept)
					ln.Cancel()
				case 2:
					ln.AsyncAccept(accept)
				}
			}
			ln.AsyncAccept(accept)
			if p := runOut(t, ctx); p != nil {
				t.Fatalf("Run panicked: %v", p)
			}
			if len(errs) != 3 || errs[0] != nil || !errors.Is(errs[1], iocontext.ErrAborted) || errs[2] != nil {
				t.Fatalf("handlers got %v; want nil, ErrAborted (cancelled by the handler before), nil (the connection still waiting)", errs)
			}
		})
		t.Run("Close", func(t *testing.T) {
			ctx := be.open(t)
			ln := waitingTCP(t, ctx, 2)
			var errs []error
			var accept func(*iocontext.TCPConn, error)
			accept = func(c *iocontext.TCPConn, err error) {
				errs = append(errs, err)
				if c != nil {
					c.Close()
				}
				if len(errs) == 1 {
					ln.AsyncAccept(accept)
					ln.Close()
				}
			}
			ln.AsyncAccept(accept)
			if p := runOut(t, ctx); p != nil {
				t.Fatalf("Run panicked: %v", p)
			}
			if len(errs) != 2 || errs[0] != nil || !errors.Is(errs[1], iocontext.ErrAborted) || !errors.Is(errs[1], net.ErrClosed) {
				t.Fatalf("handlers got %v; want nil, then an error matching ErrAborted and net.ErrClosed", errs)
			}
		})
	})
}

// A handler that panics after accepting again loses nothing: the panic leaves Run,
// and the next Run delivers the waiting connection to the accept it started.
func TestAcceptChainSurvivesPanic(t *testing.T) {
	needChain(t)
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		ln := waitingTCP(t, ctx, 2)
		var errs []error
		var accept func(*iocontext.TCPConn, error)
		accept = func(c *iocontext.TCPConn, err error) {
			errs = append(errs, err)
			if c != nil {
				c.Close()
			}
			if len(errs) == 1 {
				ln.AsyncAccept(accept)
				panic("handler fails after accepting again")
			}
		}
		ln.AsyncAccept(accept)
		if p := runOut(t, ctx); p == nil {
			t.Fatal("Run returned without the handler's panic")
		}
		if p := runOut(t, ctx); p != nil {
			t.Fatalf("second Run panicked: %v", p)
		}
		if len(errs) != 2 || errs[0] != nil || errs[1] != nil {
			t.Fatalf("handlers got %v; want two connections", errs)
		}
	})
}
