package proactor

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/coionet/coio/internal/sys"
	"github.com/coionet/coio/reactor"
	"golang.org/x/sys/unix"
)

// waitEvents is how many readiness events one Wait collects. Larger batches amortise the
// epoll_wait syscall under load; 128 events cost 1.5 KiB of buffer.
const waitEvents = 128

// reactive emulates completions over a readiness reactor.
type reactive struct {
	p      *reactor.Poller
	sink   Sink
	kind   Kind
	seq    atomic.Uint32
	table  fdTable
	events []reactor.Event // Wait's buffer, owned by the single waiting goroutine
	lend   lendPool
	// destroyFD is destroy as a func value, made once for every FD to point at.
	destroyFD func(f *FD)
}

func newReactive(sink Sink) (*reactive, error) {
	p, err := reactor.New()
	if err != nil {
		return nil, err
	}
	r := &reactive{p: p, sink: sink, kind: defaultReactive(), events: make([]reactor.Event, waitEvents)}
	r.destroyFD = r.destroy
	return r, nil
}

func (r *reactive) Name() string { return r.kind.String() }

func token(f *FD) uint64 { return uint64(uint32(f.Sysfd)) | uint64(f.seq.Load())<<32 }

func (r *reactive) Register(f *FD, sysfd int) error {
	if sysfd < 0 || sysfd >= maxFD {
		return fmt.Errorf("proactor: descriptor %d out of range", sysfd)
	}
	s := r.seq.Add(1)
	if s == 0 { // 0 marks an FD registered elsewhere (uringBackend.Register)
		s = r.seq.Add(1)
	}
	noSkip := !r.skips(sysfd)
	// Under f.mu: a Wait may still hold an event of f's last registration, and it
	// checks the sequence number and takes the parked ops under the mutex
	// (TestReactiveReRegisterBesideWait). io_uring leaves the mutex's word alone.
	f.mu.Lock()
	f.Sysfd = sysfd
	f.destroy = r.destroyFD
	f.seq.Store(s)
	f.state.Store(0)
	// The lists are empty after a close here; after one on an io_uring Context these
	// words held its multishot read state (uringRecv overlays reactiveFD).
	f.rq, f.wq = opList{}, opList{}
	f.rev.Store(0)
	f.wev.Store(0)
	f.rdry.Store(0)
	f.wdry.Store(0)
	f.marks.Store(0)
	if noSkip {
		f.marks.Store(markNoSkip)
	}
	f.mu.Unlock()
	r.table.store(sysfd, f)
	if err := r.p.Add(sysfd, token(f), reactor.Readable|reactor.Writable); err != nil {
		r.table.clear(sysfd, f)
		// Closed and destroyed, as after a Close: the caller closes sysfd, so the
		// FD must neither look open (a reused connection would refuse to open
		// again) nor let a later Close close the number, which may by then be
		// someone else's.
		f.state.Store(fdClosing | fdDestroyed)
		return err
	}
	return nil
}

// destroy runs once, when the last reference of a closing FD is dropped.
func (r *reactive) destroy(f *FD) {
	r.table.clear(f.Sysfd, f)
	// Closing the descriptor removes it from the epoll set unless the open file is
	// shared (dup, fork); remove it explicitly so a shared file raises no stale events.
	_ = r.p.Remove(f.Sysfd)
	unix.Close(f.Sysfd)
}

func (r *reactive) Submit(op *Op) {
	if op.Kind == OpConnect && op.Ext != nil {
		op.Ext.started = false
	}
	if !op.FD.Acquire() {
		op.N, op.Err = 0, errClosed
		r.sink.Complete(op)
		return
	}
	if r.attempt(op) {
		r.sink.Complete(op)
	}
}

func (r *reactive) SetLendBuffers(size, count int) error { return r.lend.configure(size, count) }

func (r *reactive) ReleaseBuffer(id int32) { r.lend.put(id) }

func (r *reactive) TryNow(op *Op) bool {
	if (op.Kind != OpRead && op.Kind != OpWrite && op.Kind != OpAccept) || op.vec() != nil {
		return false
	}
	f := op.FD
	if !f.Acquire() {
		op.N, op.Err = 0, errClosed
		return true
	}
	edges, dry := &f.rev, &f.rdry
	if op.Kind == OpWrite {
		edges, dry = &f.wev, &f.wdry
	}
	seen := edges.Load()
	if dry.Load() == seen+1 && f.marks.Load()&markNoSkip == 0 {
		f.Release()
		return false // known empty (full) since the last transfer: would block
	}
	n, short, err := r.syscall(op)
	f.Release()
	if err == unix.EAGAIN {
		return false
	}
	if short {
		dry.Store(seen + 1)
	}
	op.N, op.Err = n, err
	return true
}

func (r *reactive) Perform(op *Op) bool {
	op.NeedsPerform = false
	return r.attempt(op)
}

// attempt runs op's syscall until it completes (true) or would block, in which case the
// op is parked on its FD (false). The op holds a reference on its FD throughout.
func (r *reactive) attempt(op *Op) bool {
	f := op.FD
	edges, dry := &f.rev, &f.rdry
	if op.Kind == OpWrite || op.Kind == OpConnect || op.Kind == OpSendTo {
		edges, dry = &f.wev, &f.wdry
	}
	falseAgains := 0
	for {
		if a := op.abort.Load(); a != abortNone {
			r.unlist(op)
			finish(op, 0, abortErr(a))
			return true
		}
		seen := edges.Load()
		var n int
		var short bool
		var err error
		if dry.Load() == seen+1 && f.marks.Load()&markNoSkip == 0 && (op.Kind == OpRead || op.Kind == OpWrite) {
			// The last transfer found the socket empty (full) and no edge has come
			// since: the syscall would only say EAGAIN. Skipping it saves a syscall
			// per message on a request/response connection.
			err = unix.EAGAIN
		} else {
			n, short, err = r.syscall(op)
			if err == unix.EAGAIN && op.Kind == OpRead && falseAgains < maxFalseAgains && falseAgain(f) {
				falseAgains++
				if reactiveHookFalseAgain != nil {
					reactiveHookFalseAgain()
				}
				continue
			}
		}
		if err != unix.EAGAIN {
			if short {
				dry.Store(seen + 1)
			}
			r.unlist(op)
			finish(op, n, err)
			return true
		}
		if reactiveHookPark != nil {
			reactiveHookPark(op)
		}
		f.mu.Lock()
		if op.abort.Load() != abortNone || edges.Load() != seen {
			// Aborted, or readiness arrived while the syscall ran: with edge
			// triggering that edge would be lost if the op parked now.
			f.mu.Unlock()
			continue
		}
		if f.Closing() {
			// Close's abortAll ran before the op was listed, and missed it: parked,
			// it would hold the descriptor open until readiness that may never
			// come (found by review). markClosing sets the bit before abortAll
			// takes f.mu, so under f.mu one of the two sees the other.
			f.mu.Unlock()
			r.unlist(op)
			finish(op, 0, ErrAbortedClosed)
			return true
		}
		if op.state == stateIdle {
			if edges == &f.rev {
				f.rq.push(op)
			} else {
				f.wq.push(op)
			}
		}
		op.state = stateParked
		f.mu.Unlock()
		return false
	}
}

// maxFalseAgains bounds the retries of one read whose EAGAIN may be false. A retry
// finds the signal delivered unless another came in the microseconds since (one retry
// at the runtime's rates; at most six with another thread signalling without pause in
// TestUrgentMarkReadWithSignalPending). The bound is for a read at the mark whose EAGAIN
// is true: the urgent pointer came before the urgent byte, so nothing is readable until
// the byte comes, with an edge; such a read pays the bound's reads and ioctls once, then
// parks. Only 64 signals in a row, each landing inside one read, could park a read with
// data behind the mark.
const maxFalseAgains = 64

// falseAgain reports whether a read of f that failed with EAGAIN may have left data
// behind. Linux fails a non-blocking TCP read that starts at the urgent mark with
// EAGAIN when the thread has a signal pending, whatever waits behind the mark; the Go
// runtime preempts goroutines with SIGURG, so under load this happens. The data came
// with its edge already, so a read parked now would wait for one that never comes
// (found by CI: TestShortReadThatLeavesDataDoesNotPark hung). Only after urgent data
// was reported, so other reads pay nothing: one ioctl asks whether the read stood at
// the mark.
func falseAgain(f *FD) bool {
	if f.marks.Load()&markUrgent == 0 {
		return false
	}
	at, err := unix.IoctlGetInt(f.Sysfd, unix.SIOCATMARK)
	return err == nil && at != 0
}

// reactiveHookFalseAgain, when set by a test, runs for each read retried at the urgent
// mark after an EAGAIN (falseAgain).
var reactiveHookFalseAgain func()

// reactiveHookPark, when set by a test, runs in attempt between a syscall's EAGAIN and
// the op's parking.
var reactiveHookPark func(op *Op)

// unlist takes a finished op off its FD's list.
func (r *reactive) unlist(op *Op) {
	if op.state == stateIdle {
		return // completed on the first try: never listed
	}
	f := op.FD
	f.mu.Lock()
	if op.Kind == OpWrite || op.Kind == OpConnect || op.Kind == OpSendTo {
		f.wq.remove(op)
	} else {
		f.rq.remove(op)
	}
	op.state = stateIdle
	f.mu.Unlock()
}

// syscall makes op's syscall once. EAGAIN means "park"; EINTR is retried here. short
// reports a read or write that moved fewer bytes than it asked for, so the socket is
// empty (full) until its next edge.
func (r *reactive) syscall(op *Op) (n int, short bool, err error) {
	fd := op.FD.Sysfd
	op.Syscalls++
	for {
		asked := 0 // what a read or write asked for (0: an op whose shortness tells nothing)
		switch op.Kind {
		case OpRead:
			if op.Lend {
				// Borrow room in a buffer for this syscall only; keep what came. The
				// piece lent is what came, so the room is what the read asked for.
				id, off, room := r.lend.get()
				asked = len(room)
				n, err = sysRead(fd, room)
				got := n
				if err != nil {
					got = 0
				}
				op.Buf, op.BufID = r.lend.commit(id, off, got), id
				break
			}
			if len(op.Buf) == 0 {
				return 0, false, nil
			}
			asked = len(op.Buf)
			n, err = sysRead(fd, op.Buf)
		case OpWrite:
			if vec := op.vec(); vec != nil {
				n, err = writev(fd, vec)
				break
			}
			if len(op.Buf) == 0 {
				return 0, false, nil
			}
			asked = len(op.Buf)
			n, err = sockWrite(fd, op.Buf)
		case OpRecvFrom:
			var from unix.Sockaddr
			n, from, err = unix.Recvfrom(fd, op.Buf, 0)
			if err == nil {
				op.Ext.Addr = from
			}
		case OpSendTo:
			if op.Ext.Addr == nil {
				n, err = sockWrite(fd, op.Buf) // a connected datagram socket
			} else {
				err = unix.Sendto(fd, op.Buf, 0, op.Ext.Addr)
				if err == nil {
					n = len(op.Buf)
				}
			}
		case OpAccept:
			n, err = sys.Accept(fd)
			if err == unix.ECONNABORTED {
				continue // the peer gave up while queued: try the next connection
			}
		case OpConnect:
			if !op.Ext.started {
				op.Ext.started = true
				err = unix.Connect(fd, op.Ext.Addr)
				if err == unix.EINPROGRESS || err == unix.EALREADY || err == unix.EINTR {
					return 0, false, unix.EAGAIN
				}
				return 0, false, err
			}
			var soerr int
			soerr, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err == nil && soerr != 0 {
				err = unix.Errno(soerr)
			}
			if err == unix.EINPROGRESS || err == unix.EALREADY {
				return 0, false, unix.EAGAIN
			}
			if err == nil {
				// SO_ERROR is 0 both when the connect succeeded and, on some
				// systems, when it has not finished: ask for the peer to tell.
				if _, perr := unix.Getpeername(fd); perr == unix.ENOTCONN {
					return 0, false, unix.EAGAIN
				}
			}
			return 0, false, err
		default:
			return 0, false, fmt.Errorf("proactor: %v ops cannot be submitted", op.Kind)
		}
		if err == unix.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err == nil && n > 0 && n < asked, err
	}
}

func (r *reactive) Cancel(f *FD) int {
	return r.abortAll(f, abortCancel)
}

func (r *reactive) CancelOp(op *Op) bool {
	f := op.FD
	f.mu.Lock()
	if op.state == stateIdle {
		f.mu.Unlock()
		return false // not listed: completed, or never started
	}
	op.abort.Store(abortCancel)
	parked := op.state == stateParked
	if parked {
		if op.Kind == OpWrite || op.Kind == OpConnect || op.Kind == OpSendTo {
			f.wq.remove(op)
		} else {
			f.rq.remove(op)
		}
		op.state = stateIdle
	}
	f.mu.Unlock()
	if parked {
		finish(op, 0, ErrAborted)
		r.sink.Complete(op)
	}
	return true
}

func (r *reactive) Close(f *FD) error {
	if err := f.markClosing(); err != nil {
		return err
	}
	r.abortAll(f, abortClose)
	f.Release()
	return nil
}

// abortAll aborts every listed op of f: parked ones are finished here and handed to the
// sink; ones in transit are flagged and finish when their runner performs them.
func (r *reactive) abortAll(f *FD, reason uint32) int {
	var done opList
	count := 0
	f.mu.Lock()
	for _, l := range [2]*opList{&f.rq, &f.wq} {
		for op := l.head; op != nil; {
			next := op.next
			count++
			op.abort.Store(reason)
			if op.state == stateParked {
				l.remove(op)
				op.state = stateIdle
				done.push(op)
			}
			op = next
		}
	}
	f.mu.Unlock()
	for op := done.head; op != nil; {
		next := op.next
		op.next = nil
		finish(op, 0, abortErr(reason))
		r.sink.Complete(op)
		op = next
	}
	return count
}

func (r *reactive) Wait(timeout time.Duration, ready []*Op) ([]*Op, error) {
	n, err := r.p.Wait(r.events, timeout)
	for i := 0; i < n; i++ {
		ev := r.events[i]
		f := r.table.lookup(int(uint32(ev.Token)), uint32(ev.Token>>32))
		if f == nil {
			continue // stale: the descriptor was closed, perhaps its number reused
		}
		f.mu.Lock()
		if f.seq.Load() != uint32(ev.Token>>32) {
			// Closed and registered again since the lookup (perhaps on an io_uring
			// Context, whose state shares these words): not this event's.
			f.mu.Unlock()
			continue
		}
		if ev.Events&reactor.Urgent != 0 {
			f.marks.Or(markNoSkip | markUrgent)
		} else if ev.Events&reactor.Hangup != 0 {
			f.marks.Or(markNoSkip)
		}
		if ev.Events&reactor.Readable != 0 {
			f.rev.Add(1)
			ready = takeParked(&f.rq, ready)
		}
		if ev.Events&reactor.Writable != 0 {
			f.wev.Add(1)
			ready = takeParked(&f.wq, ready)
		}
		f.mu.Unlock()
	}
	return ready, err
}

// takeParked moves the parked ops of l to transit (they stay listed, so Cancel still
// finds them) and appends them to ready.
func takeParked(l *opList, ready []*Op) []*Op {
	for op := l.head; op != nil; op = op.next {
		if op.state == stateParked {
			op.state = stateTransit
			op.NeedsPerform = true
			ready = append(ready, op)
		}
	}
	return ready
}

func (r *reactive) Wake() { _ = r.p.Wake() }

// Flush has nothing to do: the reactive backend makes its syscalls as it goes.
func (r *reactive) Flush() {}

func (r *reactive) Shutdown() error { return r.p.Close() }

// fdTable maps descriptor numbers to FDs without a lock on the lookup path: chunks are
// allocated on first use and never freed.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	maxFD     = 1 << 22 // 4M descriptors; RLIMIT_NOFILE is far below this in practice
)

type fdChunk [chunkSize]atomic.Pointer[FD]

type fdTable struct {
	chunks [maxFD / chunkSize]atomic.Pointer[fdChunk]
}

func (t *fdTable) store(fd int, f *FD) {
	c := t.chunks[fd>>chunkBits].Load()
	if c == nil {
		c = new(fdChunk)
		if !t.chunks[fd>>chunkBits].CompareAndSwap(nil, c) {
			c = t.chunks[fd>>chunkBits].Load()
		}
	}
	c[fd&(chunkSize-1)].Store(f)
}

func (t *fdTable) clear(fd int, f *FD) {
	if c := t.chunks[fd>>chunkBits].Load(); c != nil {
		c[fd&(chunkSize-1)].CompareAndSwap(f, nil)
	}
}

func (t *fdTable) lookup(fd int, seq uint32) *FD {
	if fd < 0 || fd >= maxFD {
		return nil
	}
	c := t.chunks[fd>>chunkBits].Load()
	if c == nil {
		return nil
	}
	f := c[fd&(chunkSize-1)].Load()
	if f == nil || f.seq.Load() != seq {
		return nil
	}
	return f
}
