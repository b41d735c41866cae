//go:build linux

package uring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// Helpers of the kernel-fact tests (kernel_test.go): threads, sockets, eventfds,
// off-heap buffers, bounded waits and leak checks.

// checkLeaks fails t if it ends with a goroutine still running or a socket, eventfd or
// ring descriptor it opened still open. Call it first: cleanups run last-in first-out,
// so the check runs after every other cleanup of the test.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := kernelFDs(t)
	t.Cleanup(func() {
		goleak.VerifyNone(t)
		for fd, what := range kernelFDs(t) {
			if before[fd] != what {
				t.Errorf("fd %d (%s) left open", fd, what)
			}
		}
	})
}

// kernelFDs lists the process's open sockets, eventfds and io_uring instances by
// descriptor; other descriptors (the runtime's epoll, test output) are not the tests'.
func kernelFDs(t testing.TB) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing open descriptors: %v", err)
	}
	fds := map[int]string{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		what, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil { // closed while listing: the directory's own descriptor
			continue
		}
		if strings.HasPrefix(what, "socket:") || what == "anon_inode:[eventfd]" || what == "anon_inode:[io_uring]" {
			fds[fd] = what
		}
	}
	return fds
}

// osThread is a goroutine locked to its own OS thread that runs the functions handed
// to it. The thread facts are about Linux tasks: a ring's owner and the foreign thread
// it refuses must each stay the same task across calls, which a plain goroutine is not.
type osThread struct {
	tid  int
	fns  chan func()
	done chan struct{}
}

// startThread starts a locked thread; it ends at the test's cleanup.
func startThread(t *testing.T) *osThread {
	t.Helper()
	th := &osThread{fns: make(chan func()), done: make(chan struct{})}
	tids := make(chan int)
	go func() {
		defer close(th.done)
		runtime.LockOSThread()
		// Unlocked before the goroutine ends, so that the thread goes back to the
		// scheduler instead of being destroyed with it.
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		for f := range th.fns {
			f()
		}
	}()
	th.tid = <-tids
	t.Cleanup(func() {
		close(th.fns)
		if !within(th.done, 5*time.Second) {
			t.Errorf("locked thread %d still busy 5s after the test", th.tid)
		}
	})
	return th
}

// start hands f to the thread and returns at once; the channel closes when f returns.
func (th *osThread) start(f func()) <-chan struct{} {
	ran := make(chan struct{})
	th.fns <- func() {
		defer close(ran)
		f()
	}
	return ran
}

// run runs f on the thread and waits for it. f must not call t.Fatal (FailNow belongs
// to the test goroutine): it hands its results back through captured variables, which
// the channel close orders before run returns.
func (th *osThread) run(t *testing.T, f func()) {
	t.Helper()
	if !within(th.start(f), 5*time.Second) {
		t.Fatalf("a call on thread %d did not return within 5s", th.tid)
	}
}

// within reports whether done closes within d.
func within(done <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// waitUntil polls cond every millisecond for up to d and fails t, naming what, if it
// never holds.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitBlockedInEnter waits until thread tid sleeps inside io_uring_enter, so that a
// wake-up test wakes a waiter rather than racing it into the syscall. Without
// /proc/self/task/*/syscall (a kernel built without it) it gives the thread 20ms.
func waitBlockedInEnter(t *testing.T, tid int) {
	t.Helper()
	dir := fmt.Sprintf("/proc/self/task/%d/", tid)
	enter := strconv.Itoa(unix.SYS_IO_URING_ENTER) + " "
	if _, err := os.ReadFile(dir + "syscall"); err != nil {
		t.Logf("cannot see thread %d's syscall (%v): waiting 20ms instead", tid, err)
		time.Sleep(20 * time.Millisecond)
		return
	}
	waitUntil(t, 2*time.Second, fmt.Sprintf("thread %d asleep in io_uring_enter", tid), func() bool {
		sc, err1 := os.ReadFile(dir + "syscall")
		st, err2 := os.ReadFile(dir + "stat")
		// stat is "tid (comm) S ...": the state follows the last ')'.
		i := strings.LastIndexByte(string(st), ')')
		return err1 == nil && err2 == nil && strings.HasPrefix(string(sc), enter) &&
			i >= 0 && strings.HasPrefix(string(st[i+1:]), " S")
	})
}

// kernelVersion is the running kernel's major and minor version.
func kernelVersion(t testing.TB) (major, minor int, release string) {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release = unix.ByteSliceToString(u.Release[:])
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", release, err)
	}
	return major, minor, release
}

// requireKernel skips t unless the kernel is at least major.minor, which brought
// feature. For what a probe cannot tell (ioprio flags, setup flag semantics).
func requireKernel(t *testing.T, major, minor int, feature string) {
	t.Helper()
	ma, mi, rel := kernelVersion(t)
	if ma < major || ma == major && mi < minor {
		t.Skipf("%s needs Linux %d.%d; this kernel is %s", feature, major, minor, rel)
	}
}

// requireOp skips t when the ring does not support opcode op.
func requireOp(t *testing.T, r *Ring, op uint8, name string) {
	t.Helper()
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	if !p.Supports(op) {
		_, _, rel := kernelVersion(t)
		t.Skipf("kernel %s lacks %s", rel, name)
	}
}

// newOwnedRing sets up a ring with flags on thread th, its owner for SINGLE_ISSUER,
// or skips t when the kernel refuses io_uring or the flags.
func newOwnedRing(t *testing.T, th *osThread, entries, flags uint32) *Ring {
	t.Helper()
	var r *Ring
	var err error
	th.run(t, func() { r, err = Setup(entries, &Params{Flags: flags}) })
	if err != nil {
		_, _, rel := kernelVersion(t)
		switch {
		case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES):
			t.Skipf("io_uring refused by this kernel: %v", err)
		case errors.Is(err, unix.EINVAL):
			t.Skipf("kernel %s refuses setup flags %#x (SINGLE_ISSUER needs 6.0, DEFER_TASKRUN 6.1, COOP_TASKRUN 5.19): %v", rel, flags, err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if got := r.Params().Flags; got&flags != flags {
		t.Fatalf("ring flags %#x lack the requested %#x", got, flags)
	}
	requireExtArg(t, r)
	return r
}

// newPlainRing is newRing (ring_test.go) with a CQ of cq entries when cq > 0, for the
// tests that wait with a timeout.
func newPlainRing(t *testing.T, entries, cq uint32) *Ring {
	t.Helper()
	p := &Params{}
	if cq > 0 {
		p.Flags, p.CqEntries = SetupCQSize, cq
	}
	r := newRing(t, entries, p)
	requireExtArg(t, r)
	return r
}

// requireExtArg skips t on kernels without EXT_ARG: every wait here is bounded.
func requireExtArg(t *testing.T, r *Ring) {
	t.Helper()
	if r.Params().Features&FeatExtArg == 0 {
		t.Skip("kernel lacks IORING_FEAT_EXT_ARG (5.11), which bounded waits need")
	}
}

// submit publishes the prepared entries and submits them all. It calls no t method, so
// an owner thread may call it.
func submit(r *Ring) error {
	want := r.Publish()
	n, err := r.Enter(want, 0, 0, -1)
	if err == nil && uint32(n) != want {
		err = fmt.Errorf("submitted %d of %d entries", n, want)
	}
	return err
}

// mustSubmit is submit on the test goroutine.
func mustSubmit(t *testing.T, r *Ring) {
	t.Helper()
	if err := submit(r); err != nil {
		t.Fatalf("submit: %v", err)
	}
}

// reap collects completions until it has at least n or timeout passes, retrying the
// EINTRs that Go's signals cause. It calls no t method, so an owner thread may call it.
func reap(r *Ring, n int, timeout time.Duration) ([]CQE, error) {
	var got []CQE
	var batch [32]CQE
	deadline := time.Now().Add(timeout)
	for {
		k := r.Peek(batch[:])
		got = append(got, batch[:k]...)
		if k == len(batch) {
			continue
		}
		left := time.Until(deadline)
		if len(got) >= n || left <= 0 {
			return got, nil
		}
		if _, err := r.Enter(0, 1, EnterGetEvents, left); err != nil && !errors.Is(err, unix.EINTR) {
			return got, err
		}
	}
}

// mustReap is reap on the test goroutine, failing t if fewer than n completions come.
func mustReap(t *testing.T, r *Ring, n int, timeout time.Duration) []CQE {
	t.Helper()
	got, err := reap(r, n, timeout)
	if err != nil || len(got) < n {
		t.Fatalf("want %d completions within %v, got %s (err %v)", n, timeout, describe(got), err)
	}
	return got
}

// expectNone fails t if a completion arrives within d.
func expectNone(t *testing.T, r *Ring, d time.Duration, why string) {
	t.Helper()
	if got, err := reap(r, 1, d); err != nil || len(got) > 0 {
		t.Fatalf("%s: got %s (err %v); want no completion within %v", why, describe(got), err, d)
	}
}

// byUserData indexes completions by user data, failing t on a duplicate.
func byUserData(t *testing.T, cqes []CQE) map[uint64]CQE {
	t.Helper()
	m := make(map[uint64]CQE, len(cqes))
	for _, c := range cqes {
		if _, dup := m[c.UserData]; dup {
			t.Fatalf("two completions for user data %d: %s", c.UserData, describe(cqes))
		}
		m[c.UserData] = c
	}
	return m
}

// errRes is the Res of a completion that failed with e.
func errRes(e unix.Errno) int32 { return -int32(e) }

// describe formats completions for failure messages: user data, result (as an errno
// name when negative) and flags.
func describe(cqes []CQE) string {
	if len(cqes) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, c := range cqes {
		if i > 0 {
			b.WriteString(" ")
		}
		res := strconv.Itoa(int(c.Res))
		if c.Res < 0 {
			res = "-" + unix.ErrnoName(unix.Errno(-c.Res))
		}
		fmt.Fprintf(&b, "{ud=%d res=%s", c.UserData, res)
		if c.Flags&CQEFMore != 0 {
			b.WriteString(" MORE")
		}
		if c.Flags&CQEFBuffer != 0 {
			fmt.Fprintf(&b, " BUFFER(%d)", c.Flags>>CQEBufferShift)
		}
		if c.Flags&CQEFBufMore != 0 {
			b.WriteString(" BUF_MORE")
		}
		b.WriteString("}")
	}
	return b.String()
}

// kernelBuf is n bytes of anonymous mmap memory for the kernel to receive into after
// the submitting call returns. It is outside the Go heap, so the garbage collector
// never moves or frees it while a request points at it; it is unmapped at cleanup,
// after which a late kernel write could only fail with EFAULT, never corrupt Go memory.
func kernelBuf(t *testing.T, n int) []byte {
	t.Helper()
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return b
}

// pinnedTimespec is a timespec of d at an address the kernel may read after the call
// that prepares the entry returns: Pin makes it escape to the heap and keeps it from
// moving or being freed until cleanup.
func pinnedTimespec(t *testing.T, d time.Duration) *unix.Timespec {
	ts := new(unix.Timespec)
	*ts = unix.NsecToTimespec(int64(d))
	var p runtime.Pinner
	p.Pin(ts)
	t.Cleanup(p.Unpin)
	return ts
}

// listenTCP listens on an ephemeral loopback port, closed at cleanup.
func listenTCP(t *testing.T) (fd, port int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port
}

// dialTCP connects to a loopback port (blocking: the listener's backlog completes the
// handshake without an accept) and returns the client socket, closed at cleanup.
func dialTCP(t *testing.T, port int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
		t.Fatal(err)
	}
	return fd
}

// tcpPairRaw returns the two ends of a loopback TCP connection, which the caller
// closes.
func tcpPairRaw(t *testing.T) (srv, cli int) {
	t.Helper()
	lfd, port := listenTCP(t)
	cli, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(cli, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != nil {
		unix.Close(cli)
		t.Fatal(err)
	}
	srv, _, err = unix.Accept4(lfd, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(cli)
		t.Fatal(err)
	}
	return srv, cli
}

// tcpPair is tcpPairRaw with both ends closed at cleanup.
func tcpPair(t *testing.T) (srv, cli int) {
	t.Helper()
	srv, cli = tcpPairRaw(t)
	t.Cleanup(func() { unix.Close(srv); unix.Close(cli) })
	return srv, cli
}

// closeAccepted closes the sockets that accept completions delivered.
func closeAccepted(cqes []CQE) {
	for _, c := range cqes {
		if c.Res >= 0 {
			unix.Close(int(c.Res))
		}
	}
}

// write writes all of s to fd.
func write(t *testing.T, fd int, s string) {
	t.Helper()
	if n, err := unix.Write(fd, []byte(s)); err != nil || n != len(s) {
		t.Fatalf("write %q: %d, %v", s, n, err)
	}
}

// waitInQueue waits until n bytes are queued for reading on socket fd.
func waitInQueue(t *testing.T, fd, n int) {
	t.Helper()
	waitUntil(t, time.Second, fmt.Sprintf("%d bytes queued on fd %d", n, fd), func() bool {
		q, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
		return err == nil && q >= n
	})
}

// newEventfd returns a non-blocking eventfd, closed at cleanup.
func newEventfd(t *testing.T) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// signalEventfd adds 1 to the eventfd's counter.
func signalEventfd(t *testing.T, fd int) {
	t.Helper()
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	if _, err := unix.Write(fd, b[:]); err != nil {
		t.Fatalf("eventfd write: %v", err)
	}
}

// drainEventfd reads and resets the eventfd's counter: 0 when it was not signalled.
func drainEventfd(t *testing.T, fd int) uint64 {
	t.Helper()
	var b [8]byte
	if _, err := unix.Read(fd, b[:]); err != nil {
		if errors.Is(err, unix.EAGAIN) {
			return 0
		}
		t.Fatalf("eventfd read: %v", err)
	}
	return binary.NativeEndian.Uint64(b[:])
}

// pollIn reports whether fd becomes readable within d.
func pollIn(t *testing.T, fd int, d time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(max(time.Until(deadline).Milliseconds(), 0)))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			t.Fatalf("poll fd %d: %v", fd, err)
		}
		return n == 1 && pfd[0].Revents&unix.POLLIN != 0
	}
}
