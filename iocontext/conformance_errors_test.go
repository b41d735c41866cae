package iocontext_test

// SEMANTICS.md, "errors (Go mapping)".

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coionet/coio/iocontext"
	"golang.org/x/sys/unix"
)

// wantOpError checks that err is a *net.OpError for op wrapping errno (directly or
// through an *os.SyscallError).
func wantOpError(t *testing.T, what string, err error, op string, errnos ...syscall.Errno) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Errorf("%s: %T %v; want a *net.OpError", what, err, err)
		return
	}
	if oe.Op != op {
		t.Errorf("%s: OpError.Op = %q; want %q", what, oe.Op, op)
	}
	matched := false
	for _, e := range errnos {
		matched = matched || errors.Is(err, e)
	}
	if !matched {
		t.Errorf("%s: %v; want errors.Is to match one of %v", what, err, errnos)
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		t.Errorf("%s: %v does not wrap a syscall.Errno", what, err)
	}
	if err.Error() == "" {
		t.Errorf("%s: empty error text", what)
	}
}

func TestErrors_ErrorsAreGoErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		forEachTransport(t, func(t *testing.T, tr transport) {
			ctx := be.open(t)
			startRunners(t, ctx, 1)
			buf := make([]byte, 8)
			read := func(s stream) result {
				t.Helper()
				res, h := rwHandler(t, "read")
				s.AsyncReadSome(buf, h)
				return recv(t, res, "read")
			}
			write := func(s stream, b []byte) result {
				t.Helper()
				res, h := rwHandler(t, "write")
				s.AsyncWrite(b, h)
				return recv(t, res, "write")
			}

			// io.EOF, itself, at an orderly end.
			s, peer := tr.pair(t, ctx)
			peer.Close()
			if r := read(s); r.err != io.EOF {
				t.Errorf("read at the peer's close = %v (%T); want io.EOF itself", r.err, r.err)
			}

			// ErrAborted for a cancelled op; with net.ErrClosed too when closed.
			s, _ = tr.pair(t, ctx)
			res, h := rwHandler(t, "read")
			s.AsyncReadSome(buf, h)
			time.Sleep(5 * time.Millisecond)
			s.Cancel()
			if r := recv(t, res, "cancelled read"); !errors.Is(r.err, iocontext.ErrAborted) {
				t.Errorf("cancelled read = %v; want errors.Is ErrAborted", r.err)
			}
			res, h = rwHandler(t, "read")
			s.AsyncReadSome(buf, h)
			time.Sleep(5 * time.Millisecond)
			s.Close()
			r := recv(t, res, "read aborted by Close")
			if !errors.Is(r.err, iocontext.ErrAborted) || !errors.Is(r.err, net.ErrClosed) {
				t.Errorf("read aborted by Close = %v; want errors.Is ErrAborted and net.ErrClosed", r.err)
			}

			// net.ErrClosed after Close, for ops and for Close itself.
			if r := read(s); !errors.Is(r.err, net.ErrClosed) {
				t.Errorf("read after Close = %v; want net.ErrClosed", r.err)
			}
			if err := s.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close = %v; want net.ErrClosed", err)
			}

			// ErrBusy is a sentinel usable with errors.Is.
			s, _ = tr.pair(t, ctx)
			s.AsyncReadSome(buf, func(int, error) {})
			if r := read(s); !errors.Is(r.err, iocontext.ErrBusy) {
				t.Errorf("second read = %v; want ErrBusy", r.err)
			}
			s.Close()

			if tr.network != "unix" {
				// A reset: *net.OpError wrapping ECONNRESET, for reads and then writes.
				s, peer = tr.pair(t, ctx)
				resetPeer(t, peer)
				time.Sleep(20 * time.Millisecond)
				r := read(s)
				wantOpError(t, "read from a reset connection", r.err, "read", syscall.ECONNRESET)
				var oe *net.OpError
				if errors.As(r.err, &oe) && oe.Net != "tcp" {
					t.Errorf("OpError.Net = %q; want tcp", oe.Net)
				}
				var se *os.SyscallError
				if !errors.As(r.err, &se) {
					t.Errorf("read from a reset connection: %v; want an *os.SyscallError inside", r.err)
				}
				w := write(s, make([]byte, 1<<20))
				wantOpError(t, "write to a reset connection", w.err, "write", syscall.ECONNRESET, syscall.EPIPE)
			} else {
				// The peer gone: writes fail with EPIPE.
				s, peer = tr.pair(t, ctx)
				peer.Close()
				time.Sleep(10 * time.Millisecond)
				w := write(s, make([]byte, 1<<20))
				wantOpError(t, "write to a closed Unix peer", w.err, "write", syscall.EPIPE, syscall.ECONNRESET)
			}

			// Dial and listen errors.
			if tr.network == "unix" {
				missing := filepath.Join(sockDir(t), "missing.sock")
				if c, err := iocontext.DialUnix(ctx, missing); err == nil {
					c.Close()
					t.Error("DialUnix to a missing socket succeeded")
				} else {
					wantOpError(t, "DialUnix to a missing socket", err, "dial", syscall.ENOENT, syscall.ECONNREFUSED)
				}
				derr := make(chan error, 1)
				iocontext.AsyncDialUnix(ctx, missing, func(c *iocontext.UnixConn, err error) {
					if c != nil {
						c.Close()
					}
					derr <- err
				})
				wantOpError(t, "AsyncDialUnix to a missing socket", recv(t, derr, "dial"), "dial", syscall.ENOENT, syscall.ECONNREFUSED)
				ln := tr.listenCoio(t, ctx)
				if l2, err := iocontext.ListenUnix(ctx, ln.addr.String()); err == nil {
					l2.Close()
					t.Error("ListenUnix on a path in use succeeded")
				} else {
					wantOpError(t, "ListenUnix on a path in use", err, "listen", syscall.EADDRINUSE)
				}
				return
			}
			free, err := net.Listen(tr.network, tr.addr)
			if err != nil {
				t.Fatal(err)
			}
			addr := free.Addr().String()
			free.Close() // nothing listens there now
			if c, err := iocontext.DialTCP(ctx, tr.network, addr); err == nil {
				c.Close()
				t.Error("DialTCP to a closed port succeeded")
			} else {
				wantOpError(t, "DialTCP to a closed port", err, "dial", syscall.ECONNREFUSED)
			}
			derr := make(chan error, 1)
			iocontext.AsyncDialTCP(ctx, tr.network, addr, func(c *iocontext.TCPConn, err error) {
				if c != nil {
					c.Close()
				}
				derr <- err
			})
			wantOpError(t, "AsyncDialTCP to a closed port", recv(t, derr, "dial"), "dial", syscall.ECONNREFUSED)
			ln := tr.listenCoio(t, ctx)
			if l2, err := iocontext.ListenTCP(ctx, tr.network, ln.addr.String()); err == nil {
				l2.Close()
				t.Error("ListenTCP on an address in use succeeded")
			} else {
				wantOpError(t, "ListenTCP on an address in use", err, "listen", syscall.EADDRINUSE)
			}
		})
		// os.ErrDeadlineExceeded: iocontext has no deadline API; the coroutine
		// net.Conn view's deadlines are tested by TestCoroutine_CoroutineNetConn.
	})
}

func TestErrors_AcceptSurvivesTransient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		t.Run("EMFILE", func(t *testing.T) { acceptSurvivesEMFILE(t, be, false) })
		t.Run("EMFILE/AsyncAcceptEach", func(t *testing.T) { acceptSurvivesEMFILE(t, be, true) })
		t.Run("AbortedPeers", func(t *testing.T) { acceptSurvivesAbortedPeers(t, be) })
	})
}

// acceptSurvivesEMFILE runs the process out of descriptors for real (a lowered
// RLIMIT_NOFILE, every free slot below it filled), connects a client, and checks that
// the listener reports EMFILE to its handler, backs off instead of spinning while the
// handler re-arms at once, and accepts again once descriptors are free. With each,
// the handler is an AsyncAcceptEach loop's, which must go on after the errors.
func acceptSurvivesEMFILE(t *testing.T, be backend, each bool) {
	ctx := be.open(t)
	startRunners(t, ctx, 1)
	ln := listenTCP4(t, ctx)
	ta := ln.Addr().(*net.TCPAddr)
	sa := &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ta.IP.To4())}
	// The clients' sockets are made before the descriptors run out; connecting needs
	// none (the kernel completes the handshake into the backlog).
	var clients []int
	for range 2 {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, fd)
	}
	defer func() {
		for _, fd := range clients {
			unix.Close(fd)
		}
	}()

	var mu sync.Mutex
	var errs []error
	var accepted []*iocontext.TCPConn
	conns := make(chan *iocontext.TCPConn, 4)
	var failures atomic.Int32
	var accept func(*iocontext.TCPConn, error)
	accept = func(c *iocontext.TCPConn, err error) {
		if errors.Is(err, net.ErrClosed) {
			return // the listener closed at the end of the test
		}
		if err != nil {
			failures.Add(1)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		} else {
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
			conns <- c
		}
		if !each {
			ln.AsyncAccept(accept) // re-arm at once, as a naive server does
		}
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range accepted {
			c.Close()
		}
	}()

	// Run out of descriptors. The first accept starts only then: io_uring reads the
	// descriptor limit when a request is submitted (an accept armed earlier would
	// still allocate up to the old limit), so the limit is lowered first.
	restore := exhaustFDs(t)
	defer restore()
	if each {
		ln.AsyncAcceptEach(accept)
	} else {
		ln.AsyncAccept(accept)
	}

	if err := unix.Connect(clients[0], sa); err != nil {
		t.Fatalf("connect: %v", err)
	}
	// The first failure, then a window in which a spinning accept would fail thousands
	// of times; back-off from 5 ms, doubling, allows about 6.
	deadline := time.Now().Add(waitLimit)
	for failures.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if failures.Load() == 0 {
		restore()
		t.Fatal("the accept handler never got an error while the process had no free descriptor")
	}
	first := failures.Load()
	time.Sleep(300 * time.Millisecond)
	inWindow := failures.Load() - first
	restore()

	mu.Lock()
	seen := slices.Clone(errs)
	mu.Unlock()
	if inWindow > 20 {
		t.Errorf("%d accept failures in 300 ms after the first: the listener spins instead of backing off", inWindow)
	}
	for i, err := range seen {
		if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
			t.Errorf("accept failure %d = %v; want EMFILE", i, err)
			continue
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "accept" {
			t.Errorf("accept failure %d = %T %v; want a *net.OpError with Op accept", i, err, err)
		}
	}
	t.Logf("%d accept failures reported, %d in the 300 ms window", len(seen), inWindow)

	// Descriptors are free again: the queued client and a new one are accepted.
	if err := unix.Connect(clients[1], sa); err != nil {
		t.Fatalf("connect: %v", err)
	}
	for i := range 2 {
		c := recv(t, conns, "an accept after descriptors were freed")
		if _, err := unix.Write(clients[i], []byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		res, h := rwHandler(t, "read on an accepted conn")
		c.AsyncRead(buf, h)
		if r := recv(t, res, "read"); r.n != 4 || r.err != nil {
			t.Fatalf("accepted conn %d read %v", i, r)
		}
	}
}

// acceptSurvivesAbortedPeers: connections reset by their client before they are
// accepted do not surface as accept errors (ECONNABORTED is retried), and the
// listener goes on to accept the next good connection.
func acceptSurvivesAbortedPeers(t *testing.T, be backend) {
	ctx := be.open(t)
	startRunners(t, ctx, 1)
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range 5 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		resetPeer(t, c)
	}
	good := dialPeer(t, ln.Addr())
	good.Write([]byte("good"))
	time.Sleep(20 * time.Millisecond)

	found := false
	for i := 0; i < 6 && !found; i++ {
		type acc struct {
			c   *iocontext.TCPConn
			err error
		}
		ch := make(chan acc, 1)
		ln.AsyncAccept(func(c *iocontext.TCPConn, err error) { ch <- acc{c, err} })
		a := recv(t, ch, "accept")
		if a.err != nil {
			t.Fatalf("accept %d = %v; want a connection (aborted peers are skipped, not reported)", i, a.err)
		}
		buf := make([]byte, 4)
		res, h := rwHandler(t, "read")
		a.c.AsyncRead(buf, h)
		r := recv(t, res, "read")
		found = r.err == nil && string(buf) == "good"
		a.c.Close()
	}
	if !found {
		t.Fatal("the good connection was never accepted")
	}
}

// setLimit sets an rlimit field, whose type is uint64 on Linux and int64 on some BSDs.
func setLimit[T int64 | uint64](field *T, v int) { *field = T(v) }

// exhaustFDs runs the process out of descriptors for real: a lowered RLIMIT_NOFILE,
// every free slot below it filled. The function it returns (also safe to call twice,
// and to defer) frees them and restores the limit. It skips the test where the
// descriptors cannot be listed or the limit cannot be lowered.
func exhaustFDs(t *testing.T) (restore func()) {
	t.Helper()
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	fds := openFDs()
	if fds == nil {
		t.Skip("cannot list this process's descriptors")
	}
	highest := 0
	for fd := range fds {
		highest = max(highest, fd)
	}
	lim := orig
	setLimit(&lim.Cur, highest+1+16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	var fillers []int
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		for _, fd := range fillers {
			unix.Close(fd)
		}
		fillers = nil
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restoring RLIMIT_NOFILE: %v", err)
		}
	}
	for range lim.Cur {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			restore()
			t.Fatalf("filling the descriptor table: %v", err)
		}
		fillers = append(fillers, fd)
	}
	if fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != unix.EMFILE {
		if err == nil {
			unix.Close(fd)
		}
		restore()
		t.Fatalf("descriptor table not full: open = %v", err)
	}
	return restore
}
