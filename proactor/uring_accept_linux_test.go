package proactor

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// registeredListener opens a TCP listener on 127.0.0.1 with the given backlog and
// registers it with u; the FD owns the descriptor from then on.
func registeredListener(t *testing.T, u *uringBackend, backlog int) (*FD, *net.TCPAddr) {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(lfd)
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, backlog); err != nil {
		unix.Close(lfd)
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(lfd)
	lf := new(FD)
	if err := u.Register(lf, lfd); err != nil {
		unix.Close(lfd)
		t.Fatal(err)
	}
	return lf, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}
}

// dialer returns a function that connects one more client to addr; the clients are
// closed when the test ends.
func dialer(t *testing.T, addr *net.TCPAddr) func() {
	var clients []net.Conn
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	return func() {
		t.Helper()
		c, err := net.DialTCP("tcp", nil, addr)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
}

// tryAcceptSoon makes accept TryNow calls on lf until one has a result, reaping
// between them, for up to 5 s.
func tryAcceptSoon(t *testing.T, u *uringBackend, lf *FD) *Op {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		try := &Op{Kind: OpAccept, FD: lf}
		if u.TryNow(try) {
			return try
		}
		if time.Now().After(deadline) {
			t.Fatal("TryNow never took the waiting connection")
		}
		if _, err := u.Wait(time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUringAcceptAfterBacklogCap: connections arriving while no accept waits fill the
// multishot accept's backlog up to its cap, where the backlog's own cancel ends the
// request. An accept that starts waiting before that cancel's completion is reaped
// must not take it for a Cancel: it waits for (and gets) the next connection. It
// used to get ErrAborted, and a server treating that as "listener closed" stopped
// accepting (seen as stalled connections at 1,000 clients connecting at once).
func TestUringAcceptAfterBacklogCap(t *testing.T) {
	t.Setenv(EnvVar, "")
	sink := make(chanSink, 4*acceptBacklog)
	u := openUringOrSkip(t, sink)
	lf, addr := registeredListener(t, u, 4*acceptBacklog)
	dial := dialer(t, addr)
	accepted := 0
	acceptOne := func(op *Op) {
		t.Helper()
		if op.Err != nil {
			t.Fatalf("accept %d: %v", accepted+1, op.Err)
		}
		unix.Close(op.N)
		accepted++
	}

	// One accept arms the multishot request.
	op := &Op{Kind: OpAccept, FD: lf}
	u.Submit(op)
	u.Flush()
	dial()
	finishOne(t, u, sink, op)
	acceptOne(op)

	// No accept waits: the backlog fills to its cap, which queues the cancel.
	for range acceptBacklog {
		dial()
	}
	backlog := func() int {
		u.mu.Lock()
		defer u.mu.Unlock()
		return len(u.accepts[lf].backlog)
	}
	for deadline := time.Now().Add(5 * time.Second); backlog() < acceptBacklog; {
		if time.Now().After(deadline) {
			t.Fatalf("backlog %d after %d connections; want the cap, %d", backlog(), acceptBacklog, acceptBacklog)
		}
		if _, err := u.Wait(2*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Take the backlog (each accept completes at once, without the kernel), then
	// leave one accept waiting while the cancel's completion is still to come.
	for backlog() > 0 {
		op := &Op{Kind: OpAccept, FD: lf}
		u.Submit(op)
		select {
		case got := <-sink:
			acceptOne(got)
		default:
			t.Fatal("an accept with connections in the backlog did not complete at once")
		}
	}
	waiter := &Op{Kind: OpAccept, FD: lf}
	u.Submit(waiter)
	u.Flush() // the cap's cancel reaches the kernel
	reapUntil := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(reapUntil) {
		ready, err := u.Wait(2*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range ready {
			if got != waiter {
				t.Fatalf("completion of an op not in flight: %+v", got)
			}
			if errors.Is(got.Err, ErrAborted) {
				t.Fatalf("the backlog cap's cancel aborted an accept that began waiting after it: %v", got.Err)
			}
			t.Fatalf("accept completed with no connection to take: (%d, %v)", got.N, got.Err)
		}
	}
	dial()
	finishOne(t, u, sink, waiter)
	acceptOne(waiter)

	if err := u.Close(lf); err != nil {
		t.Fatal(err)
	}
	closeAndReapDone(t, u, lf)
}

// TestUringTryAcceptTakesTheBacklogFirst: TryNow for an accept takes the connections
// the multishot accept took ahead of the application, oldest first, then those still
// in the kernel's listen queue (accept4), and says it would block when none is left.
func TestUringTryAcceptTakesTheBacklogFirst(t *testing.T) {
	t.Setenv(EnvVar, "")
	sink := make(chanSink, 4*acceptBacklog)
	u := openUringOrSkip(t, sink)
	lf, addr := registeredListener(t, u, 4*acceptBacklog)
	dial := dialer(t, addr)
	// Arm the multishot accept, then let it take three connections nobody waits for.
	op := &Op{Kind: OpAccept, FD: lf}
	u.Submit(op)
	u.Flush()
	dial()
	finishOne(t, u, sink, op)
	unix.Close(op.N)
	backlog := func() []int {
		u.mu.Lock()
		defer u.mu.Unlock()
		return slices.Clone(u.accepts[lf].backlog)
	}
	for range 3 {
		dial()
	}
	for deadline := time.Now().Add(5 * time.Second); len(backlog()) < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("backlog %v after 3 connections", backlog())
		}
		if _, err := u.Wait(2*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := backlog()
	for _, fd := range want {
		try := &Op{Kind: OpAccept, FD: lf}
		if !u.TryNow(try) || try.Err != nil || try.N != fd {
			t.Fatalf("TryNow with %v in the backlog = (%d, %v); want %d, the oldest", backlog(), try.N, try.Err, fd)
		}
		unix.Close(try.N)
	}
	// Cancel the multishot accept, so that the next connection stays in the kernel.
	u.Cancel(lf)
	reap(t, u, 20*time.Millisecond)
	dial()
	got := tryAcceptSoon(t, u, lf)
	if got.Err != nil || got.N < 0 {
		t.Fatalf("TryNow with a connection in the listen queue = (%d, %v)", got.N, got.Err)
	}
	unix.Close(got.N)
	if try := (&Op{Kind: OpAccept, FD: lf}); u.TryNow(try) {
		t.Fatalf("TryNow with nothing waiting = (%d, %v); want false", try.N, try.Err)
	}
	if err := u.Close(lf); err != nil {
		t.Fatal(err)
	}
	closeAndReapDone(t, u, lf)
}

// TestUringTryAcceptHandsOutTheStoredError: an error that ended the multishot accept
// while no op waited (EMFILE, say) is the next accept's result, TryNow's as well as
// an asynchronous accept's; it used to stay behind a TryNow that succeeded and reach
// a later AsyncAccept, stale.
func TestUringTryAcceptHandsOutTheStoredError(t *testing.T) {
	t.Setenv(EnvVar, "")
	sink := make(chanSink, 4)
	u := openUringOrSkip(t, sink)
	lf, addr := registeredListener(t, u, 8)
	dial := dialer(t, addr)
	op := &Op{Kind: OpAccept, FD: lf}
	u.Submit(op)
	u.Flush()
	dial()
	finishOne(t, u, sink, op)
	unix.Close(op.N)
	u.mu.Lock()
	u.accepts[lf].err = unix.EMFILE // as complete stores it when no op waits
	u.mu.Unlock()
	dial()
	try := &Op{Kind: OpAccept, FD: lf}
	if !u.TryNow(try) || !errors.Is(try.Err, unix.EMFILE) {
		t.Fatalf("TryNow with an error stored = (%v, %d, %v); want EMFILE", try.Err == nil, try.N, try.Err)
	}
	got := tryAcceptSoon(t, u, lf)
	if got.Err != nil || got.N < 0 {
		t.Fatalf("TryNow after the stored error = (%d, %v); want the waiting connection", got.N, got.Err)
	}
	unix.Close(got.N)
	u.mu.Lock()
	stale := u.accepts[lf].err
	u.mu.Unlock()
	if stale != nil {
		t.Fatalf("error still stored after TryNow handed it out: %v", stale)
	}
	if err := u.Close(lf); err != nil {
		t.Fatal(err)
	}
	closeAndReapDone(t, u, lf)
}

// TestUringAcceptClosedWhileWaitingForAnEntry: arming a listener's multishot accept
// takes an entry, and a full SQ lets sqe drop the lock to make room. A Close that runs
// there aborts the waiting accept (nothing is armed yet); the accept armed after it
// would hold the listener open until a connection came, behind the Close's cancel.
// The hook stands for the full SQ.
func TestUringAcceptClosedWhileWaitingForAnEntry(t *testing.T) {
	t.Setenv(EnvVar, "")
	sink := make(chanSink, 4)
	u := openUringOrSkip(t, sink)
	lf, _ := registeredListener(t, u, 8)
	var closeErr error
	u.mu.Lock()
	u.sqeDropped = func() { closeErr = u.Close(lf) }
	u.mu.Unlock()
	op := &Op{Kind: OpAccept, FD: lf}
	u.Submit(op)
	u.Flush()
	if closeErr != nil {
		t.Fatalf("Close in the window: %v", closeErr)
	}
	select {
	case got := <-sink:
		if got != op || !errors.Is(op.Err, ErrAbortedClosed) {
			t.Fatalf("accept closed while it waited for an entry: %v; want ErrAbortedClosed", op.Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting accept was not aborted by the Close")
	}
	for deadline := time.Now().Add(5 * time.Second); !lf.Destroyed(); {
		if time.Now().After(deadline) {
			t.Fatal("listener not closed: an accept armed after the Close holds it")
		}
		if _, err := u.Wait(2*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
	}
}
