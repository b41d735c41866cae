package proactor

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/coionet/coio/internal/gident"
	"github.com/coionet/coio/internal/sys"
	"github.com/coionet/coio/internal/uring"
	"golang.org/x/sys/unix"
)

// Ring sizes. The SQ only holds what is prepared between two enters (one runner's
// batch of handlers); the CQ holds every op that may complete before the waiter
// reaps, so it is much larger: an overflow is not lost (FeatNoDrop) but is slow.
var (
	uringSQEntries uint32 = 1024
	uringCQEntries uint32 = 16384 // variables: a test shrinks both to force overflow and a full SQ
)

const (
	uringReapBatch = 256  // completions copied out per Peek
	uringReapMax   = 1024 // completions one Wait hands out at most, for fairness
	slotChunkBits  = 10
	slotChunkSize  = 1 << slotChunkBits
)

// user_data layout: tag (8 bits) | generation (24 bits) | slot index (32 bits). Never a
// pointer (the GC cannot see the kernel's copy) and never a descriptor number
// (reused as soon as it is closed).
const (
	tagOp     = 1 // an Op's request; the slot holds the op
	tagCancel = 2 // a cancel request; the slot (if any) holds the FD reference it keeps
	tagWake   = 3 // the eventfd read that wakes the waiter
	tagAccept = 4 // a listener's multishot accept; the slot holds the FD reference it keeps
	tagRecv   = 5 // a descriptor's multishot lent read; the slot holds the FD reference it keeps
	tagTick   = 6 // the multishot timeout that bounds a raw sleep (uring_tick_linux.go); no slot
	genMask   = 1<<24 - 1
)

func makeUD(tag uint8, gen, idx uint32) uint64 {
	return uint64(tag)<<56 | uint64(gen&genMask)<<32 | uint64(idx)
}

// uringAux is what a connect, recvfrom or sendto hands the kernel besides the data
// buffer. It belongs to a slot, is allocated on the slot's first use by such an op and
// kept for its later uses, so steady-state ops allocate nothing.
type uringAux struct {
	rsa  unix.RawSockaddrAny
	msg  unix.Msghdr
	iov  unix.Iovec
	iovs []unix.Iovec // a gathered send's iovecs
}

// uslot tracks one request in the kernel. Every pointer the kernel was given (the op's
// buffer, the aux structures) is reachable from here until the request's last
// completion has been reaped, so the garbage collector cannot free it meanwhile; Go's
// heap does not move objects, and buffers reach the kernel only through heap Ops, so
// reachability is what the kernel needs (see ARCHITECTURE.md, "io_uring and the GC").
type uslot struct {
	op   *Op
	fd   *FD // a cancel-by-descriptor's reference, dropped when its completion is reaped
	aux  *uringAux
	gen  uint32
	next int32 // free list link, -1 at the end; slotUsed while the slot is in use
}

// slotUsed marks a slot in use in its free list link, rather than in a field of its
// own that would make every slot 40 bytes instead of 32 (an idle connection on
// io_uring holds one, for its multishot recv).
const slotUsed = -2

// completion is a reaped result, finished after the backend's lock is released.
type completion struct {
	op  *Op
	n   int
	err error
	fd  *FD // a reference to drop instead (cancel completions)

	perform bool // op is a bulk read made ready: it goes to the runner unfinished
}

// acceptBacklog caps the connections a multishot accept takes ahead of the
// application's accepts; at the cap the request is cancelled, and the kernel's own
// listen queue holds the rest until the next accept re-arms it.
const acceptBacklog = 64

// acceptState is a listener's multishot accept: the kernel posts one completion per
// connection, handed to the waiting accept op or kept in backlog until the next one.
type acceptState struct {
	armed   bool   // the multishot request is in the kernel
	aborted bool   // Cancel or Close came while waiter waited: it is aborted at the request's end
	ud      uint64 // its user data, for a cancel
	waiter  *Op    // the accept op waiting for a connection
	backlog []int  // accepted descriptors no op has taken yet
	err     error  // an error that ended the request while no op waited
}

// take hands out the oldest descriptor of the backlog, if there is one; mu is held.
func (st *acceptState) take() (int, bool) {
	if len(st.backlog) == 0 {
		return -1, false
	}
	fd := st.backlog[0]
	copy(st.backlog, st.backlog[1:])
	st.backlog = st.backlog[:len(st.backlog)-1]
	return fd, true
}

// uringBackend is the proactive backend: every operation is an io_uring request.
//
// One ring per Context, shared by its runners without binding to a thread: any
// goroutine prepares entries under mu; the entries are handed to the kernel by the
// next enter, which is the waiter's own blocking enter (submit and wait in one
// syscall) or Flush, called by a runner before it sleeps or leaves, or by a submitter
// that is not a runner. A runner's batch of handlers thus costs one io_uring_enter.
type uringBackend struct {
	ring *uring.Ring
	sink Sink
	desc string // capabilities, for Info.Reason

	mu     sync.Mutex // the SQ producer side and the slot table
	chunks []*[slotChunkSize]uslot
	free   int32 // head of the free slot list, -1 when empty
	nslots int32
	used   int // slots in use
	ops    int // of which ops' requests
	closed bool

	// The waiter's state: one goroutine at a time (Backend.Wait's contract).
	cqes []uring.CQE
	done []completion

	// Lent reads (Op.Lend): a provided-buffer ring made on first use, the buffers
	// lent to handlers, and the reads that found it empty (ENOBUFS) and wait, out of
	// the kernel, for a buffer to come back. Guarded by mu.
	lendSize, lendCount int
	lend                *lendBook
	starved             []*Op
	runners             atomic.Int32 // runners driving the ring (SetRunners)
	front               int          // restarted reads put back at the head of starved this round (starve)
	queued              int          // bytes multishot recvs received ahead of the reads
	readers             readerCount  // descriptors making lent reads lately (readerCount)
	crowded             bool         // so many descriptors read that each read makes a request (crowd)
	largeReads          bool         // lent receives bring crowdSmall bytes or more on average lately (crowd)
	readied             []*Op        // bulk reads whose descriptor is readable, due for Perform (uring_bulk_linux.go)
	ownAfter            map[*FD]*Op  // own-buffer reads waiting for a capped multishot recv's end (ownRead)
	lending             atomic.Bool  // a lent read has been made: TryNow's own-buffer reads look at its state
	// Reads whose request found their descriptor closing once it had its entry
	// (recvOnce): the Close found nothing of theirs to abort. Their entry became a
	// no-op, whose completion wakes the reap that fails them.
	closingReads []*Op

	// sqeDropped, when set, runs once with mu released at the next sqe, as a full SQ
	// would let a Close run there (tests).
	sqeDropped func()

	// Listeners accept with one multishot request each (guarded by mu).
	accepts map[*FD]*acceptState
	waiting int // accept ops waiting for a connection, outside the kernel

	efd         int     // eventfd whose read request wakes the waiter
	wakeBuf     [8]byte // the read's target, in the backend (a heap object) until Shutdown
	wakeArmed   bool    // the read is in the kernel (guarded by mu)
	wakePending atomic.Bool

	// The waiter's raw sleeps (uring_tick_linux.go). hot, tickFired and tickCQEs
	// are the waiter's own (complete sets the last two); the rest is guarded by mu.
	hot       bool          // the last sleep ended with work: the next keeps the P
	tickFired bool          // the armed tick fired during this Wait
	tickCQEs  int           // completions of ticks and their cancels reaped during this Wait
	tickArmed bool          // a tick of generation tickGen is in the kernel and wanted
	tickOff   bool          // the kernel refused the tick: sleeps are always told
	tickGen   uint32        // generation of the latest tick, in its user data
	ticks     int           // tick requests in the kernel, the cancelled ones included
	tickTS    unix.Timespec // the tick's period, read by the kernel when it takes the entry

	enters    atomic.Uint64 // io_uring_enter calls, for statistics
	overflows atomic.Uint64 // times Wait found completions kept on the kernel's overflow list

	lk *lockedState // the thread-bound variant's state; nil in the shared-ring one

	destroyFD func(f *FD) // destroy as a func value, made once for every FD to point at

	// gone is set when Shutdown is about to unmap the ring; users counts the calls
	// from outside the waiter (Flush, Wake) that are touching it, which Shutdown
	// waits out. A Flush or Wake after Shutdown (a late submitter) does nothing.
	gone  atomic.Bool
	users atomic.Int32
}

// hold marks a use of the ring from outside the waiter; false once it is gone.
func (u *uringBackend) hold() bool {
	u.users.Add(1)
	if u.gone.Load() {
		u.users.Add(-1)
		return false
	}
	return true
}

// enter calls io_uring_enter and counts it.
func (u *uringBackend) enter(toSubmit, minComplete, flags uint32, timeout time.Duration) (int, error) {
	u.enters.Add(1)
	return u.ring.Enter(toSubmit, minComplete, flags, timeout)
}

// InFlight is how many ops are in the kernel: their completions are still due.
func (u *uringBackend) InFlight() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ops + len(u.starved) + u.waiting + len(u.closingReads) + len(u.ownAfter)
}

// Enters is how many io_uring_enter calls the backend has made.
func (u *uringBackend) Enters() uint64 { return u.enters.Load() }

// uringSetup creates the ring; a test replaces it to force a refusal.
var uringSetup = uring.Setup

// uringRequired are the opcodes the backend submits.
var uringRequired = []struct {
	op   uint8
	name string
}{
	{uring.OpRecv, "RECV"}, {uring.OpSend, "SEND"}, {uring.OpAccept, "ACCEPT"},
	{uring.OpConnect, "CONNECT"}, {uring.OpAsyncCancel, "ASYNC_CANCEL"}, {uring.OpRead, "READ"},
	{uring.OpRecvmsg, "RECVMSG"}, {uring.OpSendmsg, "SENDMSG"},
}

// newUring sets up the io_uring backend, or says why the kernel does not allow it.
func newUring(sink Sink) (*uringBackend, error) {
	var extra uint32
	if coopTaskrunWorks() {
		extra = uring.SetupCoopTaskrun | uring.SetupTaskrunFlag
	}
	u, err := setupUring(sink, extra)
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		u.ring.Close()
		return nil, os.NewSyscallError("eventfd", err)
	}
	u.efd = efd
	u.mu.Lock()
	u.armWake()
	u.mu.Unlock()
	u.Flush()
	return u, nil
}

// coopTaskrunWorks reports (once per process) whether completions reach a waiter on
// another thread while the submitting thread sleeps, with IORING_SETUP_COOP_TASKRUN.
//
// Without COOP_TASKRUN the kernel interrupts the submitting thread (an IPI when it
// runs in user space) to run the task work that posts a completion; on this VM those
// interrupts cost ~6% of the server's CPU (irqentry_exit_to_user_mode in a perf
// profile) and COOP_TASKRUN made an echo 9% cheaper than without (ARCHITECTURE.md).
// With it, the work waits until the submitter enters the kernel. In the shared ring
// the submitter is often a runner that then sleeps while another waits; setup.2 calls
// that pattern unsafe with COOP_TASKRUN and older kernels may stall it, so it is
// checked here, on a throwaway ring, exactly in that shape: a locked thread submits a
// recv and parks, this one waits for its completion.
var coopTaskrunWorks = sync.OnceValue(func() bool {
	r, err := uringSetup(4, &uring.Params{Flags: uring.SetupCoopTaskrun})
	if err != nil {
		return false
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		r.Close()
		return false
	}
	buf := make([]byte, 8)
	submitted, park := make(chan error), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		r.GetSQE().PrepRecv(fds[0], buf, 0, 1)
		r.Publish()
		_, err := r.Enter(1, 0, 0, -1)
		submitted <- err
		<-park // the submitter's thread sleeps here, as an idle runner's would
	}()
	ok := <-submitted == nil
	if ok {
		unix.Write(fds[1], []byte{1})
		deadline := time.Now().Add(200 * time.Millisecond)
		var c [1]uring.CQE
		for ok = false; !ok && time.Now().Before(deadline); {
			r.Enter(0, 1, uring.EnterGetEvents, 20*time.Millisecond)
			ok = r.Peek(c[:]) == 1 && c[0].Res == 1
		}
	}
	close(park)
	unix.Close(fds[1])
	unix.Close(fds[0])
	r.Close()
	if !ok {
		coopProbeBuf.Store(&buf) // the kernel may still hold the recv: keep its buffer
	}
	return ok
})

// coopProbeBuf keeps the probe's buffer reachable for good when its recv may still be
// in the kernel.
var coopProbeBuf atomic.Pointer[[]byte]

// setupUring creates the ring with the extra set-up flags and checks that the kernel
// has what the backend needs.
func setupUring(sink Sink, flags uint32) (*uringBackend, error) {
	p := uring.Params{
		Flags:     flags | uring.SetupCQSize | uring.SetupClamp | uring.SetupSubmitAll | uring.SetupNoSQArray,
		CqEntries: uringCQEntries,
	}
	ring, err := uringSetup(uringSQEntries, &p)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*uringBackend, error) {
		ring.Close()
		return nil, err
	}
	// NODROP: an overflowing CQ keeps completions; FAST_POLL: a socket op that would
	// block waits for readiness in the kernel instead of in a worker thread; EXT_ARG:
	// the wait takes a timeout without a timeout request.
	const need = uring.FeatNoDrop | uring.FeatFastPoll | uring.FeatExtArg
	if f := ring.Params().Features; f&need != need {
		return fail(fmt.Errorf("io_uring lacks features %#x (needs NODROP, FAST_POLL, EXT_ARG: Linux 5.11)", need&^f))
	}
	probe, err := ring.Probe()
	if err != nil {
		return fail(err)
	}
	for _, r := range uringRequired {
		if !probe.Supports(r.op) {
			return fail(fmt.Errorf("io_uring lacks opcode %s", r.name))
		}
	}
	u := &uringBackend{
		ring: ring, sink: sink, free: -1, efd: -1, readers: readerCount{epoch: 1},
		cqes: make([]uring.CQE, uringReapBatch),
		done: make([]completion, 0, uringReapBatch),
	}
	u.destroyFD = u.destroy
	if err := u.probeCancelFd(); err != nil {
		return fail(err)
	}
	pp := ring.Params()
	u.desc = fmt.Sprintf("sq %d, cq %d, setup flags %#x, features %#x", pp.SqEntries, pp.CqEntries, pp.Flags, pp.Features)
	return u, nil
}

// probeCancelFd checks that the kernel cancels by descriptor (Linux 5.19), which
// Cancel and Close rely on: a cancel of nothing answers ENOENT, an unknown flag EINVAL.
func (u *uringBackend) probeCancelFd() error {
	e := u.ring.GetSQE()
	e.PrepCancelFd(u.ring.Fd(), makeUD(tagCancel, 0, 0))
	u.ring.Publish()
	if _, err := u.ring.Enter(1, 1, uring.EnterGetEvents, time.Second); err != nil {
		return os.NewSyscallError("io_uring_enter", err)
	}
	var c [1]uring.CQE
	if u.ring.Peek(c[:]) != 1 {
		return errors.New("io_uring: no completion for a cancel request")
	}
	if c[0].Res == -int32(unix.EINVAL) {
		return errors.New("io_uring cannot cancel by descriptor (needs Linux 5.19)")
	}
	return nil
}

func (u *uringBackend) Name() string {
	if u.lk != nil {
		return "iouring-locked"
	}
	return "iouring"
}

func (u *uringBackend) Register(f *FD, sysfd int) error {
	if sysfd < 0 {
		return fmt.Errorf("proactor: descriptor %d out of range", sysfd)
	}
	f.Sysfd = sysfd
	f.destroy = u.destroyFD
	f.state.Store(0)
	// A reactive Context's Wait may still hold this FD from before it was closed
	// there; no sequence number of a reactive backend is 0, so its stale events no
	// longer match, and it leaves alone the words recvOf reuses.
	f.seq.Store(0)
	f.marks.Store(0)
	recvOf(f).reset()
	return nil
}

// destroy runs once, when the last reference of a closing FD is dropped: every request
// on it has completed, so the number may be reused.
func (u *uringBackend) destroy(f *FD) {
	unix.Close(f.Sysfd)
}

// slot returns slot idx; mu is held.
func (u *uringBackend) slot(idx int32) *uslot {
	return &u.chunks[idx>>slotChunkBits][idx&(slotChunkSize-1)]
}

// live returns slot idx if it still holds the request of generation gen, else nil (a
// completion for a request whose slot was freed and reused); mu is held.
func (u *uringBackend) live(idx int32, gen uint32) *uslot {
	if idx < 0 || idx >= u.nslots {
		return nil
	}
	if s := u.slot(idx); s.next == slotUsed && s.gen == gen {
		return s
	}
	return nil
}

// alloc takes a free slot; mu is held.
func (u *uringBackend) alloc() (int32, *uslot) {
	if u.free < 0 {
		u.chunks = append(u.chunks, new([slotChunkSize]uslot))
		base := u.nslots
		u.nslots += slotChunkSize
		for i := u.nslots - 1; i >= base; i-- {
			s := u.slot(i)
			s.next = u.free
			u.free = i
		}
	}
	idx := u.free
	s := u.slot(idx)
	u.free = s.next
	s.gen = (s.gen + 1) & genMask
	s.next = slotUsed
	u.used++
	return idx, s
}

// track takes a slot for op's request and returns its user data; mu is held.
func (u *uringBackend) track(op *Op) (int32, *uslot, uint64) {
	idx, s := u.alloc()
	s.op = op
	u.ops++
	return idx, s, makeUD(tagOp, s.gen, uint32(idx))
}

// release returns slot idx to the free list; mu is held.
func (u *uringBackend) release(idx int32, s *uslot) {
	if s.op != nil {
		u.ops--
	}
	s.op, s.fd = nil, nil
	s.next = u.free
	u.free = idx
	u.used--
}

// sqe returns a free submission entry, handing the queued ones to the kernel when the
// queue is full; mu is held (and released while backing off).
func (u *uringBackend) sqe() *uring.SQE {
	if h := u.sqeDropped; h != nil {
		u.sqeDropped = nil
		u.mu.Unlock()
		h()
		u.mu.Lock()
	}
	for {
		if e := u.ring.GetSQE(); e != nil {
			return e
		}
		u.ring.Publish()
		if u.lk != nil && (u.lk.ownerG == 0 || gident.Raw() != u.lk.ownerG) {
			// Only the owner may submit: wake it and wait for room. (The owner
			// itself, preparing a re-arm or a cancel while it reaps, submits below.)
			u.mu.Unlock()
			u.kickOwner()
			runtime.Gosched()
			u.mu.Lock()
			continue
		}
		if _, err := u.enter(u.ring.SQPending(), 0, 0, -1); err != nil && err != unix.EINTR {
			// EAGAIN/EBUSY: the kernel is short of memory or still flushing an
			// overflowed CQ; let the waiter reap and try again.
			u.mu.Unlock()
			runtime.Gosched()
			u.mu.Lock()
		}
	}
}

func (u *uringBackend) Submit(op *Op) {
	if op.Lend && uringMultishotRecv.Load() {
		u.submitLentOp(op)
		return
	}
	f := op.FD
	if !f.Acquire() {
		op.N, op.Err = 0, errClosed
		u.sink.Complete(op)
		return
	}
	if (op.Kind == OpRead || op.Kind == OpWrite) && len(op.Buf) == 0 && !op.Lend && op.vec() == nil {
		finish(op, 0, nil)
		u.sink.Complete(op)
		return
	}
	if !u.lockFor(op) {
		return
	}
	if op.Kind == OpAccept {
		d, ok := u.submitAccept(op)
		u.mu.Unlock()
		if ok {
			finish(op, d.n, d.err)
			u.sink.Complete(op)
		}
		return
	}
	if op.Kind == OpRead && !op.Lend {
		if d, now, ok := u.ownRead(op); ok {
			resubmit := now && u.restartFreed()
			u.mu.Unlock()
			if now {
				finish(op, d.n, d.err)
				u.sink.Complete(op)
			}
			if resubmit {
				u.Flush()
			}
			return
		}
	}
	if op.Lend && len(u.starved) > 0 {
		// Reads already wait for a buffer: queue behind them, so that buffers go
		// to waiting connections in turn rather than to whichever read the kernel
		// completes first.
		op.BufID = 0
		u.starved = append(u.starved, op)
		u.mu.Unlock()
		return
	}
	if op.Kind == OpWrite && recvOf(f).bulk && op.vec() == nil {
		// A bulk descriptor's write is made now (uring_bulk_linux.go).
		u.mu.Unlock()
		if u.sendNow(op) {
			u.sink.Complete(op)
			return
		}
		if !u.lockFor(op) {
			return
		}
	}
	idx, s, ud := u.track(op)
	if err := u.prep(op, s, ud); err != nil {
		u.release(idx, s)
		u.fail(op, err)
		return
	}
	op.ud = ud
	u.ring.Publish()
	u.mu.Unlock()
}

// submitLentOp submits a lent read that the multishot recv serves. It takes no
// reference on the descriptor for a read that finds its data already received (a
// handler that reads again after a write usually does): nothing of the descriptor is
// used, and the acquire and release would be two locked instructions a message. A
// read that waits takes one (submitLent).
func (u *uringBackend) submitLentOp(op *Op) {
	u.mu.Lock()
	var d completion
	ok := true
	if u.closed || op.FD.Closing() {
		d.err = errClosed
	} else {
		d, ok = u.submitLent(op)
	}
	u.mu.Unlock()
	if ok {
		settle(op, d.n, d.err)
		u.sink.Complete(op)
	}
}

// lockFor takes mu for a new request of op's, and reports true. When none can be made,
// op fails instead (mu released) and lockFor reports false: after Shutdown, and on a
// closing descriptor, because Close has taken the lock or is about to, and its cancel
// may already be queued ahead of the request and would miss it.
func (u *uringBackend) lockFor(op *Op) bool {
	u.mu.Lock()
	switch {
	case u.closed:
		u.fail(op, errClosed)
		return false
	case op.FD.Closing():
		u.fail(op, ErrAbortedClosed)
		return false
	}
	return true
}

// fail finishes op, which made no request, with err and hands it to the sink; mu is
// held, and released first.
func (u *uringBackend) fail(op *Op, err error) {
	u.mu.Unlock()
	finish(op, 0, err)
	u.sink.Complete(op)
}

// prep fills a submission entry for op; mu is held. It fails with ErrAbortedClosed
// when op's descriptor began closing while sqe waited for room (see sqeFor).
func (u *uringBackend) prep(op *Op, s *uslot, ud uint64) error {
	fd := op.FD.Sysfd
	op.Syscalls = 0 // no syscall of its own: the request rides on a shared enter
	// What can fail comes before the entry is taken: a taken entry must be filled.
	var rsaLen uint32
	switch op.Kind {
	case OpRead:
		if op.Lend {
			if err := u.lendRing(); err != nil {
				return err
			}
		}
	case OpConnect, OpSendTo:
		if op.Kind == OpConnect || op.Ext.Addr != nil { // sendto without one: the connected peer
			n, err := toRaw(op.Ext.Addr, &s.auxOf().rsa)
			if err != nil {
				return err
			}
			rsaLen = n
		}
	case OpWrite, OpAccept, OpRecvFrom:
	default:
		return fmt.Errorf("proactor: %v ops cannot be submitted", op.Kind)
	}
	e := u.sqeFor(op.FD)
	if e == nil {
		return ErrAbortedClosed
	}
	switch op.Kind {
	case OpRead:
		if op.Lend {
			e.PrepRecvSelectMax(fd, u.lend.bufs.Bgid(), uint32(u.lend.bufs.Size()), ud)
			break
		}
		e.PrepRecv(fd, op.Buf, 0, ud)
	case OpWrite:
		if vec := op.vec(); vec != nil {
			a := s.auxOf()
			a.msg = unix.Msghdr{}
			a.setVec(vec)
			e.PrepSendmsg(fd, &a.msg, unix.MSG_NOSIGNAL, ud)
			break
		}
		e.PrepSend(fd, op.Buf, unix.MSG_NOSIGNAL, ud)
	case OpAccept:
		e.PrepAccept(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, ud)
	case OpConnect:
		e.PrepConnect(fd, unsafe.Pointer(&s.aux.rsa), rsaLen, ud)
	case OpRecvFrom:
		a := s.auxOf()
		a.msg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&a.rsa)), Namelen: unix.SizeofSockaddrAny}
		a.setData(op.Buf)
		e.PrepRecvmsg(fd, &a.msg, 0, ud)
	case OpSendTo:
		a := s.auxOf()
		a.msg = unix.Msghdr{}
		if op.Ext.Addr != nil {
			a.msg.Name, a.msg.Namelen = (*byte)(unsafe.Pointer(&a.rsa)), rsaLen
		}
		a.setData(op.Buf)
		e.PrepSendmsg(fd, &a.msg, unix.MSG_NOSIGNAL, ud)
	}
	return nil
}

// sqeFor returns a submission entry for a new request on f, or nil when f began
// closing meanwhile. sqe drops mu while it waits for room in a full SQ; a Close in
// that window queues its cancel by descriptor ahead of this request, which the cancel
// then misses, and the request would hold f open until data came. The entry it took
// is spent on a no-op, published at once: its completion wakes a reap, which a caller
// with an op to fail there (recvOnce's closingReads) needs. mu is held.
func (u *uringBackend) sqeFor(f *FD) *uring.SQE {
	e := u.sqe()
	if f.Closing() {
		e.PrepNop(makeUD(tagCancel, 0, 0))
		u.ring.Publish()
		return nil
	}
	return e
}

// submitAccept takes a connection the listener's multishot accept has already
// accepted, or makes op wait for the next one, arming the request if it is not in the
// kernel; ok reports a result for op now. mu is held; op holds a reference on its FD.
func (u *uringBackend) submitAccept(op *Op) (d completion, ok bool) {
	f := op.FD
	if u.accepts == nil {
		u.accepts = map[*FD]*acceptState{}
	}
	st := u.accepts[f]
	if st == nil {
		st = &acceptState{}
		u.accepts[f] = st
	}
	if fd, ok := st.take(); ok {
		return completion{n: fd}, true
	}
	if err := st.err; err != nil {
		st.err = nil
		return completion{err: err}, true
	}
	st.waiter = op
	u.waiting++
	if !st.armed {
		u.armAccept(st, f)
	}
	return completion{}, false
}

// tryAccept is TryNow for an accept: a connection the listener's multishot accept has
// already taken (its backlog) first, else accept4 on the non-blocking listener, which
// is safe beside an armed multishot accept: the kernel hands each connection out once,
// whoever asks. The backlog is the completions' (complete), under mu in both variants.
func (u *uringBackend) tryAccept(op *Op) bool {
	f := op.FD
	if !f.Acquire() {
		op.N, op.Err = -1, errClosed // as TryNow's reads and writes, and the reactive backends
		return true
	}
	defer f.Release()
	u.mu.Lock()
	if st := u.accepts[f]; st != nil {
		if fd, ok := st.take(); ok {
			u.mu.Unlock()
			op.N, op.Err = fd, nil
			return true
		}
		// The error that ended the multishot accept while no op waited is the next
		// accept's result, as submitAccept hands it out: otherwise a TryNow that
		// succeeds leaves it for a later AsyncAccept, which reports it stale.
		if err := st.err; err != nil {
			st.err = nil
			u.mu.Unlock()
			op.N, op.Err = -1, err
			return true
		}
	}
	u.mu.Unlock()
	for {
		op.Syscalls++
		fd, err := sys.Accept(f.Sysfd)
		switch err {
		case unix.ECONNABORTED, unix.EINTR:
			continue // a peer that gave up while queued: the next one
		case unix.EAGAIN:
			return false
		}
		op.N, op.Err = fd, err
		return true
	}
}

// armAccept queues f's multishot accept; mu is held. The request holds its own
// reference on f until its last completion.
func (u *uringBackend) armAccept(st *acceptState, f *FD) {
	if !f.Acquire() {
		return // closing
	}
	e := u.sqeFor(f)
	if e == nil {
		// A Close ran while sqe waited for room: it found the request unarmed and
		// aborted the waiter itself. Armed now, the accept would hold the listener
		// open until a connection came.
		f.Release()
		return
	}
	idx, s := u.alloc()
	s.fd = f
	st.ud = makeUD(tagAccept, s.gen, uint32(idx))
	e.PrepAcceptMultishot(f.Sysfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, st.ud)
	u.ring.Publish()
	st.armed = true
}

// accepted handles a completion of a multishot accept; mu is held.
func (u *uringBackend) accepted(c *uring.CQE, idx int32, s *uslot, done []completion) []completion {
	f := s.fd
	st := u.accepts[f]
	more := c.Flags&uring.CQEFMore != 0
	take := func(d completion) {
		done = append(done, completion{op: st.waiter, n: d.n, err: d.err})
		st.waiter, st.aborted = nil, false
		u.waiting--
	}
	switch {
	case c.Res >= 0 && st.waiter != nil:
		take(completion{n: int(c.Res)})
	case c.Res >= 0 && f.Closing():
		unix.Close(int(c.Res))
	case c.Res >= 0:
		st.backlog = append(st.backlog, int(c.Res))
		if len(st.backlog) >= acceptBacklog && more {
			u.sqe().PrepCancel(st.ud, 0, makeUD(tagCancel, 0, 0))
			u.ring.Publish()
		}
	case c.Res == -int32(unix.ECANCELED) && st.waiter != nil && (st.aborted || f.Closing()):
		// Cancel or Close: the connections accepted before the cancel landed went
		// to the waiter first, as results that completed before it. Only the op
		// that waited when Cancel came is aborted: the cancel at the backlog cap,
		// or one that found no op waiting, ends the request and nothing else (an
		// op that began waiting since then gets the re-armed request below).
		take(completion{err: abortedErr(f)})
	case c.Res == -int32(unix.ECONNABORTED), c.Res == -int32(unix.ECANCELED):
		// A peer that gave up while queued; or the cancel at the backlog cap.
	case st.waiter != nil:
		take(completion{err: unix.Errno(-c.Res)})
	default:
		st.err = unix.Errno(-c.Res)
	}
	if more {
		return done
	}
	// The request is over (an error, a cancel, a full CQ): drop its reference, and
	// re-arm it for an op still waiting.
	st.armed = false
	u.release(idx, s)
	done = append(done, completion{fd: f})
	if st.waiter != nil && !f.Closing() {
		u.armAccept(st, f)
	}
	if f.Closing() && st.waiter == nil {
		for _, fd := range st.backlog {
			unix.Close(fd)
		}
		delete(u.accepts, f)
	}
	return done
}

// lendRing makes the provided-buffer ring on first use; mu is held.
func (u *uringBackend) lendRing() error {
	if u.lend != nil {
		return nil
	}
	size, count := u.lendSize, u.lendCount
	if size == 0 {
		size, count = DefaultLendSize, DefaultLendCount
	}
	k, err := lendBookRing(u.ring, size, count)
	if err != nil {
		return err
	}
	u.lend = k
	u.lending.Store(true)
	return nil
}

func (u *uringBackend) SetLendBuffers(size, count int) error {
	if size <= 0 || count <= 0 || count&(count-1) != 0 || count > 32768 {
		return fmt.Errorf("proactor: lend buffers %d × %d: want a positive size and a power-of-two count up to 32768", count, size)
	}
	if u.lk != nil {
		// The lend ring exists from the start (registration is bound to the
		// owner's thread): replace it there.
		var err error
		u.onOwner(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			if u.lend.lent > 0 {
				err = errors.New("proactor: lend buffers already in use; configure them before the first read")
				return
			}
			if err = u.lend.bufs.Close(); err == nil {
				u.lend = nil
				u.lendSize, u.lendCount = size, count
				err = u.lendRing()
			}
		})
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.lend != nil {
		return errors.New("proactor: lend buffers already in use; configure them before the first read")
	}
	u.lendSize, u.lendCount = size, count
	return nil
}

// ReleaseBuffer hands buffer id back to the kernel, and restarts the reads that were
// waiting for one.
func (u *uringBackend) ReleaseBuffer(id int32) {
	u.mu.Lock()
	// Once closed the ring is gone or going: the release is counted, nothing is
	// handed back.
	if u.lend == nil || !u.lend.valid(id) || !u.lend.give(uint16(id), !u.closed) {
		u.mu.Unlock()
		panic(errReleased(id))
	}
	if u.closed {
		u.mu.Unlock()
		return
	}
	resubmit := u.restartFreed()
	u.mu.Unlock()
	if resubmit {
		u.Flush()
	}
}

// giveWritten gives back the lent buffer that op, a write, has written all of (see
// Op.BufID), here where the reap holds mu anyway rather than in a ReleaseBuffer of
// its own, which would lock mu again for every message a server echoes or forwards.
// mu is held.
func (u *uringBackend) giveWritten(op *Op) {
	id := op.BufID - 1
	if u.lend == nil || !u.lend.valid(id) || !u.lend.give(uint16(id), !u.closed) {
		return // not lent here: the owner's ReleaseBuffer reports it
	}
	op.BufID = 0
}

// restartStarved submits again the oldest read that found no buffer, one per buffer
// released: restarting them all would only send the others back with ENOBUFS. mu is
// held.
func (u *uringBackend) restartStarved() {
	op := u.starved[0]
	copy(u.starved, u.starved[1:])
	u.starved[len(u.starved)-1] = nil
	u.starved = u.starved[:len(u.starved)-1]
	op.BufID = restarted
	if uringMultishotRecv.Load() {
		u.waitLent(recvOf(op.FD), op)
		return
	}
	u.recvOnce(op)
}

// restarted marks (in BufID) a read restarted for a released buffer: if another read
// takes that buffer first, it goes back to the head of the queue, not the tail.
const restarted = -1

// abortStarved finishes the waiting reads of f (every one when f is nil) with err;
// mu is held. They are not in the kernel, so no cancel would reach them.
func (u *uringBackend) abortStarved(f *FD, done []completion) []completion {
	kept := u.starved[:0]
	for _, op := range u.starved {
		if f == nil || op.FD == f {
			done = append(done, completion{op: op, err: abortedErr(f)})
			continue
		}
		kept = append(kept, op)
	}
	clear(u.starved[len(kept):])
	u.starved = kept
	return done
}

func (s *uslot) auxOf() *uringAux {
	if s.aux == nil {
		s.aux = new(uringAux)
	}
	return s.aux
}

// uringVecMax bounds the buffers one gathered send takes (IOV_MAX is 1024); a longer
// vector is sent over several requests, as a short write.
const uringVecMax = 1024

// setVec points the message's iovecs at the non-empty buffers of vec. The iovec array
// belongs to the slot and is kept for its next uses.
func (a *uringAux) setVec(vec [][]byte) {
	a.iovs = a.iovs[:0]
	for _, b := range vec {
		if len(a.iovs) == uringVecMax {
			break
		}
		if len(b) == 0 {
			continue
		}
		var v unix.Iovec
		v.Base = &b[0]
		v.SetLen(len(b))
		a.iovs = append(a.iovs, v)
	}
	if len(a.iovs) > 0 {
		a.msg.Iov = &a.iovs[0]
		a.msg.SetIovlen(len(a.iovs))
	}
}

// setData points the message's single iovec at b.
func (a *uringAux) setData(b []byte) {
	a.iov = unix.Iovec{}
	if len(b) > 0 {
		a.iov.Base = &b[0]
		a.iov.SetLen(len(b))
	}
	a.msg.Iov, a.msg.Iovlen = &a.iov, 1
}

// armWake queues the eventfd read that Wake completes; mu is held.
func (u *uringBackend) armWake() {
	e := u.sqe()
	e.PrepRead(u.efd, u.wakeBuf[:], makeUD(tagWake, 0, 0))
	u.ring.Publish()
	u.wakeArmed = true
}

// Flush hands the queued submission entries to the kernel.
func (u *uringBackend) Flush() {
	if !u.hold() {
		return
	}
	defer u.users.Add(-1)
	if u.lk != nil {
		if u.ring.SQPending() > 0 {
			u.kickOwner()
		}
		return
	}
	if n := u.ring.SQPending(); n > 0 {
		// EAGAIN/EBUSY leave the entries queued: the waiter's enter takes them.
		_, _ = u.enter(n, 0, 0, -1)
	}
}

// TryNow makes the read or write directly, without the ring: it is only asked for
// when no request of the op's direction is in the kernel, so nothing is reordered.
func (u *uringBackend) TryNow(op *Op) bool {
	if op.Kind == OpRead && op.Lend {
		return u.tryLent(op)
	}
	if op.Kind == OpAccept {
		return u.tryAccept(op)
	}
	if (op.Kind != OpRead && op.Kind != OpWrite) || op.vec() != nil {
		return false
	}
	f := op.FD
	if !f.Acquire() {
		op.N, op.Err = 0, errClosed
		return true
	}
	if op.Kind == OpRead && u.lending.Load() {
		// What lent reads' multishot recv received comes first, and while it is
		// armed a direct read could take bytes ahead of ones it is posting. (A
		// server that never reads lent buffers does not take the lock.)
		u.mu.Lock()
		rs := recvOf(f)
		if rs.q.len() > 0 || rs.end {
			d := u.copyQueued(rs, op)
			resubmit := u.restartFreed()
			u.mu.Unlock()
			if resubmit {
				u.Flush()
			}
			finish(op, d.n, d.err)
			return true
		}
		armed := rs.armed
		u.mu.Unlock()
		if armed {
			f.Release()
			return false
		}
	}
	var n int
	var err error
	for {
		op.Syscalls++
		// The descriptor is non-blocking (as on the reactive backends): a plain
		// read or write says EAGAIN rather than wait.
		if op.Kind == OpRead {
			n, err = sysRead(f.Sysfd, op.Buf)
		} else {
			n, err = sockWrite(f.Sysfd, op.Buf)
		}
		if err != unix.EINTR {
			break
		}
	}
	f.Release()
	if err == unix.EAGAIN {
		return false
	}
	op.N, op.Err = max(n, 0), err
	return true
}

// settleStarved aborts f's reads waiting for a buffer and hands them to the sink; it
// reports how many.
func (u *uringBackend) settleStarved(f *FD) int {
	u.mu.Lock()
	var done []completion
	if st := u.accepts[f]; st != nil {
		// A waiter behind an armed request is settled by that request's last
		// completion (the cancel that follows ends it), after any connection
		// accepted before; one with nothing in the kernel is aborted here.
		if st.waiter != nil && !st.armed {
			done = append(done, completion{op: st.waiter, err: abortedErr(f)})
			st.waiter = nil
			u.waiting--
		}
		st.aborted = st.armed && st.waiter != nil
		if f.Closing() {
			for _, fd := range st.backlog {
				unix.Close(fd)
			}
			st.backlog = nil
			if !st.armed {
				delete(u.accepts, f)
			}
		}
	}
	done = u.settleRecv(f, done)
	u.abortReadied(f)
	if op := u.ownAfter[f]; op != nil {
		op.abort.Store(abortCancel) // finished when the recv it waits for ends
	}
	if len(u.starved) == 0 && len(done) == 0 {
		if u.lend != nil {
			u.lend.freed = 0
		}
		u.mu.Unlock()
		return 0
	}
	done = u.abortStarved(f, done)
	// After abortStarved: f's own starved reads are settled, not restarted.
	restarted := u.restartFreed()
	u.mu.Unlock()
	if restarted {
		u.Flush()
	}
	for _, d := range done {
		finish(d.op, 0, d.err)
		u.sink.Complete(d.op)
	}
	return len(done)
}

func (u *uringBackend) Cancel(f *FD) int {
	if !f.Acquire() {
		return 0 // closed: Close cancelled everything
	}
	// Before the cancel goes in: the ECANCELED of every request it ends is then known
	// to be a cancel's, though the ops were not marked (see kernelCancelled).
	f.marks.Or(markCancelled)
	starved := u.settleStarved(f)
	n := int(f.state.Load()&fdRefMask) - 1 // requests in flight, without this reference
	if n <= 0 {
		f.Release()
		return starved
	}
	u.cancelFd(f)
	return n + starved
}

// cancelFd queues a cancel of every request on f and flushes it. The cancel keeps the
// caller's reference on f until its own completion, so the descriptor cannot be closed
// and its number reused (and a stranger's requests cancelled) before the kernel has
// acted on it.
func (u *uringBackend) cancelFd(f *FD) {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		f.Release() // shut down: nothing is in the kernel any more
		return
	}
	idx, s := u.alloc()
	s.fd = f
	gen := s.gen
	u.sqe().PrepCancelFd(f.Sysfd, makeUD(tagCancel, gen, uint32(idx)))
	u.ring.Publish()
	pos := u.ring.SQTail() // the cancel is the entry before pos
	u.mu.Unlock()
	u.Flush()
	if !u.submitted(pos) {
		return // its completion drops the reference
	}
	// The kernel acts on a cancel when it submits it, so the number needs no more
	// protecting: drop the reference now rather than at the cancel's completion,
	// which may be reaped after the completions of the ops it cancelled (their order
	// is unspecified) — the stream must be reusable once Close has returned and the
	// last handler has run.
	u.mu.Lock()
	if s := u.live(idx, gen); s != nil && s.fd == f {
		s.fd = nil
		u.mu.Unlock()
		f.Release()
		return
	}
	u.mu.Unlock()
}

// submitted reports whether the kernel has taken the entries before pos; on the
// thread-bound variant it waits (a second at most) for the owner's pass that does.
func (u *uringBackend) submitted(pos uint32) bool {
	if u.lk == nil {
		return int32(u.ring.SQHead()-pos) >= 0
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); runtime.Gosched() {
		if int32(u.lk.reaped.Load()-pos) >= 0 {
			return true
		}
	}
	return false
}

func (u *uringBackend) CancelOp(op *Op) bool {
	u.mu.Lock()
	ud := op.ud
	if st := u.accepts[op.FD]; st != nil && st.waiter == op {
		st.waiter, st.aborted = nil, false
		u.waiting--
		u.mu.Unlock()
		finish(op, 0, ErrAborted)
		u.sink.Complete(op)
		return true
	}
	if op.state == stateTransit {
		// A bulk read made ready: Perform aborts it instead of reading.
		op.abort.Store(abortCancel)
		u.mu.Unlock()
		return true
	}
	if op.Lend && u.cancelLent(op) {
		u.mu.Unlock()
		finish(op, 0, ErrAborted)
		u.sink.Complete(op)
		return true
	}
	if u.ownAfter[op.FD] == op {
		op.abort.Store(abortCancel) // finished when the recv it waits for ends
		u.mu.Unlock()
		return true
	}
	if ud == 0 || u.closed {
		for i, w := range u.starved {
			if w == op {
				u.starved = append(u.starved[:i], u.starved[i+1:]...)
				u.mu.Unlock()
				finish(op, 0, ErrAborted)
				u.sink.Complete(op)
				return true
			}
		}
		u.mu.Unlock()
		return false // not in the kernel: completed, or never submitted
	}
	op.abort.Store(abortCancel)
	// The target is named by its generation-tagged user data: a request that has
	// completed meanwhile, and whose slot was reused, is not hit (ENOENT).
	u.sqe().PrepCancel(ud, 0, makeUD(tagCancel, 0, 0))
	u.ring.Publish()
	u.mu.Unlock()
	u.Flush()
	return true
}

func (u *uringBackend) Close(f *FD) error {
	if err := f.markClosing(); err != nil {
		return err
	}
	u.settleStarved(f)
	if f.state.Load()&fdRefMask > 1 {
		u.cancelFd(f) // takes over the closer's reference
		return nil
	}
	f.Release() // nothing in flight: close now
	return nil
}

func (u *uringBackend) Wake() {
	if !u.hold() {
		return
	}
	defer u.users.Add(-1)
	if u.lk != nil {
		select {
		case u.lk.outCh <- struct{}{}:
		default:
		}
		return
	}
	if u.wakePending.CompareAndSwap(false, true) {
		// The read request is armed (or is re-armed with the next enter, and then
		// completes at once): the write makes the waiter's enter return.
		_, _ = unix.Write(u.efd, uringWakeOne[:])
	}
}

func (u *uringBackend) Wait(timeout time.Duration, ready []*Op) ([]*Op, error) {
	if u.lk != nil {
		return u.lockedWait(timeout, ready)
	}
	r := u.ring
	u.tickFired, u.tickCQEs = false, 0
	var err error
	slept := r.CQReady() == 0 && timeout != 0
	if slept && u.sleepRaw() {
		u.enters.Add(1)
		_, err = r.EnterRaw(r.SQPending(), 1, uring.EnterGetEvents, timeout)
	} else if pending := r.SQPending(); slept {
		_, err = u.enter(pending, 1, uring.EnterGetEvents, timeout)
	} else if sq := r.SQFlags(); pending > 0 || sq&(uring.SQCQOverflow|uring.SQTaskrun) != 0 {
		flags := uint32(0)
		if sq&(uring.SQCQOverflow|uring.SQTaskrun) != 0 {
			// Moves overflowed completions into the CQ; runs task work
			// (COOP_TASKRUN leaves it for the submitter's next entry).
			flags = uring.EnterGetEvents
		}
		_, err = u.enter(pending, 0, flags, -1)
	}
	if !transient(err) {
		return ready, os.NewSyscallError("io_uring_enter", err)
	}
	total := 0
	for total < uringReapMax {
		n := r.Peek(u.cqes)
		if n == 0 {
			if r.SQFlags()&uring.SQCQOverflow == 0 {
				break
			}
			u.overflows.Add(1)
			if _, err := u.enter(0, 0, uring.EnterGetEvents, -1); !transient(err) {
				return ready, os.NewSyscallError("io_uring_enter", err)
			}
			if n = r.Peek(u.cqes); n == 0 {
				break
			}
		}
		total += n
		ready = u.complete(u.cqes[:n], ready)
	}
	if slept {
		u.cool(total - u.tickCQEs)
	}
	return ready, nil
}

// complete turns reaped completions into finished ops appended to ready.
func (u *uringBackend) complete(cqes []uring.CQE, ready []*Op) []*Op {
	done := u.done[:0]
	u.mu.Lock()
	for i := range cqes {
		c := &cqes[i]
		tag, gen, idx := uint8(c.UserData>>56), uint32(c.UserData>>32)&genMask, int32(uint32(c.UserData))
		switch tag {
		case tagWake:
			if u.lk != nil {
				continue // a kick: it has done its job by waking the owner
			}
			u.wakeArmed = false
			u.wakePending.Store(false)
			if !u.closed {
				u.armWake()
			}
		case tagTick:
			u.tick(c, gen, idx)
		case tagAccept:
			if s := u.live(idx, gen); s != nil {
				done = u.accepted(c, idx, s, done)
			}
		case tagRecv:
			if s := u.live(idx, gen); s != nil {
				done = u.received(c, idx, s, done)
			}
		case tagCancel:
			if c.UserData == makeUD(tagCancel, 0, 0) {
				continue // a cancel of one op: nothing to settle
			}
			s := u.live(idx, gen)
			if s == nil {
				continue
			}
			if s.fd != nil { // nil: cancelFd dropped the reference already
				done = append(done, completion{fd: s.fd})
			}
			u.release(idx, s)
		case tagOp:
			s := u.live(idx, gen)
			if s == nil || s.op == nil {
				continue // stale: cannot happen while slots are freed only here
			}
			op := s.op
			if op.state == stateParked {
				// A bulk read's poll (uring_bulk_linux.go).
				op.ud = 0
				u.release(idx, s)
				done = u.polled(op, c.Res, done)
				continue
			}
			if op.Lend && c.Flags&uring.CQEFBuffer != 0 {
				bid := uint16(c.Flags >> uring.CQEBufferShift)
				if c.Res > 0 {
					op.Buf, op.BufID = u.lend.take(bid, c.Res, c.Flags), int32(bid)
					u.roomSeen()
					if c.Res < lentMultiMax && uringMultishotRecv.Load() {
						recvOf(op.FD).single = false // small messages: multishot again
					}
					u.becomeBulk(op.FD, c.Res)
				} else {
					u.lend.untaken(bid) // an error or the end of stream: nothing to lend
				}
			}
			if op.Lend && c.Res == -int32(unix.ENOBUFS) && op.abort.Load() == abortNone && !op.FD.Closing() {
				// Every buffer is lent: the data waits in the socket until a
				// handler gives one back (ReleaseBuffer restarts the read), or the
				// ring takes more of the spare buffers (restartFreed, below).
				op.ud = 0
				u.release(idx, s)
				u.lend.grow()
				u.starveNoBuffer(op)
				continue
			}
			n, err, again := u.result(op, s, c.Res)
			if again {
				// Retry in place with the same slot and user data.
				perr := u.prep(op, s, c.UserData)
				if perr == nil {
					u.ring.Publish()
					continue
				}
				err = perr
			}
			op.ud = 0
			u.release(idx, s)
			if op.Kind == OpWrite && op.BufID > 0 && err == nil && n == len(op.Buf) {
				u.giveWritten(op)
			}
			done = append(done, completion{op: op, n: n, err: err})
		}
	}
	if u.lend != nil {
		u.lend.endReap()
	}
	for i, op := range u.closingReads {
		op.Buf = nil
		done = append(done, completion{op: op, err: ErrAbortedClosed})
		u.closingReads[i] = nil
	}
	u.closingReads = u.closingReads[:0]
	u.restartFreed() // submitted by the waiter's next enter
	u.crowd()
	u.mu.Unlock()
	for i := range done {
		d := &done[i]
		if d.op == nil {
			d.fd.Release()
			continue
		}
		if d.perform {
			// Not finished: the op keeps its reference on the descriptor until
			// Perform has made the read.
			ready = append(ready, d.op)
			done[i] = completion{}
			continue
		}
		finish(d.op, d.n, d.err)
		ready = append(ready, d.op)
		done[i] = completion{}
	}
	u.done = done[:0]
	return ready
}

// result interprets a request's result; again asks for the same request to be made
// again (a transient error that the reactive backend would retry as well). mu is held.
func (u *uringBackend) result(op *Op, s *uslot, res int32) (n int, err error, again bool) {
	if res >= 0 {
		if op.Kind == OpRecvFrom {
			op.Ext.Addr = fromRaw(&s.aux.rsa, s.aux.msg.Namelen)
		}
		return int(res), nil, false
	}
	errno := unix.Errno(-res)
	if a := op.abort.Load(); errno == unix.ECANCELED || (errno == unix.EINTR && a != abortNone) {
		switch {
		case a != abortNone:
			return 0, abortErr(a), false
		case op.FD.Closing():
			return 0, ErrAbortedClosed, false
		case errno == unix.ECANCELED && u.kernelCancelled(op) && op.Kind != OpConnect:
			// Not a cancel of ours: made again, as for EINTR (a connect would find its
			// socket still connecting, and is left to fail).
			return 0, nil, true
		}
		return 0, ErrAborted, false
	}
	switch {
	case errno == unix.EINTR, errno == unix.EAGAIN:
		return 0, nil, true
	case op.Kind == OpAccept && errno == unix.ECONNABORTED:
		return 0, nil, true // the peer gave up while queued: take the next one
	case op.Kind == OpConnect && errno == unix.EISCONN:
		return 0, nil, false
	}
	return 0, errno, false
}

// kernelCancelled reports whether op's request, ended with ECANCELED, was ended by the
// kernel rather than by a cancel of ours: op is not marked (CancelOp, bulk reads'
// Cancel), its descriptor is not closing (Close) and was never given to Cancel, whose
// cancel by descriptor marks no op (markCancelled; after one such Cancel the
// descriptor's ECANCELED always ends its op), and the backend is not shut down. The
// kernel does end requests itself: under a storm of signals at a TCP urgent mark an
// own-buffer read ended with ErrAborted that nobody asked for
// (TestUrgentMarkReadWithSignalPending). Likely path, read in the kernel's source but
// not traced: the recv fails again after its poll and goes to an io-wq worker, whose
// creation, made by the signalled thread, fails with the signal pending, and the
// queued work is cancelled. A thread's exit ends the requests it submitted the same
// way. mu is held.
func (u *uringBackend) kernelCancelled(op *Op) bool {
	return !u.closed && op.abort.Load() == abortNone && !op.FD.Closing() &&
		op.FD.marks.Load()&markCancelled == 0
}

// Shutdown cancels the wake-up read, reaps every completion still due (bounded in
// time), then closes the ring. If the kernel still holds requests after that, their
// memory is kept reachable for good rather than freed under the kernel.
func (u *uringBackend) Shutdown() error {
	if u.lk != nil {
		return u.lockedShutdown()
	}
	u.mu.Lock()
	u.closed = true
	if u.wakeArmed {
		u.sqe().PrepCancel(makeUD(tagWake, 0, 0), 0, makeUD(tagCancel, 0, 0))
		u.ring.Publish()
	}
	if u.tickArmed {
		u.disarmTick()
	}
	u.mu.Unlock()
	deadline := time.Now().Add(time.Second)
	var ready []*Op
	for {
		u.mu.Lock()
		idle := !u.wakeArmed && u.used == 0 && u.ticks == 0
		u.mu.Unlock()
		if idle || time.Now().After(deadline) {
			break
		}
		// Every FD is closed before Shutdown and every handler has run: what
		// completes here is internal (cancels, the wake-up read).
		var err error
		if ready, err = u.Wait(10*time.Millisecond, ready[:0]); err != nil {
			break
		}
	}
	u.mu.Lock()
	leaked := u.wakeArmed || u.used > 0 || u.ticks > 0
	u.mu.Unlock()
	if leaked {
		keepForever(u)
	}
	u.gone.Store(true)
	for u.users.Load() != 0 {
		runtime.Gosched() // a Flush or Wake in progress: one syscall at most
	}
	var berr error
	switch {
	case u.lend == nil:
	case leaked || u.lend.lent > 0:
		// The kernel or a handler still holds a lent buffer: its memory stays
		// mapped (and the backend reachable) for good rather than vanish under it.
		if !leaked {
			keepForever(u)
		}
	default:
		berr = u.lend.bufs.Close()
	}
	err := errors.Join(berr, u.ring.Close(), unix.Close(u.efd))
	if leaked {
		return errors.Join(err, errors.New("proactor: io_uring requests still in the kernel at shutdown; their memory is kept"))
	}
	return err
}

// abortedErr is the result of an op aborted with nothing more specific known:
// ErrAbortedClosed once f is closing, else ErrAborted.
func abortedErr(f *FD) error {
	if f != nil && f.Closing() {
		return ErrAbortedClosed
	}
	return ErrAborted
}

// transient reports whether an io_uring_enter error only means "not now": EINTR (a
// signal, and Go preempts threads with them, cut a wait short; the caller waits again),
// EAGAIN/EBUSY (the kernel is short of memory or still flushing an overflowed CQ: reap
// first, then submit).
func transient(err error) bool {
	return err == nil || err == unix.EINTR || err == unix.EAGAIN || err == unix.EBUSY
}

// keepForever makes u reachable for good: requests or lent buffers outlived its
// Shutdown, and their memory must never be reused under the kernel or a handler.
func keepForever(u *uringBackend) {
	uringGraveyard.Lock()
	uringGraveyard.kept = append(uringGraveyard.kept, u)
	uringGraveyard.Unlock()
}

// uringWakeOne is the eventfd increment Wake writes: package-level, because a local
// array would escape to the heap through the syscall's slice and cost an allocation per
// wake-up.
var uringWakeOne = [8]byte{1}

// uringGraveyard keeps backends whose requests outlived Shutdown reachable, so memory
// the kernel may still write is never reused.
var uringGraveyard struct {
	sync.Mutex
	kept []*uringBackend
}

// openUring opens the io_uring backend (the thread-bound variant if locked) and
// describes it.
func openUring(sink Sink, locked bool) (Backend, string, error) {
	newFn := newUring
	if locked {
		newFn = newUringLocked
	}
	u, err := newFn(sink)
	if err != nil {
		return nil, "", err
	}
	return u, u.desc, nil
}
