package proactor

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/coionet/coio/internal/uring"
)

// Bulk transfers on io_uring. A request copies its data when the kernel runs it: a
// recv request at the enter that submits it (or when data arrives), a send at the
// enter after its handler. Between a connection's receive and the send that forwards
// it lie the receives and sends of every other connection served in the same round,
// and when each moves tens of kilobytes the round outgrows the cache: at 4 KiB × 100
// connections × depth 16 (64 KiB a receive) the send's copy out of the lent buffer cost
// twice gnet's, whose read and write of a connection follow each other.
//
// A descriptor whose lent reads return lentBulkMin or more (uringRecv.bulk) therefore
// reads the way the reactive backends do: its read waits for readiness (a poll
// request, stateParked), goes to the runner unfinished (NeedsPerform, stateTransit),
// and Perform copies the data with read(2) into the buffer freed last (the top of the
// lend ring's spare stack) just before the handler runs; the write the handler starts
// is made at once with sendmsg(2) (sendNow), and goes to the ring only if the socket
// is full. A read that returns less than lentSingleMin ends the mode. Measured
// (ARCHITECTURE.md, "Bulk transfers copy when due"), µs of server CPU per message,
// interleaved: 4 KiB × 100 × 16 0.86–0.91 against 1.16–1.17 before (gnet 0.89–0.90);
// × 1,000 × 16 0.98–1.07 against 1.32–1.40 (nbio 1.22–1.26).
//
// The mode needs buffers spare outside the ring, which only an incremental ring keeps
// (a plain one holds them all), and not all of them handed to the ring (lendBook.want)
// or lent: a descriptor becomes a bulk one only while some are spare, and stops being
// one when Perform finds none.

// lentBulkMin is the lent read that makes a descriptor a bulk one: four 4 KiB messages.
const lentBulkMin = 16 << 10

// uringBulk says whether descriptors may become bulk ones; cleared by tests of the
// request path.
var uringBulk atomic.Bool

func init() { uringBulk.Store(true) }

// becomeBulk makes f a bulk descriptor after a lent read of n bytes, if buffers are
// spare for Perform to read into; if none are, the ring starts leaving some spare
// (lendBulkReserve) for the next large read. mu is held.
func (u *uringBackend) becomeBulk(f *FD, n int32) {
	if n < lentBulkMin || !uringBulk.Load() {
		return
	}
	u.lend.bulkUse()
	if len(u.lend.spare) > 0 {
		recvOf(f).bulk = true
	}
}

// pollRead submits bulk read op in entry e as a wait for readiness; mu is held. The
// poll is a request like any other (op.ud, cancelled by CancelOp, Cancel and Close);
// its slot is kept in the descriptor's words that an armed multishot recv would use
// (never both: a bulk read is a single read), for Cancel to find it (abortReadied).
func (u *uringBackend) pollRead(op *Op, e *uring.SQE) {
	idx, s, ud := u.track(op)
	rs := recvOf(op.FD)
	rs.idx, rs.gen = idx, s.gen
	op.state = stateParked
	e.PrepPollAdd(op.FD.Sysfd, unix.POLLIN|unix.POLLRDHUP, false, ud)
	op.ud = ud
	u.ring.Publish()
}

// polled handles the completion (res) of bulk read op's poll, whose slot is released;
// mu is held. A readable descriptor sends op to the runner unfinished, listed in
// readied until Perform; anything else finishes it.
func (u *uringBackend) polled(op *Op, res int32, done []completion) []completion {
	op.state = stateIdle
	f := op.FD
	switch a := op.abort.Load(); {
	case f.Closing(): // first: Close marks the op cancelled too (abortReadied)
		return append(done, completion{op: op, err: ErrAbortedClosed})
	case a != abortNone:
		return append(done, completion{op: op, err: abortErr(a)})
	case res == -int32(unix.ECANCELED) && u.kernelCancelled(op):
		u.recvOnce(op) // the poll (or a request) again: nobody cancelled the read
		return done
	case res == -int32(unix.ECANCELED):
		return append(done, completion{op: op, err: ErrAborted})
	case res < 0:
		return append(done, completion{op: op, err: unix.Errno(-res)})
	}
	// POLLERR and POLLHUP count as readable: the read reports them.
	op.state = stateTransit
	op.BufID = int32(len(u.readied)) // its place in readied until Perform
	u.readied = append(u.readied, op)
	op.NeedsPerform = true
	return append(done, completion{op: op, perform: true})
}

// unready takes op out of readied; mu is held.
func (u *uringBackend) unready(op *Op) {
	i, last := op.BufID, len(u.readied)-1
	if m := u.readied[last]; m != op {
		u.readied[i], m.BufID = m, i
	}
	u.readied[last] = nil
	u.readied = u.readied[:last]
	op.state, op.BufID = stateIdle, 0
}

// abortReadied marks f's bulk read as cancelled, whether it waits for Perform or its
// poll is in the kernel: Perform, or the poll's completion, finishes it with ErrAborted
// (ErrAbortedClosed once f is closing) instead of reading. The poll's cancel alone
// would not do: a poll that has completed but is not reaped yet is no longer the
// kernel's to cancel (found by review). mu is held.
func (u *uringBackend) abortReadied(f *FD) {
	for _, op := range u.readied {
		if op.FD == f {
			op.abort.Store(abortCancel)
		}
	}
	rs := recvOf(f)
	if rs.armed {
		return // rs.idx is the multishot recv's
	}
	if s := u.live(rs.idx, rs.gen); s != nil && s.op != nil && s.op.FD == f && s.op.state == stateParked {
		s.op.abort.Store(abortCancel)
	}
}

// Perform makes a bulk read that Wait returned ready: it copies what the socket holds
// into a spare lent buffer, just before the handler. If the socket turns out empty the
// read waits for readiness again (false).
func (u *uringBackend) Perform(op *Op) bool {
	if !op.NeedsPerform {
		return true
	}
	op.NeedsPerform = false
	f := op.FD
	u.mu.Lock()
	u.unready(op)
	if u.closed || f.Closing() || op.abort.Load() != abortNone {
		u.mu.Unlock()
		op.Buf = nil
		finish(op, 0, abortedErr(f))
		return true
	}
	k := u.lend
	if len(k.spare) == 0 {
		// Every buffer is in the ring or lent: a recv request takes one from the
		// ring (or waits for one, as any lent read does), and the descriptor reads
		// with requests until a large read finds buffers spare again.
		recvOf(f).bulk = false
		e := u.sqeFor(f)
		if e == nil {
			u.mu.Unlock()
			op.Buf = nil
			finish(op, 0, ErrAbortedClosed)
			return true
		}
		u.recvRequest(op, e)
		u.mu.Unlock()
		return false
	}
	k.bulkUse()
	bid := k.lendSpare()
	u.mu.Unlock()

	n, err := recvNow(f.Sysfd, k.bufs.Buf(bid), op)
	if n >= lentSingleMin {
		// The usual case: the buffer is lent already and the mode stays, so
		// nothing needs the lock again.
		op.Buf, op.BufID = k.bufs.Buf(bid)[:n:n], int32(bid)
		finish(op, n, nil)
		return true
	}

	u.mu.Lock()
	if n <= 0 {
		k.unlendSpare(bid, true)
		if err == unix.EAGAIN {
			// Readiness without data (another reader of the same socket, or a
			// wake-up the kernel could not take back): wait again.
			if !u.closed && !f.Closing() {
				// sqeFor: a Close while a full SQ made it wait has queued its
				// cancel ahead of the poll, which would miss it.
				if e := u.sqeFor(f); e != nil {
					u.pollRead(op, e)
					u.mu.Unlock()
					return false
				}
			}
			err = abortedErr(f)
		}
		u.mu.Unlock()
		op.Buf = nil
		finish(op, 0, err)
		return true
	}
	recvOf(f).bulk = false // small messages again: requests copy cheaply
	u.mu.Unlock()
	op.Buf, op.BufID = k.bufs.Buf(bid)[:n:n], int32(bid)
	finish(op, n, nil)
	return true
}

// tryLent is TryNow for a lent read (iocontext's TryReadLent, the fast path of a
// coroutine's ReadLent): data a multishot recv has already received is taken from its
// queue; with no request reading the descriptor, the socket is read now with read(2)
// into a spare buffer, as Perform does for a bulk read. With a recv armed and nothing
// queued, or no buffer spare, it reports false and the read goes to the ring: a direct
// read then could take bytes ahead of ones the kernel is posting. The caller holds the
// stream's read, so no other read of it starts meanwhile.
func (u *uringBackend) tryLent(op *Op) bool {
	f := op.FD
	if !f.Acquire() {
		op.Buf, op.N, op.Err = nil, 0, errClosed
		return true
	}
	u.mu.Lock()
	if u.closed || f.Closing() {
		u.mu.Unlock()
		op.Buf = nil
		finish(op, 0, errClosed)
		return true
	}
	rs := recvOf(f)
	if rs.q.len() > 0 || rs.end {
		d, _ := u.submitLent(op) // completes from the queue (or the end), never waits
		u.mu.Unlock()
		finish(op, d.n, d.err)
		return true
	}
	if u.lendRing() != nil { // the ring's error is the asynchronous read's to report
		u.mu.Unlock()
		f.Release()
		return false
	}
	k := u.lend
	if rs.armed || len(k.spare) == 0 || len(u.starved) > 0 {
		u.mu.Unlock()
		f.Release()
		return false
	}
	u.readers.count(rs)
	bid := k.lendSpare()
	u.mu.Unlock()

	n, err := recvNow(f.Sysfd, k.bufs.Buf(bid), op)
	if n > 0 {
		op.Buf, op.BufID = k.bufs.Buf(bid)[:n:n], int32(bid)
		finish(op, n, nil)
		return true
	}
	u.mu.Lock()
	k.unlendSpare(bid, !u.closed) // once closed nothing goes back (see ReleaseBuffer)
	// A read may have found no buffer while this one held it.
	resubmit := !u.closed && u.restartFreed()
	u.mu.Unlock()
	if resubmit {
		u.Flush()
	}
	op.Buf = nil
	if err == unix.EAGAIN {
		f.Release()
		return false
	}
	finish(op, 0, err) // the end of the stream (0, nil), or the socket's error
	return true
}

// recvNow reads from the non-blocking socket fd into b, retrying EINTR.
func recvNow(fd int, b []byte, op *Op) (int, error) {
	for {
		op.Syscalls++
		n, err := sysRead(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// sendNow makes bulk write op with send(2), as much as the socket takes; false when
// it takes nothing (EAGAIN) and the write must wait in the ring. A short write
// finishes op with what it wrote, like a short send request: the writer goes on with
// the rest. op holds a reference on its descriptor, and it is the only write in flight
// on it (a stream has one at a time), so nothing is reordered. MSG_NOSIGNAL, as the
// ring's sends: a peer gone is EPIPE, not a SIGPIPE that a program watching for it
// with signal.Notify would get (found by review).
func (u *uringBackend) sendNow(op *Op) bool {
	var n int
	var err error
	for {
		op.Syscalls++
		n, err = sysSend(op.FD.Sysfd, op.Buf, unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EAGAIN {
		return false
	}
	finish(op, max(n, 0), err)
	return true
}
