package proactor

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Backend starts operations and reports their completions. Submit, Cancel, Close and
// Wake may be called from any goroutine; Wait from one goroutine at a time.
type Backend interface {
	// Name is the backend's short name: "epoll", "kqueue" or "iouring".
	Name() string
	// Register prepares f for sysfd. f must be zero or fully released and unregistered.
	Register(f *FD, sysfd int) error
	// Submit starts op. The op comes back exactly once (Sink.Complete or Wait).
	Submit(op *Op)
	// Perform retries an op that Wait returned with NeedsPerform; true when the op is
	// finished and its Done may run, false when it went back to waiting.
	Perform(op *Op) bool
	// TryNow makes op's syscall once, now, on the calling goroutine, for a read or a
	// write that no other op of its direction is using, or an accept with none in
	// flight on its listener: true with the result in op.N (an accept's descriptor)
	// and op.Err, false when it would block or the backend cannot. It never hands the
	// op to the sink. A lent read (Op.Lend) that gets data has it in op.Buf, lent as
	// op.BufID; io_uring may also take it from what a multishot recv received, and an
	// accept from what a multishot accept took.
	TryNow(op *Op) bool
	// Cancel aborts every op in flight on f with ErrAborted, except those that already
	// completed, and returns how many it aborted.
	Cancel(f *FD) int
	// CancelOp aborts op alone with ErrAborted if it is in flight and not yet
	// completed; it reports whether it did.
	CancelOp(op *Op) bool
	// Close marks f closing, aborts its ops with ErrAbortedClosed, and closes the
	// descriptor when the last reference is dropped. A second Close returns net.ErrClosed.
	Close(f *FD) error
	// Wait blocks until completions are available, Wake is called or timeout passes
	// (negative: no limit; zero: do not block), and appends the completed ops to ready.
	Wait(timeout time.Duration, ready []*Op) ([]*Op, error)
	// Wake makes a current or the next Wait return soon.
	Wake()
	// SetLendBuffers sizes the pool that reads with Op.Lend borrow from: count
	// buffers of size bytes (count a power of two for io_uring). Call it before the
	// first such read; without it the pool is DefaultLendSize × DefaultLendCount.
	SetLendBuffers(size, count int) error
	// ReleaseBuffer releases one piece lent from buffer id (reads share a buffer,
	// each taking the bytes it received); the buffer goes back to the pool with its
	// last piece. Releasing more pieces than were lent panics.
	ReleaseBuffer(id int32)
	// Flush hands operations that Submit, Cancel or Close queued to the kernel. A
	// backend that batches (io_uring) queues them until the waiter's next Wait or a
	// Flush; the caller flushes before its goroutine may sleep with work queued: a
	// runner before it sleeps or leaves, a submitter that is not a runner at once.
	Flush()
	// Shutdown releases the backend; every FD must already be closed.
	Shutdown() error
}

// Default lend pool: 512 buffers of 4 KiB. On io_uring they are one provided-buffer
// ring (2 MiB of address space, resident as it is used); a reactive backend allocates
// a buffer only when every existing one is lent at once.
const (
	DefaultLendSize  = 4096
	DefaultLendCount = 512
)

// EnterCounter is implemented by a backend that batches its work into io_uring_enter
// calls: Enters is how many it has made.
type EnterCounter interface {
	Enters() uint64
}

// RunnerCounter is implemented by a backend whose best way to read depends on how many
// goroutines run its Context (io_uring: a multishot recv's completions are posted by
// task work on the thread that submitted it, and with several runners that thread has
// often gone to sleep). The Context calls SetRunners with the number of its run calls
// in flight whenever one starts or ends.
type RunnerCounter interface {
	SetRunners(n int)
}

// InFlighter is implemented by a backend whose aborted ops complete asynchronously
// (io_uring): InFlight is how many ops' completions are still due, so that a shutdown
// knows to wait for them.
type InFlighter interface {
	InFlight() int
}

// Kind selects a backend.
type Kind int

// Backend kinds.
const (
	Auto    Kind = iota // io_uring where the kernel allows it, else epoll or kqueue
	Epoll               // Linux epoll, reactive
	Kqueue              // BSD and darwin kqueue, reactive
	IOURing             // Linux io_uring, proactive
	// IOURingLocked is io_uring with one owner thread per ring (SINGLE_ISSUER,
	// DEFER_TASKRUN) handing completions to the runners: the variant measured
	// against IOURing (ARCHITECTURE.md); Auto never picks it.
	IOURingLocked
)

func (k Kind) String() string {
	switch k {
	case Auto:
		return "auto"
	case Epoll:
		return "epoll"
	case Kqueue:
		return "kqueue"
	case IOURing:
		return "iouring"
	case IOURingLocked:
		return "iouring-locked"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind parses a backend name as COIO_BACKEND spells it.
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return Auto, nil
	case "epoll":
		return Epoll, nil
	case "kqueue":
		return Kqueue, nil
	case "iouring", "io_uring", "uring":
		return IOURing, nil
	case "iouring-locked":
		return IOURingLocked, nil
	}
	return Auto, fmt.Errorf("proactor: unknown backend %q (want auto, epoll, kqueue, iouring or iouring-locked)", s)
}

// EnvVar names the environment variable that overrides the requested backend.
const EnvVar = "COIO_BACKEND"

// Info says which backend is live and why it was chosen.
type Info struct {
	Kind   Kind   // the live backend (never Auto)
	Reason string // why it was chosen
}

// Open creates the backend for want, or for $COIO_BACKEND when that is set.
func Open(want Kind, sink Sink) (Backend, Info, error) {
	why := "requested"
	if env := os.Getenv(EnvVar); env != "" {
		k, err := ParseKind(env)
		if err != nil {
			return nil, Info{}, err
		}
		want, why = k, EnvVar+"="+env
	}
	reactive := defaultReactive()
	switch want {
	case Auto:
		if runtime.GOOS != "linux" {
			b, err := newReactive(sink)
			return b, Info{Kind: reactive, Reason: "auto: io_uring is Linux only; using " + reactive.String()}, err
		}
		u, desc, uerr := openUring(sink, false)
		if uerr == nil {
			return u, Info{Kind: IOURing, Reason: "auto: io_uring available (" + desc + ")"}, nil
		}
		b, err := newReactive(sink)
		return b, Info{Kind: reactive, Reason: "auto: io_uring unavailable (" + uerr.Error() + "); using " + reactive.String()}, err
	case Epoll, Kqueue:
		if want != reactive {
			return nil, Info{}, fmt.Errorf("proactor: backend %s is not available on %s", want, runtime.GOOS)
		}
		b, err := newReactive(sink)
		return b, Info{Kind: want, Reason: why}, err
	case IOURing, IOURingLocked:
		u, desc, err := openUring(sink, want == IOURingLocked)
		if err != nil {
			return nil, Info{}, fmt.Errorf("proactor: backend %v unavailable (%s): %w", want, why, err)
		}
		return u, Info{Kind: want, Reason: why + " (" + desc + ")"}, nil
	}
	return nil, Info{}, fmt.Errorf("proactor: unknown backend %v", want)
}
