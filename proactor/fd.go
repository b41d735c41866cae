package proactor

import (
	"net"
	"sync"
	"sync/atomic"
)

// fd state word layout: bit 63 closing, bit 62 destroyed, the rest a reference count.
const (
	fdClosing   = uint64(1) << 63
	fdDestroyed = uint64(1) << 62
	fdRefMask   = fdDestroyed - 1
)

// FD.marks bits.
const (
	markNoSkip    = 1 << iota // reactive: never skip a syscall after a short transfer
	markUrgent                // reactive: urgent data was reported, a read's EAGAIN may be false
	markCancelled             // io_uring: Cancel was called, so an ECANCELED may be its
)

// FD is a descriptor registered with a backend. It is embedded in its I/O object, so
// registering one allocates nothing.
type FD struct {
	Sysfd int // the descriptor number; valid while a reference is held

	// destroy is the registering backend's destroy: a func (one pointer) rather
	// than an interface (two), which every connection would pay for.
	destroy func(f *FD)
	seq     atomic.Uint32 // registration sequence number, carried in reactor tokens
	// marks holds what the backends note about the descriptor. markNoSkip: no read or
	// write syscall is skipped after a short transfer (see reactive.attempt). Set when
	// the reactor reported a hang-up or an error (the end of stream or the error may
	// already wait behind the data, with no edge left to announce it) or urgent data (a
	// read stops at its mark); from the start for a descriptor that is not a TCP socket
	// on epoll, where a short read need not mean an empty socket (a datagram; a Unix
	// stream read stops after a message that carried descriptors; kqueue reports no
	// urgent data). markUrgent: urgent data was reported, so a read's EAGAIN may be
	// false (see falseAgain). markCancelled: see uringBackend.kernelCancelled.
	marks atomic.Uint32
	state atomic.Uint64 // closing and destroyed bits and the reference count

	// The reactive backends' state of the descriptor. The io_uring backend keeps its
	// multishot lent read in the same words instead (uringRecv, which overlays it),
	// so that neither pays for the other's in every connection.
	reactiveFD
}

// reactiveFD is what the reactive backends keep per descriptor. Its layout is shared
// with io_uring's uringRecv: the same size, pointers at the same offsets.
type reactiveFD struct {
	mu       sync.Mutex    // guards the lists and op states below
	rq, wq   opList        // ops in flight waiting for (or retrying after) read / write readiness
	rev, wev atomic.Uint32 // readiness edges seen; a change during a syscall means retry

	// rdry, wdry hold edge count + 1 as of the last read (write) that transferred less
	// than asked: the socket was then empty (full). Until a new edge arrives, the next
	// read (write) would fail with EAGAIN, so it parks without trying. 0: unknown.
	rdry, wdry atomic.Uint32
}

// Acquire takes a reference for a direct use of Sysfd. It fails once Close was called.
func (f *FD) Acquire() bool {
	s := f.state.Add(1)
	if s&fdClosing != 0 {
		f.Release()
		return false
	}
	return true
}

// Release drops a reference; the last one after Close closes the descriptor.
func (f *FD) Release() {
	s := f.state.Add(^uint64(0))
	if s&fdRefMask == fdRefMask {
		panic("proactor: FD reference count went below zero")
	}
	// The last reference: take one more for the destruction, so that the FD is
	// marked destroyed (and may be registered again by its owner) only once destroy
	// has finished with its descriptor number.
	if s == fdClosing && f.state.CompareAndSwap(fdClosing, fdClosing+1) {
		f.destroy(f)
		f.state.Add(fdDestroyed - 1)
	}
}

// Destroyed reports whether the descriptor has been closed for good, so the FD may be
// registered again.
func (f *FD) Destroyed() bool { return f.state.Load()&fdDestroyed != 0 }

// Closing reports whether Close has been called.
func (f *FD) Closing() bool { return f.state.Load()&fdClosing != 0 }

// markClosing sets the closing bit and takes a reference for the closer, or reports
// net.ErrClosed when another Close came first.
func (f *FD) markClosing() error {
	for {
		s := f.state.Load()
		if s&fdClosing != 0 {
			return net.ErrClosed
		}
		if f.state.CompareAndSwap(s, (s+1)|fdClosing) {
			return nil
		}
	}
}

// opList is an intrusive singly linked list of ops, in submission order. It holds
// the ops of one direction of one descriptor, which iocontext keeps to one at a time
// (two for a moment): the walks of push and remove are short, and a head pointer and
// one link per op are what every connection pays, instead of two of each.
type opList struct {
	head *Op
}

func (l *opList) push(op *Op) {
	op.next = nil
	p := &l.head
	for *p != nil {
		p = &(*p).next
	}
	*p = op
}

func (l *opList) remove(op *Op) {
	for p := &l.head; *p != nil; p = &(*p).next {
		if *p == op {
			*p = op.next
			break
		}
	}
	op.next = nil
}
