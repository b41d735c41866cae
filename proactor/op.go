package proactor

import (
	"errors"
	"net"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// OpKind says what an Op does.
type OpKind uint8

// Operation kinds.
const (
	OpRead     OpKind = iota + 1 // read into Buf (recv)
	OpWrite                      // write Buf (send)
	OpAccept                     // accept a connection; N is the new descriptor
	OpConnect                    // connect to Addr
	OpTimer                      // a timer wait (iocontext's; never submitted to a backend)
	OpPost                       // a posted handler carried as an op (never submitted)
	OpRecvFrom                   // receive a datagram into Buf; Addr is the sender
	OpSendTo                     // send Buf as a datagram to Addr (nil: the connected peer)
)

var opKindNames = [...]string{"", "read", "write", "accept", "connect", "timer", "post", "recvfrom", "sendto"}

func (k OpKind) String() string {
	if int(k) < len(opKindNames) && k != 0 {
		return opKindNames[k]
	}
	return "op?"
}

// ErrAborted is the result of an operation that was cancelled, whose object was closed,
// or whose Context was shut down before it completed.
var ErrAborted = errors.New("coio: operation aborted")

// ErrAbortedClosed is the result of an operation aborted because its object was
// closed: errors.Is matches both ErrAborted and net.ErrClosed.
var ErrAbortedClosed error = abortedClosed{}

type abortedClosed struct{}

func (abortedClosed) Error() string {
	return "coio: operation aborted: use of closed network connection"
}

func (abortedClosed) Is(target error) bool {
	return target == ErrAborted || target == net.ErrClosed
}

// abort reasons stored in Op.abort
const (
	abortNone   = iota
	abortCancel // ErrAborted
	abortClose  // ErrAbortedClosed
)

// op states, guarded by the FD's mutex once an op is listed on its FD
const (
	stateIdle    = iota // not in a backend
	stateParked         // listed on its FD, waiting for readiness
	stateTransit        // listed on its FD, readied and queued for Perform, or being performed
)

// Op is one asynchronous operation. Its owner fills in Kind, FD, Buf (and Ext for a
// gathered write, a connect or a datagram) and Done once, then reuses it for every
// operation of that kind: an Op is embedded in or pooled by its I/O object, never
// allocated per operation.
type Op struct {
	FD  *FD
	Buf []byte // data to write, or space to read into
	Ext *OpExt // what only some kinds carry; nil for plain reads and writes

	N   int   // result: bytes transferred, or the accepted descriptor
	Err error // result: nil, a syscall.Errno, ErrAborted, ErrAbortedClosed or net.ErrClosed

	// Done is called by the runner that delivers the completion, once per operation,
	// after the backend has let go of the op (it may be resubmitted from Done).
	Done func(op *Op)

	next *Op    // FD list link, guarded by the FD's mutex
	ud   uint64 // io_uring: the request's user data while in the kernel, else 0 (guarded by the backend's lock)

	// The small fields last, packed: an Op is embedded in every connection.

	Kind OpKind

	// NeedsPerform is set on an op that Wait returned because its descriptor became
	// ready: the runner must call Backend.Perform before Done.
	NeedsPerform bool

	// Lend asks a read to use a buffer of the backend's pool instead of Buf: the
	// buffer is taken only when data arrives, so a connection waiting for data holds
	// none. On success Buf is the lent buffer (its first N bytes are the data) and
	// BufID names it for Backend.ReleaseBuffer; otherwise Buf is nil.
	Lend bool

	state uint8 // stateIdle / stateParked / stateTransit, guarded by the FD's mutex

	// BufID names a lent read's buffer (Lend). On a write, a value above 0 says that
	// Buf lies in buffer BufID-1 of this backend's pool, which the owner gives back
	// when the write is over: a backend may give it back itself once all of Buf is
	// written, and then sets BufID to 0 (the io_uring backend does, in the reap that
	// holds its lock anyway). 0 on any other write.
	BufID int32

	// Syscalls counts the syscalls the backend made for this op since its owner last
	// reset it, for statistics.
	Syscalls uint32
	abort    atomic.Uint32 // abortNone / abortCancel / abortClose
}

// OpExt is the part of an operation that only gathered writes, connects and datagrams
// use. It lives apart from the Op, so that the read op embedded in every connection
// does not carry it (an idle connection holds one Op).
type OpExt struct {
	Vec  [][]byte      // a gathered write (OpWrite): the buffers to write in order, instead of Buf
	Addr unix.Sockaddr // connect target; recvfrom's sender; sendto's target (nil: the connected peer)

	// started says a connect's syscall was issued (poll SO_ERROR next); a reactive
	// backend's state, here rather than in every Op.
	started bool
}

// vec is op's gathered-write vector, nil for a plain write.
func (op *Op) vec() [][]byte {
	if op.Ext == nil {
		return nil
	}
	return op.Ext.Vec
}

// Sink receives the completions a backend produces outside Wait: results known at once
// in Submit, and ops aborted by Cancel or Close. It must queue the op's Done to run
// later on a runner, never call it inline. Backends call it holding none of their
// locks, so it may call back into the backend (ReleaseBuffer).
type Sink interface {
	Complete(op *Op)
}

// finish records the result and drops the op's reference on its descriptor.
func finish(op *Op, n int, err error) {
	settle(op, n, err)
	op.FD.Release()
}

// settle records op's result, like finish, for an op that holds no reference on its
// FD.
func settle(op *Op, n int, err error) {
	op.N, op.Err = n, err
	// Stored only when set: the store is a locked instruction, which waits for the
	// op's cache line (its first touch in a reap) with every store before it, and an
	// abort is rare. A Cancel that sets it after the look could as well have set it
	// after an unconditional store: the outcome is one the old order allowed.
	if op.abort.Load() != abortNone {
		op.abort.Store(abortNone)
	}
}

func abortErr(reason uint32) error {
	if reason == abortClose {
		return ErrAbortedClosed
	}
	return ErrAborted
}

// errClosed is the result of an op submitted after its FD was closed.
var errClosed = net.ErrClosed
