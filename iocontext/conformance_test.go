package iocontext_test

// The conformance suite: one test per item of ../shared/SEMANTICS.md, named after it
// (TestCore_RunWithoutWorkStops, TestOps_HandlerExactlyOnce, ...), each run once per
// backend available on this OS. This file holds the parameterisation and the helpers
// the conformance_<section>_test.go files share.
//
// Conventions:
//   - Every Context comes from backend.open, which closes it when the test ends.
//   - Every wait is bounded (waitLimit); a hang is reported as a failure, never left
//     to the go test timeout.
//   - Tests do not run in parallel: some count descriptors or change RLIMIT_NOFILE.
//   - Sleeps appear only to give a faulty implementation the chance to do the wrong
//     thing ("nothing ran yet"), never as a bound on how fast something must be.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coionet/coio/iocontext"
	"github.com/coionet/coio/proactor"
)

// backendCase is one backend of the conformance matrix.
type backendCase struct {
	name string        // subtest name
	kind proactor.Kind // what WithBackend asks for
	goos []string      // the operating systems it can exist on
}

// conformanceBackends is the backend matrix. A new backend plugs in with one entry; a
// backend the kernel refuses (io_uring disabled by sysctl or seccomp, too old a
// kernel) is skipped, saying why.
var conformanceBackends = []backendCase{
	{"epoll", proactor.Epoll, []string{"linux"}},
	{"kqueue", proactor.Kqueue, []string{"darwin", "freebsd", "netbsd", "openbsd"}},
	{"iouring", proactor.IOURing, []string{"linux"}},
	{"iouring-locked", proactor.IOURingLocked, []string{"linux"}},
}

// backend is the backend a subtest runs on.
type backend struct{ backendCase }

// forEachBackend runs body once per backend available on this OS, as a subtest named
// after the backend.
func forEachBackend(t *testing.T, body func(t *testing.T, be backend)) {
	t.Helper()
	ran := 0
	for _, bc := range conformanceBackends {
		if !slices.Contains(bc.goos, runtime.GOOS) {
			continue
		}
		ran++
		t.Run(bc.name, func(t *testing.T) { body(t, backend{bc}) })
	}
	if ran == 0 {
		t.Skipf("no conformance backend is listed for %s", runtime.GOOS)
	}
}

// open creates a Context on the backend, closed when the test ends.
func (b backend) open(t testing.TB, opts ...iocontext.Option) *iocontext.Context {
	t.Helper()
	if env := os.Getenv(proactor.EnvVar); env != "" {
		if k, err := proactor.ParseKind(env); err == nil && k != b.kind {
			t.Skipf("%s=%s selects %v; this subtest is for %v", proactor.EnvVar, env, k, b.kind)
		}
	}
	ctx, err := iocontext.New(append([]iocontext.Option{iocontext.WithBackend(b.kind)}, opts...)...)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EACCES) ||
			strings.Contains(err.Error(), "io_uring lacks") || strings.Contains(err.Error(), "needs Linux") {
			t.Skipf("backend %s refused by this kernel: %v", b.name, err)
		}
		t.Fatalf("iocontext.New(WithBackend(%v)): %v", b.kind, err)
	}
	if got := ctx.Backend().Kind; got != b.kind {
		ctx.Close()
		t.Fatalf("asked for backend %v, got %v (%s)", b.kind, got, ctx.Backend().Reason)
	}
	t.Cleanup(func() { ctx.Close() })
	return ctx
}

// listenTCP4 listens on a free port of 127.0.0.1; the listener is closed when the
// test ends (a test may close it before: a second Close only says net.ErrClosed).
func listenTCP4(t testing.TB, ctx *iocontext.Context) *iocontext.TCPListener {
	t.Helper()
	ln, err := iocontext.ListenTCP(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// waitLimit bounds every wait for something that must happen. It is a hang detector,
// not a speed requirement.
const waitLimit = 10 * time.Second

// goid returns the calling goroutine's id, parsed from its stack header. Test-only: the
// implementation must not identify goroutines this way (DESIGN.md), tests may.
func goid() uint64 {
	var b [64]byte
	s := b[:runtime.Stack(b[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	id, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		panic("goid: cannot parse " + string(b[:]))
	}
	return id
}

// recv waits for a value on ch, failing the test after waitLimit.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
	}
	panic("unreachable")
}

// quiet checks that nothing arrives on ch for d: something that must not happen (yet).
func quiet[T any](t testing.TB, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: got %v", what, v)
	case <-time.After(d):
	}
}

// within runs fn on a new goroutine and fails the test when it has not returned after
// d. A panic in fn is returned.
func within(t testing.TB, d time.Duration, what string, fn func()) (panicked any) {
	t.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		fn()
	}()
	select {
	case p := <-done:
		return p
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
	return nil
}

// runOn runs fn (usually ctx.Run or one of its siblings) on the calling goroutine with
// a watchdog that stops ctx after waitLimit; a watchdog stop fails the test. It
// returns fn's result. Panics propagate.
func runOn(t testing.TB, ctx *iocontext.Context, fn func() int) int {
	t.Helper()
	return runOnFor(t, ctx, waitLimit, fn)
}

// runOnFor is runOn with its own limit.
func runOnFor(t testing.TB, ctx *iocontext.Context, limit time.Duration, fn func() int) int {
	t.Helper()
	done := make(chan struct{})
	fired := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(limit):
			close(fired)
			ctx.Stop()
		}
	}()
	n := func() int {
		defer close(done)
		return fn()
	}()
	select {
	case <-fired:
		t.Fatalf("the run call did not return within %v (watchdog stopped the Context)", limit)
	default:
	}
	return n
}

// runners is a set of goroutines inside ctx.Run, kept there by a work guard.
type runners struct {
	t      testing.TB
	ctx    *iocontext.Context
	guard  *iocontext.WorkGuard
	mu     sync.Mutex
	ids    map[uint64]bool // goroutine ids of the runners
	panics []any           // what Run panicked with
	counts []int           // what each Run returned
	wg     sync.WaitGroup
	once   sync.Once
}

// startRunners starts n goroutines calling ctx.Run once each, holding a work guard so
// they stay while idle. stop (also run at cleanup) releases them and waits for them.
func startRunners(t testing.TB, ctx *iocontext.Context, n int) *runners {
	t.Helper()
	if ctx.Stopped() {
		t.Fatal("startRunners on a stopped Context: its Run calls would return at once (Restart first)")
	}
	r := &runners{t: t, ctx: ctx, guard: iocontext.NewWorkGuard(ctx), ids: map[uint64]bool{}}
	started := make(chan struct{}, n)
	for range n {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.mu.Lock()
			r.ids[goid()] = true
			r.mu.Unlock()
			started <- struct{}{}
			defer func() {
				if p := recover(); p != nil {
					r.mu.Lock()
					r.panics = append(r.panics, p)
					r.mu.Unlock()
				}
			}()
			c := ctx.Run()
			r.mu.Lock()
			r.counts = append(r.counts, c)
			r.mu.Unlock()
		}()
	}
	for range n {
		<-started
	}
	t.Cleanup(func() {
		r.stop()
		if p := r.takePanics(); len(p) > 0 {
			t.Errorf("a runner panicked: %v", p[0])
		}
	})
	return r
}

// isRunner reports whether goroutine id is one of the runners.
func (r *runners) isRunner(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

// stop releases the guard, stops the Context and waits for every runner.
func (r *runners) stop() {
	r.once.Do(func() {
		r.guard.Reset()
		r.ctx.Stop()
		done := make(chan struct{})
		go func() { r.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(waitLimit):
			r.t.Errorf("runners did not return within %v of Stop", waitLimit)
			<-done // leaking them would only hide the failure behind goleak's
		}
	})
}

// takePanics returns and forgets the panics the runners' Run calls ended with.
func (r *runners) takePanics() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.panics
	r.panics = nil
	return p
}

// result is one completion of a read or write.
type result struct {
	n   int
	err error
}

func (r result) String() string { return fmt.Sprintf("(%d, %v)", r.n, r.err) }

// rwHandler returns a handler that sends its result on the returned channel and fails
// the test if it runs more than once.
func rwHandler(t testing.TB, what string) (<-chan result, func(int, error)) {
	ch := make(chan result, 2)
	var mu sync.Mutex
	calls := 0
	return ch, func(n int, err error) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c > 1 {
			t.Errorf("%s: handler ran %d times, last with (%d, %v)", what, c, n, err)
			return
		}
		ch <- result{n, err}
	}
}

// errHandler is rwHandler for handlers that get only an error.
func errHandler(t testing.TB, what string) (<-chan error, func(error)) {
	ch := make(chan error, 2)
	var mu sync.Mutex
	calls := 0
	return ch, func(err error) {
		mu.Lock()
		calls++
		c := calls
		mu.Unlock()
		if c > 1 {
			t.Errorf("%s: handler ran %d times, last with %v", what, c, err)
			return
		}
		ch <- err
	}
}

// stream is what TCPConn and UnixConn have in common.
type stream interface {
	AsyncReadSome(b []byte, h func(n int, err error))
	AsyncRead(b []byte, h func(n int, err error))
	AsyncWriteSome(b []byte, h func(n int, err error))
	AsyncWrite(b []byte, h func(n int, err error))
	AsyncReadLent(h func(b iocontext.LentBuffer, err error))
	AsyncWriteLent(b iocontext.LentBuffer, h func(n int, err error))
	Cancel()
	Close() error
	CloseRead() error
	CloseWrite() error
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

var (
	_ stream = (*iocontext.TCPConn)(nil)
	_ stream = (*iocontext.UnixConn)(nil)
)

// transport is a kind of stream socket the stream tests run over.
type transport struct {
	name    string // subtest name
	network string // "tcp4", "tcp6" or "unix"
	addr    string // listen address (TCP)
}

var transports = []transport{
	{"tcp4", "tcp4", "127.0.0.1:0"},
	{"tcp6", "tcp6", "[::1]:0"},
	{"unix", "unix", ""},
}

// forEachTransport runs body once per transport available here.
func forEachTransport(t *testing.T, body func(t *testing.T, tr transport)) {
	t.Helper()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			if tr.network == "tcp6" && !hasIPv6Loopback() {
				t.Skip("no ::1 on this host")
			}
			body(t, tr)
		})
	}
}

var hasIPv6Loopback = sync.OnceValue(func() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
})

// sockDir returns a short temporary directory for Unix sockets (sun_path is short).
func sockDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "coio")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// peerListener is a Go listener for the transport; the peers of coio streams are plain
// Go connections.
func (tr transport) peerListener(t testing.TB) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	if tr.network == "unix" {
		ln, err = net.Listen("unix", filepath.Join(sockDir(t), "peer.sock"))
	} else {
		ln, err = net.Listen(tr.network, tr.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial opens a coio stream to ln, blocking (no runner needed).
func (tr transport) dial(t testing.TB, ctx *iocontext.Context, ln net.Listener) stream {
	t.Helper()
	var s stream
	var err error
	if tr.network == "unix" {
		s, err = iocontext.DialUnix(ctx, ln.Addr().String())
	} else {
		s, err = iocontext.DialTCP(ctx, tr.network, ln.Addr().String())
	}
	if err != nil {
		t.Fatalf("dial %s: %v", tr.name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// accept takes the next connection from ln as the peer, with a deadline so that a
// broken test cannot hang in it.
func acceptPeer(t testing.TB, ln net.Listener) net.Conn {
	t.Helper()
	type deadliner interface{ SetDeadline(time.Time) error }
	ln.(deadliner).SetDeadline(time.Now().Add(waitLimit))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("peer accept: %v", err)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	t.Cleanup(func() { c.Close() })
	return c
}

// pair returns a coio stream on ctx and its peer, a Go net.Conn with a deadline.
func (tr transport) pair(t testing.TB, ctx *iocontext.Context) (stream, net.Conn) {
	t.Helper()
	ln := tr.peerListener(t)
	s := tr.dial(t, ctx, ln)
	return s, acceptPeer(t, ln)
}

// resetPeer closes a TCP peer so that the coio side gets ECONNRESET.
func resetPeer(t testing.TB, c net.Conn) {
	t.Helper()
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("resetPeer on a %T", c)
	}
	if err := tc.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	tc.Close()
}

// readAllFrom reads from c until it has n bytes or fails.
func readN(t testing.TB, c net.Conn, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("peer read of %d bytes: %v", n, err)
	}
	return b
}

// pattern returns n bytes of a recognisable, position-dependent pattern.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed + byte(i>>10)
	}
	return b
}

// openFDs lists the descriptors open in this process (nil when it cannot tell), not
// counting the one used to list them.
func openFDs() map[int]bool {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		self := int(f.Fd())
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil || len(names) <= 3 && runtime.GOOS != "linux" {
			continue // /dev/fd without fdescfs lists only 0-2
		}
		fds := map[int]bool{}
		for _, n := range names {
			if fd, err := strconv.Atoi(n); err == nil && fd != self {
				fds[fd] = true
			}
		}
		return fds
	}
	return nil
}

// newFDs returns the descriptors in after and not in before, sorted.
func newFDs(before, after map[int]bool) []int {
	var out []int
	for fd := range after {
		if !before[fd] {
			out = append(out, fd)
		}
	}
	slices.Sort(out)
	return out
}

// isAbortedClosed reports whether err is the error of an op aborted by Close.
func isAbortedClosed(err error) bool {
	return errors.Is(err, iocontext.ErrAborted) && errors.Is(err, net.ErrClosed)
}

// TestConformanceBackends says which backends the conformance suite runs on here, and
// why any is left out; `make test` prints it.
func TestConformanceBackends(t *testing.T) {
	t.Setenv(proactor.EnvVar, "")
	for _, bc := range conformanceBackends {
		if !slices.Contains(bc.goos, runtime.GOOS) {
			t.Logf("backend %s: not on %s", bc.name, runtime.GOOS)
			continue
		}
		ctx, err := iocontext.New(iocontext.WithBackend(bc.kind))
		if err != nil {
			t.Logf("backend %s: skipped here: %v", bc.name, err)
			continue
		}
		t.Logf("backend %s: conformance suite runs (%s)", bc.name, ctx.Backend().Reason)
		ctx.Close()
	}
}
