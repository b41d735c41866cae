package proactor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coionet/coio/internal/uring"
	"golang.org/x/sys/unix"
)

// refuseUring makes io_uring set-up fail with errno for the rest of the test, as a
// kernel with io_uring disabled (sysctl kernel.io_uring_disabled, a seccomp filter)
// or without it does.
func refuseUring(t *testing.T, errno unix.Errno) {
	old := uringSetup
	uringSetup = func(uint32, *uring.Params) (*uring.Ring, error) { return nil, errno }
	t.Cleanup(func() { uringSetup = old })
	t.Setenv(EnvVar, "")
}

// openUringOrSkip opens the io_uring backend, shut down when the test ends; the test is
// skipped, saying so, where the kernel refuses io_uring.
func openUringOrSkip(t *testing.T, sink Sink) *uringBackend {
	t.Helper()
	be, _, err := Open(IOURing, sink)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			t.Skipf("io_uring refused by this kernel: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Shutdown() })
	return be.(*uringBackend)
}

func TestAutoFallsBackWhenUringRefused(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EPERM, unix.ENOSYS, unix.ENOMEM} {
		t.Run(errno.Error(), func(t *testing.T) {
			refuseUring(t, errno)
			be, info, err := Open(Auto, make(chanSink, 1))
			if err != nil {
				t.Fatalf("Open(Auto) with io_uring refused: %v", err)
			}
			defer be.Shutdown()
			if info.Kind != Epoll || be.Name() != "epoll" {
				t.Fatalf("Open(Auto) = %+v (%s); want the epoll fallback", info, be.Name())
			}
			if !strings.Contains(info.Reason, "io_uring unavailable") || !strings.Contains(info.Reason, errno.Error()) {
				t.Fatalf("reason %q does not say why io_uring was not used (%v)", info.Reason, errno)
			}
		})
	}
}

func TestForcedUringFailsWhenRefused(t *testing.T) {
	refuseUring(t, unix.EPERM)
	be, _, err := Open(IOURing, make(chanSink, 1))
	if err == nil {
		be.Shutdown()
		t.Fatal("Open(IOURing) succeeded with io_uring refused")
	}
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "iouring") {
		t.Fatalf("Open(IOURing) error %q: want one naming the backend and wrapping EPERM", err)
	}
}

func TestEnvSelectsUring(t *testing.T) {
	t.Setenv(EnvVar, "iouring")
	be, info, err := Open(Epoll, make(chanSink, 1))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			t.Skipf("io_uring refused by this kernel: %v", err)
		}
		t.Fatal(err)
	}
	defer be.Shutdown()
	if info.Kind != IOURing || be.Name() != "iouring" || !strings.Contains(info.Reason, EnvVar) {
		t.Fatalf("COIO_BACKEND=iouring gave %+v (%s)", info, be.Name())
	}
}

func TestAutoPicksUring(t *testing.T) {
	t.Setenv(EnvVar, "")
	be, info, err := Open(Auto, make(chanSink, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Shutdown()
	if info.Kind != IOURing {
		if strings.Contains(info.Reason, "unavailable") {
			t.Skipf("io_uring not usable on this kernel: %s", info.Reason)
		}
		t.Fatalf("Open(Auto) = %+v; want io_uring", info)
	}
}

// TestUringOverflowAndFullSQ runs far more requests than a tiny ring holds: 200 reads
// submitted before any enter overflow an 8-entry SQ (Submit must flush, not fail), and
// their 200 completions, all made ready at once, overflow a 16-entry CQ (the kernel
// keeps them, FEAT_NODROP, and Wait must flush and reap every one). Each read gets its
// own connection's bytes, exactly once.
func TestUringOverflowAndFullSQ(t *testing.T) {
	oldSQ, oldCQ := uringSQEntries, uringCQEntries
	uringSQEntries, uringCQEntries = 8, 16
	defer func() { uringSQEntries, uringCQEntries = oldSQ, oldCQ }()
	t.Setenv(EnvVar, "")
	sink := make(chanSink, 512)
	be := openUringOrSkip(t, sink)
	const n = 200
	fds := make([]FD, n)
	ops := make([]Op, n)
	peers := make([]int, n)
	bufs := make([][]byte, n)
	for i := range n {
		a, b := socketpair(t)
		peers[i] = b
		if err := be.Register(&fds[i], a); err != nil {
			t.Fatal(err)
		}
		bufs[i] = make([]byte, 8)
		ops[i] = Op{Kind: OpRead, FD: &fds[i], Buf: bufs[i]}
		be.Submit(&ops[i])
	}
	be.Flush()
	for i := range n {
		unix.Write(peers[i], []byte{byte(i), byte(i >> 8)})
	}
	time.Sleep(50 * time.Millisecond) // let every completion be posted: most overflow
	got := make([]int, n)
	var ready []*Op
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for done := 0; done < n && time.Now().Before(deadline); {
		ready, err = be.Wait(10*time.Millisecond, ready[:0])
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ready {
			i := -1
			for j := range ops {
				if &ops[j] == op {
					i = j
				}
			}
			got[i]++
			if op.Err != nil || op.N != 2 || bufs[i][0] != byte(i) || bufs[i][1] != byte(i>>8) {
				t.Errorf("read %d: (%d, %v) %v", i, op.N, op.Err, bufs[i][:2])
			}
			done++
		}
	}
	for i, c := range got {
		if c != 1 {
			t.Errorf("read %d completed %d times; want once", i, c)
		}
	}
	for i := range n {
		be.Close(&fds[i])
		unix.Close(peers[i])
	}
	u := be
	if u.overflows.Load() == 0 {
		t.Error("the CQ never overflowed: the test proved nothing about overflow")
	}
	if u.enters.Load() < n/8 {
		t.Errorf("%d enters for %d submissions into an 8-entry SQ: Submit did not flush a full SQ", u.enters.Load(), n)
	}
	// The reads completed, so each Close destroys at once; nothing is left in flight.
	if u.InFlight() != 0 {
		t.Fatalf("%d ops still in flight after every read completed", u.InFlight())
	}
}

// TestUringKernelCancelIsMadeAgain: a request the kernel ended with ECANCELED that no
// cancel of ours ended is made again (again, no error; a bulk read's poll is armed
// again); one that CancelOp, Close,
// Cancel or Shutdown may have ended finishes its op with the abort error, and so does a
// connect, which would find its socket still connecting.
func TestUringKernelCancelIsMadeAgain(t *testing.T) {
	t.Setenv(EnvVar, "")
	u := openUringOrSkip(t, make(chanSink, 8))
	canceled := -int32(unix.ECANCELED)
	register := func() *FD {
		a, b := socketpair(t)
		t.Cleanup(func() { unix.Close(b) })
		f := new(FD)
		if err := u.Register(f, a); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close(f) })
		return f
	}
	check := func(name string, op *Op, wantAgain bool, wantErr error) {
		t.Helper()
		u.mu.Lock()
		_, err, again := u.result(op, nil, canceled)
		u.mu.Unlock()
		if again != wantAgain || err != wantErr {
			t.Errorf("%s: result = (%v, again %v); want (%v, again %v)", name, err, again, wantErr, wantAgain)
		}
	}

	f := register()
	check("kernel's own", &Op{Kind: OpRead, FD: f}, true, nil)
	check("kernel's own, a write", &Op{Kind: OpWrite, FD: f}, true, nil)
	check("a connect", &Op{Kind: OpConnect, FD: f}, false, ErrAborted)
	marked := &Op{Kind: OpRead, FD: f}
	marked.abort.Store(abortCancel)
	check("CancelOp", marked, false, ErrAborted)

	g := register()
	u.Cancel(g) // nothing in flight: only the mark
	check("after Cancel", &Op{Kind: OpRead, FD: g}, false, ErrAborted)

	h := register()
	if !h.Acquire() { // keeps h open, closing, while result looks at it
		t.Fatal("Acquire failed")
	}
	u.Close(h)
	check("Close", &Op{Kind: OpRead, FD: h}, false, ErrAbortedClosed)
	h.Release()

	// A bulk read's poll that the kernel ended polls again rather than finishing.
	b := register()
	recvOf(b).bulk = true
	if !b.Acquire() { // as Submit does for the op
		t.Fatal("Acquire failed")
	}
	poll := &Op{Kind: OpRead, FD: b, Lend: true}
	u.mu.Lock()
	done := u.polled(poll, canceled, nil)
	again := poll.ud != 0 && poll.state == stateParked
	u.mu.Unlock()
	if len(done) != 0 || !again {
		t.Errorf("bulk poll: %d completions, polling again %v; want 0, true", len(done), again)
	}

	k := register()
	u.mu.Lock()
	u.closed = true // as Shutdown leaves it
	u.mu.Unlock()
	check("after Shutdown", &Op{Kind: OpRead, FD: k}, false, ErrAborted)
	u.mu.Lock()
	u.closed = false // for the cleanups' Close and Shutdown
	u.mu.Unlock()
}
