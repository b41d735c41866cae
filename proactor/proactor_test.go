package proactor

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// chanSink collects completions.
type chanSink chan *Op

func (s chanSink) Complete(op *Op) { s <- op }

func openReactive(t *testing.T) (Backend, chanSink) {
	t.Helper()
	t.Setenv(EnvVar, "")
	s := make(chanSink, 16)
	be, info, err := Open(defaultReactive(), s)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != defaultReactive() || info.Reason == "" {
		t.Fatalf("Open(%v) = %+v", defaultReactive(), info)
	}
	t.Cleanup(func() { be.Shutdown() })
	return be, s
}

// reactivePair opens the reactive backend and registers one end of a new socket pair
// with it; the other end is returned, closed when the test ends.
func reactivePair(t *testing.T) (Backend, chanSink, *FD, int) {
	t.Helper()
	return reactiveOn(t, socketpair)
}

// reactiveTCP is reactivePair over a loopback TCP connection.
func reactiveTCP(t *testing.T) (Backend, chanSink, *FD, int) {
	t.Helper()
	return reactiveOn(t, tcpPair)
}

// reactiveOn is reactivePair over the two ends pair makes.
func reactiveOn(t *testing.T, pair func(*testing.T) (int, int)) (Backend, chanSink, *FD, int) {
	t.Helper()
	be, s := openReactive(t)
	a, b := pair(t)
	t.Cleanup(func() { unix.Close(b) })
	f := new(FD)
	if err := be.Register(f, a); err != nil {
		t.Fatal(err)
	}
	return be, s, f, b
}

// tcpPair returns the two ends of a new loopback TCP connection, non-blocking; the
// caller closes the second, the backend the first.
func tcpPair(t *testing.T) (int, int) {
	t.Helper()
	l, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(l)
	if err != nil {
		t.Fatal(err)
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(c, sa); err != nil {
		t.Fatal(err)
	}
	a, _, err := unix.Accept(l)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(a, true)
	unix.SetNonblock(c, true)
	return a, c
}

func socketpair(t *testing.T) (int, int) {
	t.Helper()
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(p[0], true)
	unix.SetNonblock(p[1], true)
	return p[0], p[1]
}

// waitReady runs the backend's wait until op comes back finished, performing readied
// ops as a runner would.
func waitReady(t *testing.T, be Backend, s chanSink, want *Op) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var ready []*Op
	for time.Now().Before(deadline) {
		select {
		case op := <-s:
			if op == want {
				return
			}
		default:
		}
		var err error
		ready, err = be.Wait(10*time.Millisecond, ready[:0])
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ready {
			if op.NeedsPerform && !be.Perform(op) {
				continue
			}
			if op == want {
				return
			}
		}
	}
	t.Fatal("op did not complete")
}

func TestReadParksUntilReadable(t *testing.T) {
	be, s, f, b := reactivePair(t)
	buf := make([]byte, 8)
	op := &Op{Kind: OpRead, FD: f, Buf: buf}
	be.Submit(op)
	select {
	case <-s:
		t.Fatal("a read with no data completed at once")
	default:
	}
	unix.Write(b, []byte("ping"))
	waitReady(t, be, s, op)
	if op.N != 4 || op.Err != nil || string(buf[:4]) != "ping" {
		t.Fatalf("read = %d, %v, %q", op.N, op.Err, buf[:op.N])
	}
	if err := be.Close(f); err != nil {
		t.Fatal(err)
	}
	if !f.Destroyed() {
		t.Fatal("an FD with no op in flight was not closed by Close")
	}
	if err := be.Close(f); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v; want net.ErrClosed", err)
	}
}

// TestShortReadSkipsTheNextSyscall: a read that gets fewer bytes than it asked for
// leaves the socket known empty, so the next read parks without a syscall (it would
// only say EAGAIN) until readiness comes. For a lent read what it asked for is the room
// in the buffer, not the piece it lends: measured against the piece, every lent read
// looked full and a request/response connection paid a second read per message (1.58
// reads per message on epoll at 64 B × 100 × 1, 1.01 after).
func TestShortReadSkipsTheNextSyscall(t *testing.T) {
	for _, lend := range []bool{false, true} {
		be, s, f, b := reactiveTCP(t)
		newRead := func() *Op {
			if lend {
				return &Op{Kind: OpRead, FD: f, Lend: true}
			}
			return &Op{Kind: OpRead, FD: f, Buf: make([]byte, 64)}
		}
		unix.Write(b, []byte("ping"))
		// Loopback TCP may queue the bytes a moment after the write returns (a
		// loaded machine): the first read must find them there.
		pfd := []unix.PollFd{{Fd: int32(f.Sysfd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 5000); n != 1 || err != nil {
			t.Fatalf("lend %v: the written bytes never became readable: %d, %v", lend, n, err)
		}
		first := newRead()
		be.Submit(first)
		select {
		case got := <-s:
			if got != first || first.N != 4 || first.Err != nil || first.Syscalls != 1 {
				t.Fatalf("lend %v: read with data queued = (%d, %v) in %d syscalls; want (4, nil) in 1", lend, first.N, first.Err, first.Syscalls)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("lend %v: a read with data queued did not complete at once", lend)
		}
		if lend {
			be.ReleaseBuffer(first.BufID)
		}
		second := newRead()
		be.Submit(second)
		select {
		case <-s:
			t.Fatalf("lend %v: a read of an empty socket completed = (%d, %v)", lend, second.N, second.Err)
		default:
		}
		if second.Syscalls != 0 {
			t.Errorf("lend %v: a read after a short one made %d syscalls before parking; want 0", lend, second.Syscalls)
		}
		unix.Write(b, []byte("pong"))
		waitReady(t, be, s, second)
		if second.N != 4 || second.Err != nil || second.Syscalls != 1 {
			t.Fatalf("lend %v: read after readiness = (%d, %v) in %d syscalls; want (4, nil) in 1", lend, second.N, second.Err, second.Syscalls)
		}
		if lend {
			be.ReleaseBuffer(second.BufID)
		}
		if err := be.Close(f); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShortReadThatLeavesDataDoesNotPark: reads that come back short with data still
// in the socket must not make the next read skip its syscall, or it waits for an edge
// that already came (found by review). A TCP read stops at the urgent mark (epoll
// reports urgent data, and the descriptor stops skipping); a Unix stream read stops
// after a message that carried descriptors (Unix sockets never skip).
func TestShortReadThatLeavesDataDoesNotPark(t *testing.T) {
	for _, tc := range []struct {
		name string
		pair func(t *testing.T) (Backend, chanSink, *FD, int)
		send func(peer int) error
	}{
		{"tcp urgent mark", reactiveTCP, func(peer int) error {
			if _, err := unix.Write(peer, []byte("abc")); err != nil {
				return err
			}
			if err := unix.Sendto(peer, []byte("!"), unix.MSG_OOB, nil); err != nil {
				return err
			}
			_, err := unix.Write(peer, []byte("efg"))
			return err
		}},
		{"unix descriptors", reactivePair, func(peer int) error {
			rights := unix.UnixRights(int(os.Stdin.Fd()))
			if err := unix.Sendmsg(peer, []byte("abc"), rights, nil, 0); err != nil {
				return err
			}
			_, err := unix.Write(peer, []byte("efg"))
			return err
		}},
	} {
		for _, lend := range []bool{false, true} {
			be, s, f, peer := tc.pair(t)
			newRead := func() *Op {
				if lend {
					return &Op{Kind: OpRead, FD: f, Lend: true}
				}
				return &Op{Kind: OpRead, FD: f, Buf: make([]byte, 64)}
			}
			first := newRead()
			be.Submit(first) // parks: the data comes after, with one edge
			if err := tc.send(peer); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // all of it arrives before the edge is taken
			var got []byte
			for _, op := range []*Op{first, newRead()} {
				if op != first {
					be.Submit(op)
				}
				waitReady(t, be, s, op)
				if op.Err != nil || op.N == 0 {
					t.Fatalf("%s, lend %v: read after %q = (%d, %v)", tc.name, lend, got, op.N, op.Err)
				}
				if lend {
					got = append(got, op.Buf[:op.N]...)
					be.ReleaseBuffer(op.BufID)
				} else {
					got = append(got, op.Buf[:op.N]...)
				}
				if len(got) == len("abcefg") {
					break
				}
			}
			if string(got) != "abcefg" {
				t.Fatalf("%s, lend %v: reads got %q; want %q", tc.name, lend, got, "abcefg")
			}
			if err := be.Close(f); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestCloseAbortsParkedAndDefersClose(t *testing.T) {
	be, s, f, _ := reactivePair(t)
	a := f.Sysfd
	op := &Op{Kind: OpRead, FD: f, Buf: make([]byte, 8)}
	be.Submit(op)
	// A direct use holds a reference: Close must not close the descriptor under it.
	if !f.Acquire() {
		t.Fatal("Acquire failed on an open FD")
	}
	be.Close(f)
	got := <-s
	if got != op || !errors.Is(op.Err, ErrAborted) || !errors.Is(op.Err, net.ErrClosed) {
		t.Fatalf("aborted op: %v", op.Err)
	}
	if f.Destroyed() {
		t.Fatal("descriptor closed while a reference was held")
	}
	if f.Acquire() {
		t.Fatal("Acquire succeeded after Close")
	}
	f.Release()
	if !f.Destroyed() {
		t.Fatal("the last Release did not close the descriptor")
	}
	if _, err := unix.FcntlInt(uintptr(a), unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("fd %d still open after the last release (fcntl: %v)", a, err)
	}
	// Submitting on a closed FD completes with net.ErrClosed.
	be.Submit(op)
	if got := <-s; got != op || op.Err != net.ErrClosed {
		t.Fatalf("op after Close: %v", op.Err)
	}
}

func TestCancelCountsAndSparesCompleted(t *testing.T) {
	be, s, f, b := reactivePair(t)
	defer be.Close(f)
	r := &Op{Kind: OpRead, FD: f, Buf: make([]byte, 8)}
	be.Submit(r)
	if n := be.Cancel(f); n != 1 {
		t.Fatalf("Cancel aborted %d ops; want 1", n)
	}
	if got := <-s; got != r || r.Err != ErrAborted {
		t.Fatalf("cancelled read: %v", r.Err)
	}
	unix.Write(b, []byte("x"))
	be.Submit(r) // completes at once: data is there
	if got := <-s; got != r || r.Err != nil || r.N != 1 {
		t.Fatalf("read = %d, %v", r.N, r.Err)
	}
	if n := be.Cancel(f); n != 0 {
		t.Fatalf("Cancel with nothing in flight aborted %d", n)
	}
}

func TestStaleEventIgnored(t *testing.T) {
	be, _ := openReactive(t)
	r := be.(*reactive)
	a, b := socketpair(t)
	defer unix.Close(b)
	var f FD
	be.Register(&f, a)
	old := token(&f)
	be.Close(&f)
	if got := r.table.lookup(int(uint32(old)), uint32(old>>32)); got != nil {
		t.Fatal("a closed FD is still found by its token")
	}
	c, d := socketpair(t) // likely reuses a's number
	defer unix.Close(d)
	var g FD
	be.Register(&g, c)
	defer be.Close(&g)
	if c == a && r.table.lookup(int(uint32(old)), uint32(old>>32)) != nil {
		t.Fatal("a stale token matched the FD that reused its number")
	}
	if r.table.lookup(c, uint32(token(&g)>>32)) != &g {
		t.Fatal("the new FD is not found by its own token")
	}
}

func TestConcurrentAcquireRelease(t *testing.T) {
	be, _ := openReactive(t)
	a, b := socketpair(t)
	defer unix.Close(b)
	var f FD
	be.Register(&f, a)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if f.Acquire() {
					if f.Destroyed() {
						t.Error("destroyed while referenced")
					}
					f.Release()
				}
			}
		}()
	}
	be.Close(&f)
	wg.Wait()
	if !f.Destroyed() {
		t.Fatal("not destroyed after all references were released")
	}
}

func TestParseKindAndEnv(t *testing.T) {
	for in, want := range map[string]Kind{"": Auto, "auto": Auto, "epoll": Epoll, "KQUEUE": Kqueue, "io_uring": IOURing} {
		if k, err := ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", in, k, err, want)
		}
	}
	if _, err := ParseKind("select"); err == nil {
		t.Error("ParseKind accepted an unknown backend")
	}
	t.Setenv(EnvVar, "bogus")
	if _, _, err := Open(Auto, chanSink(nil)); err == nil {
		t.Error("Open accepted COIO_BACKEND=bogus")
	}
	t.Setenv(EnvVar, defaultReactive().String())
	be, info, err := Open(IOURing, chanSink(nil))
	if err != nil {
		t.Fatal(err)
	}
	be.Shutdown()
	if info.Kind != defaultReactive() || info.Reason != EnvVar+"="+defaultReactive().String() {
		t.Fatalf("env override: %+v", info)
	}
}

// TestCloseDuringSubmitIsNotMissed: a Close that runs after a read's syscall said
// EAGAIN but before the read parked (its abortAll found nothing listed) must still end
// the read, and the descriptor must close, though the peer stays open and silent
// (found by review: the read parked and held the descriptor until data came).
func TestCloseDuringSubmitIsNotMissed(t *testing.T) {
	be, s, f, _ := reactivePair(t)
	op := &Op{Kind: OpRead, FD: f, Buf: make([]byte, 8)}
	reactiveHookPark = func(got *Op) {
		if got == op {
			be.Close(f)
		}
	}
	defer func() { reactiveHookPark = nil }()
	be.Submit(op)
	select {
	case got := <-s:
		if got != op || !errors.Is(op.Err, ErrAbortedClosed) {
			t.Fatalf("read closed while it parked = %v; want ErrAbortedClosed", op.Err)
		}
	case <-time.After(time.Second):
		t.Fatal("read closed while it parked did not complete")
	}
	if !f.Destroyed() {
		t.Fatal("descriptor not closed")
	}
}
