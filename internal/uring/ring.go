//go:build linux

package uring

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring is one io_uring instance with its three mappings.
type Ring struct {
	fd     int
	params Params

	sqMem, cqMem, sqeMem []byte

	// Pointers into the mappings. The mappings are made with mmap, outside the Go
	// heap, and unmapped only by Close: the pointers stay valid for the Ring's life.
	sqHead, sqTail, sqFlags, sqDropped *uint32
	sqArray                            *uint32 // nil with SetupNoSQArray
	cqHead, cqTail, cqOverflow         *uint32
	sqMask, sqEntries                  uint32
	cqMask, cqEntries                  uint32
	sqes                               *SQE
	cqes                               *CQE

	// sqLocal is the producer's tail: entries up to it are filled, up to *sqTail
	// published. Owned by the single producer.
	sqLocal uint32

	// The wait arguments of Enter live in the Ring (a heap object that does not move)
	// because the kernel reads them through the pointer in arg during the call.
	arg GetEventsArg
	ts  unix.Timespec
}

// Setup creates a ring with at least entries submission entries. p.Flags selects the
// set-up flags (p.CqEntries with SetupCQSize); SetupNoSQArray and SetupSubmitAll are
// dropped, one at a time, when the kernel rejects them with EINVAL, since they are
// optimisations older kernels lack. On return p holds what the kernel reported.
func Setup(entries uint32, p *Params) (*Ring, error) {
	want := *p
	for {
		*p = want
		fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
		if errno == 0 {
			r := &Ring{fd: int(fd), params: *p}
			if err := r.mapRings(); err != nil {
				r.Close()
				return nil, err
			}
			return r, nil
		}
		if errno == unix.EINVAL {
			switch {
			case want.Flags&SetupNoSQArray != 0:
				want.Flags &^= SetupNoSQArray
				continue
			case want.Flags&SetupSubmitAll != 0:
				want.Flags &^= SetupSubmitAll
				continue
			}
		}
		return nil, os.NewSyscallError("io_uring_setup", errno)
	}
}

func (r *Ring) mapRings() error {
	p := &r.params
	sqSize := p.SqOff.Array + p.SqEntries*4
	if p.Flags&SetupNoSQArray != 0 {
		sqSize = max(p.SqOff.Flags, p.SqOff.Dropped) + 4 // no index array: the header is all
	}
	cqSize := p.CqOff.Cqes + p.CqEntries*uint32(unsafe.Sizeof(CQE{}))
	single := p.Features&FeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	prot, flags := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	if r.sqMem, err = unix.Mmap(r.fd, offSQRing, int(sqSize), prot, flags); err != nil {
		return os.NewSyscallError("mmap io_uring sq ring", err)
	}
	r.cqMem = r.sqMem
	if !single {
		if r.cqMem, err = unix.Mmap(r.fd, offCQRing, int(cqSize), prot, flags); err != nil {
			return os.NewSyscallError("mmap io_uring cq ring", err)
		}
	}
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, int(p.SqEntries)*int(unsafe.Sizeof(SQE{})), prot, flags); err != nil {
		return os.NewSyscallError("mmap io_uring sqes", err)
	}
	so, co := p.SqOff, p.CqOff
	r.sqHead, r.sqTail = word(r.sqMem, so.Head), word(r.sqMem, so.Tail)
	r.sqFlags, r.sqDropped = word(r.sqMem, so.Flags), word(r.sqMem, so.Dropped)
	r.sqMask, r.sqEntries = *word(r.sqMem, so.RingMask), *word(r.sqMem, so.RingEntries)
	r.cqHead, r.cqTail = word(r.cqMem, co.Head), word(r.cqMem, co.Tail)
	r.cqOverflow = word(r.cqMem, co.Overflow)
	r.cqMask, r.cqEntries = *word(r.cqMem, co.RingMask), *word(r.cqMem, co.RingEntries)
	// The CQE array starts at co.Cqes in the mapping, 16-byte entries, cqEntries of
	// them; the SQE array is the whole third mapping.
	r.cqes = (*CQE)(unsafe.Pointer(&r.cqMem[co.Cqes]))
	r.sqes = (*SQE)(unsafe.Pointer(&r.sqeMem[0]))
	if p.Flags&SetupNoSQArray == 0 {
		r.sqArray = word(r.sqMem, so.Array)
		// Entry i of the index array names SQE i, for good: the SQEs are then used in
		// ring order, as with NoSQArray.
		for i := uint32(0); i < r.sqEntries; i++ {
			*r.index(i) = i
		}
	}
	r.sqLocal = atomic.LoadUint32(r.sqTail)
	return nil
}

// word is the uint32 at off in a ring mapping. The kernel reports every offset
// 4-byte aligned, inside the mapping whose size Setup computed from the same offsets.
func word(m []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&m[off])) }

// index is entry i of the SQ index array (i < sqEntries, inside the mapping).
func (r *Ring) index(i uint32) *uint32 {
	return (*uint32)(unsafe.Add(unsafe.Pointer(r.sqArray), uintptr(i)*4))
}

// Fd is the ring's file descriptor.
func (r *Ring) Fd() int { return r.fd }

// Params is what the kernel reported at set-up: the flags it accepted, its features
// and the queue sizes.
func (r *Ring) Params() Params { return r.params }

// Close unmaps the rings and closes the ring descriptor. Requests still in the kernel
// are cancelled by the kernel; memory they point into must stay valid until they are,
// so the caller reaps every completion it cares about first.
func (r *Ring) Close() error {
	var errs []error
	if r.sqeMem != nil {
		errs = append(errs, unix.Munmap(r.sqeMem))
	}
	if r.cqMem != nil && &r.cqMem[0] != &r.sqMem[0] {
		errs = append(errs, unix.Munmap(r.cqMem))
	}
	if r.sqMem != nil {
		errs = append(errs, unix.Munmap(r.sqMem))
	}
	r.sqMem, r.cqMem, r.sqeMem = nil, nil, nil
	r.sqHead, r.sqTail, r.cqHead, r.cqTail, r.sqArray = nil, nil, nil, nil, nil
	if r.fd >= 0 {
		errs = append(errs, unix.Close(r.fd))
		r.fd = -1
	}
	return errors.Join(errs...)
}

// SQEntries is the submission queue's size.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries is the completion queue's size.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// GetSQE returns the next free submission entry, zeroed, or nil when the queue is
// full (submit, then try again). The entry is not visible to the kernel until Publish.
func (r *Ring) GetSQE() *SQE {
	// The acquire load of the kernel's head orders the reuse of an entry after the
	// kernel has finished reading it.
	head := atomic.LoadUint32(r.sqHead)
	if r.sqLocal-head >= r.sqEntries {
		return nil
	}
	// The entry index is masked into [0, sqEntries): inside the SQE mapping.
	e := (*SQE)(unsafe.Add(unsafe.Pointer(r.sqes), uintptr(r.sqLocal&r.sqMask)*unsafe.Sizeof(SQE{})))
	*e = SQE{}
	r.sqLocal++
	return e
}

// Publish makes every entry obtained since the last Publish visible to the kernel and
// returns how many entries are published but not yet consumed by it.
func (r *Ring) Publish() uint32 {
	// Release store: the entries' contents are visible before the new tail.
	atomic.StoreUint32(r.sqTail, r.sqLocal)
	return r.sqLocal - atomic.LoadUint32(r.sqHead)
}

// SQPending is how many published entries the kernel has not consumed yet.
func (r *Ring) SQPending() uint32 { return atomic.LoadUint32(r.sqTail) - atomic.LoadUint32(r.sqHead) }

// SQHead is the kernel's SQ head: entries before it are consumed.
func (r *Ring) SQHead() uint32 { return atomic.LoadUint32(r.sqHead) }

// SQTail is the published SQ tail.
func (r *Ring) SQTail() uint32 { return atomic.LoadUint32(r.sqTail) }

// SQFlags is the SQ ring's flags word (SQCQOverflow, SQTaskrun, ...).
func (r *Ring) SQFlags() uint32 { return atomic.LoadUint32(r.sqFlags) }

// Dropped is the kernel's count of submission entries it rejected as invalid.
func (r *Ring) Dropped() uint32 { return atomic.LoadUint32(r.sqDropped) }

// CQOverflow is the kernel's count of completions it had to drop (not those it kept on
// its overflow list: with FeatNoDrop none is ever dropped unless memory runs out).
func (r *Ring) CQOverflow() uint32 { return atomic.LoadUint32(r.cqOverflow) }

// CQReady is how many completions wait in the queue.
func (r *Ring) CQReady() uint32 { return atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead) }

// Peek copies up to len(dst) waiting completions into dst and retires them; it returns
// how many it copied.
func (r *Ring) Peek(dst []CQE) int {
	head := atomic.LoadUint32(r.cqHead)
	// Acquire load of the tail: the entries before it are written.
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for head != tail && n < len(dst) {
		// head&cqMask < cqEntries: inside the CQE array.
		dst[n] = *(*CQE)(unsafe.Add(unsafe.Pointer(r.cqes), uintptr(head&r.cqMask)*unsafe.Sizeof(CQE{})))
		head++
		n++
	}
	if n > 0 {
		// Release store: the kernel may reuse the entries only after they are copied.
		atomic.StoreUint32(r.cqHead, head)
	}
	return n
}

// Enter calls io_uring_enter: submit up to toSubmit published entries and, with
// EnterGetEvents in flags, wait until minComplete completions are ready or timeout
// passes (negative: no limit; the timeout needs FeatExtArg). It returns how many
// entries the kernel consumed. ETIME (the timeout passed) is reported as a nil error;
// EINTR is returned to the caller, which decides whether to go on waiting.
func (r *Ring) Enter(toSubmit, minComplete, flags uint32, timeout time.Duration) (int, error) {
	return r.enter(toSubmit, minComplete, flags, timeout, false)
}

// EnterRaw is Enter without telling the Go scheduler that the goroutine may block: it
// keeps its P while it sleeps in the kernel, and no other goroutine runs on that P
// meanwhile. The caller bounds the sleep (a timeout, or a completion it knows will
// come) and takes the signal the runtime sends to preempt it (EINTR) as a reason to
// return.
func (r *Ring) EnterRaw(toSubmit, minComplete, flags uint32, timeout time.Duration) (int, error) {
	return r.enter(toSubmit, minComplete, flags, timeout, true)
}

func (r *Ring) enter(toSubmit, minComplete, flags uint32, timeout time.Duration, raw bool) (int, error) {
	var arg, argSize uintptr
	if timeout >= 0 && flags&EnterGetEvents != 0 {
		r.ts = unix.NsecToTimespec(int64(timeout))
		// The Ring is heap-allocated and Go's heap does not move: the kernel reads
		// arg and ts through these addresses during the call only.
		r.arg = GetEventsArg{SigmaskSz: sigsetSize, Ts: uint64(uintptr(unsafe.Pointer(&r.ts)))}
		arg, argSize = uintptr(unsafe.Pointer(&r.arg)), uintptr(getEventsArgSize)
		flags |= EnterExtArg
	}
	var n uintptr
	var errno unix.Errno
	if raw {
		n, _, errno = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), arg, argSize)
	} else {
		n, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), arg, argSize)
	}
	if errno != 0 {
		if errno == unix.ETIME {
			return 0, nil
		}
		return 0, errno
	}
	return int(n), nil
}

// Register calls io_uring_register on the ring.
func (r *Ring) Register(op uint32, arg unsafe.Pointer, nr uint32) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), uintptr(op), uintptr(arg), uintptr(nr), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// Probe asks the kernel which opcodes the ring supports.
func (r *Ring) Probe() (*Probe, error) {
	p := new(Probe)
	if _, err := r.Register(RegisterProbe, unsafe.Pointer(p), maxProbeOps); err != nil {
		return nil, os.NewSyscallError("io_uring_register(PROBE)", err)
	}
	return p, nil
}

// Supports reports whether opcode op is supported.
func (p *Probe) Supports(op uint8) bool {
	return op <= p.LastOp && int(op) < len(p.Ops) && p.Ops[op].Flags&registerOpSupported != 0
}

// SendMsgRing posts a completion with userData and res to the ring with descriptor
// ringFd without a ring of the caller's own (IORING_REGISTER_SEND_MSG_RING, Linux
// 6.13): a wake-up from any thread in one syscall.
func SendMsgRing(ringFd int, userData uint64, res int32) error {
	sqe := SQE{Opcode: OpMsgRing, Fd: int32(ringFd), Addr: msgRingData, Len: uint32(res), Off: userData}
	// The kernel copies the entry during the call; &sqe is kept alive by the call.
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, ^uintptr(0), RegisterSendMsgRing, uintptr(unsafe.Pointer(&sqe)), 1, 0, 0)
	if errno != 0 {
		return os.NewSyscallError("io_uring_register(SEND_MSG_RING)", errno)
	}
	return nil
}

// String describes the ring for logs.
func (r *Ring) String() string {
	return fmt.Sprintf("io_uring fd %d sq %d cq %d flags %#x features %#x", r.fd, r.sqEntries, r.cqEntries, r.params.Flags, r.params.Features)
}
