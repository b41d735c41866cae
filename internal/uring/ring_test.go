//go:build linux

package uring

import (
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newRing sets up a ring for a test, or skips the test when the kernel refuses
// io_uring (disabled by sysctl, seccomp, too old), saying why.
func newRing(t testing.TB, entries uint32, p *Params) *Ring {
	t.Helper()
	r, err := Setup(entries, p)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			t.Skipf("io_uring refused by this kernel: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestNopRoundTrip(t *testing.T) {
	r := newRing(t, 8, &Params{})
	for i := uint64(1); i <= 20; i++ { // more than the SQ size: entries are reused
		e := r.GetSQE()
		if e == nil {
			t.Fatal("SQ full with nothing pending")
		}
		e.PrepNop(i)
		r.Publish()
		if n, err := r.Enter(1, 1, EnterGetEvents, -1); err != nil || n != 1 {
			t.Fatalf("enter: %d, %v", n, err)
		}
		var c [4]CQE
		if n := r.Peek(c[:]); n != 1 || c[0].UserData != i || c[0].Res != 0 {
			t.Fatalf("peek: %d %+v", n, c[0])
		}
	}
}

func TestSQFullReturnsNil(t *testing.T) {
	r := newRing(t, 4, &Params{})
	for i := 0; i < int(r.SQEntries()); i++ {
		if r.GetSQE() == nil {
			t.Fatalf("entry %d: nil before the queue is full", i)
		}
	}
	if r.GetSQE() != nil {
		t.Fatal("GetSQE on a full queue returned an entry")
	}
	r.Publish()
	if n, err := r.Enter(r.SQEntries(), 0, 0, -1); err != nil || n != int(r.SQEntries()) {
		t.Fatalf("enter: %d, %v", n, err)
	}
	if r.GetSQE() == nil {
		t.Fatal("no entry after the kernel consumed the queue")
	}
}

func TestEnterTimeout(t *testing.T) {
	r := newRing(t, 4, &Params{})
	if r.Params().Features&FeatExtArg == 0 {
		t.Skip("kernel lacks IORING_FEAT_EXT_ARG (5.11)")
	}
	start := time.Now()
	n, err := r.Enter(0, 1, EnterGetEvents, 30*time.Millisecond)
	if err != nil || n != 0 {
		t.Fatalf("enter: %d, %v", n, err)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Fatalf("returned after %v, before the 30ms timeout", d)
	}
}

func TestProbe(t *testing.T) {
	r := newRing(t, 4, &Params{})
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []uint8{OpNop, OpRecv, OpSend, OpAccept, OpConnect, OpAsyncCancel} {
		if !p.Supports(op) {
			t.Errorf("opcode %d not supported", op)
		}
	}
	if p.Supports(255) {
		t.Error("opcode 255 reported as supported")
	}
}

func TestRecvSend(t *testing.T) {
	r := newRing(t, 8, &Params{})
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	buf := make([]byte, 16)
	r.GetSQE().PrepRecv(fds[0], buf, 0, 1)
	r.GetSQE().PrepSend(fds[1], []byte("hello"), unix.MSG_NOSIGNAL, 2)
	r.Publish()
	if _, err := r.Enter(2, 2, EnterGetEvents, time.Second); err != nil {
		t.Fatal(err)
	}
	var c [4]CQE
	n := r.Peek(c[:])
	got := map[uint64]int32{}
	for _, e := range c[:n] {
		got[e.UserData] = e.Res
	}
	if got[1] != 5 || got[2] != 5 || string(buf[:5]) != "hello" {
		t.Fatalf("completions %v, buffer %q", got, buf[:5])
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }
