package proactor

import (
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/coionet/coio/internal/uring"
	"golang.org/x/sys/unix"
)

// Lent reads on io_uring use one multishot recv per descriptor: armed by the first
// read, it stays in the kernel and posts a completion, with a buffer of the provided
// ring, each time data arrives. A read that finds data already received takes it
// without a request; one that finds none waits for the next completion. Against a
// recv request per read this saves the request and, when the socket is empty, the
// poll the kernel arms and tears down for each (63% of the reads of a 64 B depth-16
// echo found it empty; ARCHITECTURE.md, "Multishot lent reads").
//
// The kernel fills buffers for a descriptor whose reader is busy elsewhere, so data
// received ahead of the reads is bounded: recvQueueMax buffers' worth of bytes (or
// recvQueuePieces pieces) per descriptor, and a quarter of the ring's bytes over all
// of them. Bytes, not pieces: on an incremental ring a piece is only what one
// completion received, and at 1,000 connections × 16 messages a bound of a quarter of
// the ring in pieces cancelled and re-armed requests all the time. At either bound the request is cancelled (its
// data stays queued) and the next read that finds the queue empty arms it again.
// Without the global bound, connections whose handlers do not read for a while could
// hold every buffer, and the reads that would let them go on could starve.

// recvQueueMax bounds the buffers one descriptor's multishot recv fills ahead of its
// reads.
const recvQueueMax = 4

// recvQueuePieces bounds the pieces queued on one descriptor, whatever their size.
const recvQueuePieces = 64

// A descriptor whose messages are large reads with a request per read instead
// (uringRecv.single): a completion of at least lentSingleMin bytes switches it, one
// of fewer than lentMultiMax switches it back. A multishot recv copies data into the
// ring when it arrives, and the write that echoes or forwards it reads it when the
// handler gets its turn; under load that is after every handler queued before it, and
// at 1,000 connections × 4 KiB the bytes copied in between (megabytes) have pushed it
// out of the cache: the copy out of the lent buffer in the send cost 4x Asio's, whose
// read copies when the handler asks. A request per read copies at its submission,
// a budget of handlers before the write. For small messages the copy is cheap and
// the request the multishot recv saves is not: they stay multishot. Measured
// (ARCHITECTURE.md, "Multishot lent reads"): 4 KiB x 100 x 16 1.18 against 2.2-3.2 µs
// per message, 4 KiB x 1,000 x 1 5.0 against 5.5; 64 B x 100 x 1 3.23 multishot
// against 3.40 with requests.
//
// It switches only when the data would wait long, though: when large pieces queue
// up behind one another (the peer sends ahead of the reads), when more than
// lentSingleReaders descriptors read (many connections' data between a copy and its
// use), or when one piece is a bulk transfer's (lentBulkMin: its reads then wait for
// readiness). One large message at a time on a few connections stays in the cache:
// 4 KiB × 100 × 1 cost 3.61-3.70 µs per message with the multishot recv against
// 3.79-3.86 with a request per read, and 4 KiB × 400 × 1 3.74-3.81 against 3.58-3.72
// (ARCHITECTURE.md, "Large messages one at a time").
const (
	lentSingleMin     = 2048
	lentMultiMax      = 512
	lentSingleReaders = 256
)

// uringMultishotRecv says whether lent reads use multishot recv; cleared when the
// kernel refuses it (before Linux 6.0), and by tests of the single-request path.
var uringMultishotRecv atomic.Bool

func init() { uringMultishotRecv.Store(true) }

// lentChunk is data received ahead of the reads: n bytes in buffer bid.
type lentChunk struct {
	b   []byte
	bid uint16
}

// uringRecv is a descriptor's multishot lent read, guarded by the backend's mu. Every
// connection that reads has one, so it lives in the FD's words that only the reactive
// backends use otherwise (recvOf), and the queue of data received ahead of the reads,
// which a connection waiting in its read never needs, is made on first use. Its layout
// follows reactiveFD's word for word: the mutex's word unused, the two list heads'
// words holding this backend's two pointers, then four 32-bit words.
type uringRecv struct {
	_       [8]byte    // reactiveFD.mu
	waiter  *Op        // the read waiting for data (over rq)
	q       *recvQueue // data received ahead of the reads; nil until there is some (over wq)
	idx     int32      // the request's slot while armed (over rev)
	gen     uint32     // (over wev)
	armed   bool       // the request is in the kernel (over rdry)
	capped  bool       // a cancel at the queue's bound is on its way
	aborted bool       // Cancel or Close came while waiter waited: it is aborted at the request's end
	end     bool       // after the queue, the end of stream (errno 0) or errno is next
	errno   uint8      // (over wdry; Linux's errnos are below 256)
	epoch   uint8      // the last epoch of uringBackend.readers it made a lent read in (0: none)
	single  bool       // large messages: reads make a request each (see lentSingleMin)
	bulk    bool       // bulk transfers: reads wait for readiness and copy when due (lentBulkMin)
}

// reset clears the state for a newly registered descriptor. It leaves the word of
// reactiveFD's mutex alone: a reactive Wait that looked the FD up before it was closed
// there may still lock and unlock it (it then finds the sequence number changed).
func (rs *uringRecv) reset() {
	rs.waiter, rs.q = nil, nil
	rs.idx, rs.gen, rs.errno = 0, 0, 0
	rs.armed, rs.capped, rs.aborted, rs.end, rs.single, rs.bulk = false, false, false, false, false, false
	rs.epoch = 0
}

// recvOf returns f's multishot read state.
func recvOf(f *FD) *uringRecv {
	// uringRecv has reactiveFD's size and its pointers at the same offsets
	// (TestUringRecvOverlaysFD), so the garbage collector finds pointers exactly where
	// this view stores them; an FD registered with io_uring is never used by a
	// reactive backend, and Register zeroes the words.
	return (*uringRecv)(unsafe.Pointer(&f.reactiveFD))
}

// recvQueue is the data a multishot recv received ahead of the reads, in order.
type recvQueue struct {
	items []lentChunk // from items[head]
	head  int
	bytes int
}

// len is how many pieces wait; 0 for a nil queue.
func (q *recvQueue) len() int {
	if q == nil {
		return 0
	}
	return len(q.items) - q.head
}

// pop takes the oldest piece; the queue is not empty.
func (q *recvQueue) pop() lentChunk {
	c := q.items[q.head]
	q.items[q.head].b = nil
	if q.head++; q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	q.bytes -= len(c.b)
	return c
}

// submitLent starts a lent read with the multishot recv: it takes data already
// received, or waits for the next completion; ok reports a result for op now, which
// holds no reference on its FD. A read that waits takes one. mu is held.
func (u *uringBackend) submitLent(op *Op) (d completion, ok bool) {
	f := op.FD
	rs := recvOf(f)
	u.readers.count(rs)
	if rs.q.len() > 0 {
		c := rs.q.pop()
		u.queued -= len(c.b)
		op.Buf, op.BufID = c.b, int32(c.bid)
		return completion{n: len(c.b)}, true
	}
	if rs.end {
		rs.end = false
		op.Buf = nil
		if rs.errno != 0 {
			d.err, rs.errno = unix.Errno(rs.errno), 0
		}
		return d, true
	}
	if err := u.lendRing(); err != nil {
		op.Buf = nil
		return completion{err: err}, true
	}
	if !f.Acquire() {
		// Close marked f after Submit looked: it has not taken mu yet to find
		// f's reads, so this one ends here.
		op.Buf = nil
		return completion{err: errClosed}, true
	}
	if !rs.armed && len(u.starved) > 0 {
		// Reads already wait for a buffer: queue behind them (see Submit).
		op.BufID = 0
		u.starved = append(u.starved, op)
		return completion{}, false
	}
	u.waitLent(rs, op)
	return completion{}, false
}

// waitLent makes op the read waiting on rs, arming the request if it is not in the
// kernel; mu is held.
func (u *uringBackend) waitLent(rs *uringRecv, op *Op) {
	if u.perRead(rs) && !rs.armed {
		u.recvOnce(op)
		return
	}
	rs.waiter = op
	u.waiting++
	if !rs.armed {
		u.armRecv(rs, op.FD)
	}
}

// armRecv queues f's multishot recv; mu is held. The request holds its own reference
// on f until its last completion. If f is closing the waiter stays, and the Close's
// settleRecv aborts it: rs is marked armed only once the entry is taken, so a Close
// that ran while sqeFor waited for room found it unarmed and aborted the waiter.
func (u *uringBackend) armRecv(rs *uringRecv, f *FD) {
	if !f.Acquire() {
		return
	}
	e := u.sqeFor(f)
	if e == nil {
		f.Release() // not the last reference: the waiter's op holds one
		return
	}
	idx, s := u.alloc()
	s.fd = f
	rs.idx, rs.gen = idx, s.gen
	rs.armed, rs.capped, rs.aborted = true, false, false
	e.PrepRecvMultishot(f.Sysfd, u.lend.bufs.Bgid(), makeUD(tagRecv, s.gen, uint32(idx)))
	u.ring.Publish()
}

// received handles a completion of a multishot recv; mu is held.
func (u *uringBackend) received(c *uring.CQE, idx int32, s *uslot, done []completion) []completion {
	f := s.fd
	rs := recvOf(f)
	more := c.Flags&uring.CQEFMore != 0
	if c.Flags&uring.CQEFBuffer != 0 {
		full := false // rs's queue reached its bound
		bid := uint16(c.Flags >> uring.CQEBufferShift)
		switch {
		case c.Res <= 0:
			u.lend.untaken(bid) // nothing to lend
		case f.Closing():
			u.lend.take(bid, c.Res, c.Flags)
			u.lend.give(bid, true) // nobody left to read it
		case rs.waiter != nil:
			w := rs.waiter
			w.Buf, w.BufID = u.lend.take(bid, c.Res, c.Flags), int32(bid)
			u.roomSeen()
			done = u.wake(rs, done, completion{op: w, n: int(c.Res)})
		default:
			// The kernel may post a few more before the cancel at the bound
			// lands: the queue grows for them.
			if rs.q == nil {
				rs.q = new(recvQueue)
			}
			rs.q.items = append(rs.q.items, lentChunk{b: u.lend.take(bid, c.Res, c.Flags), bid: bid})
			rs.q.bytes += int(c.Res)
			u.queued += int(c.Res)
			full = u.queueFull(rs)
		}
		if c.Res >= lentSingleMin && (c.Res >= lentBulkMin || rs.q.len() >= 2 || u.readers.busy() > lentSingleReaders) && !f.Closing() {
			rs.single = true // large messages: a request per read (lentSingleMin)
		}
		// The cancel ends the request; what it posts before that is queued.
		if more && !rs.capped && (full || u.perRead(rs)) {
			u.capRecv(rs)
		}
	}
	errno := unix.Errno(0)
	if c.Res < 0 {
		errno = unix.Errno(-c.Res)
	}
	switch {
	case c.Res > 0:
	case errno == unix.ECANCELED:
		// Cancel, Close or the bound: settled below, at the request's end.
	case errno == unix.ENOBUFS:
		// The ring is empty: the data waits in the socket. The ring takes more of
		// the spare buffers if there are any; a waiting read joins the queue of
		// reads waiting for a buffer (restarted for them at the end of the reap);
		// the request ends (no F_MORE).
		u.lend.grow()
		if w := rs.waiter; w != nil && !rs.aborted && !f.Closing() {
			rs.waiter = nil
			u.waiting--
			w.Buf = nil
			u.starveNoBuffer(w)
		}
	case errno == unix.EINVAL && !more:
		// A kernel without multishot recv (before 6.0) refuses it: use a request
		// per read from now on (a read that comes later takes that path itself).
		uringMultishotRecv.Store(false)
		if w := rs.waiter; w != nil {
			rs.waiter = nil
			u.waiting--
			if rs.aborted || f.Closing() {
				done = append(done, completion{op: w, err: abortedErr(f)})
				rs.aborted = false
			} else {
				u.recvOnce(w)
			}
		}
	default:
		// The end of stream (0) or an error: for the waiting read, or the next.
		if w := rs.waiter; w != nil {
			w.Buf = nil
			var err error
			if errno != 0 {
				err = errno
			}
			done = u.wake(rs, done, completion{op: w, err: err})
		} else if !f.Closing() {
			rs.end, rs.errno = true, uint8(errno)
		}
	}
	if more {
		return done
	}
	// The request is over: drop its reference; arm it again for a read still
	// waiting, unless it was cancelled for it.
	rs.armed = false
	u.release(idx, s)
	done = append(done, completion{fd: f})
	if w := rs.waiter; w != nil {
		switch {
		case f.Closing():
			done = u.wake(rs, done, completion{op: w, err: ErrAbortedClosed})
		case rs.aborted:
			done = u.wake(rs, done, completion{op: w, err: ErrAborted})
		case u.perRead(rs):
			rs.waiter = nil
			u.waiting--
			u.recvOnce(w)
		default:
			u.armRecv(rs, f)
		}
	}
	if op := u.ownAfter[f]; op != nil {
		delete(u.ownAfter, f)
		done = u.ownResume(rs, op, done)
	}
	if f.Closing() {
		u.dropQueue(rs)
	}
	return done
}

// Own-buffer reads of a descriptor that has read lent buffers with a multishot recv.
// The recv stays armed between lent reads, and what it received waits in rs's queue:
// a read into the caller's buffer (AsyncRead after AsyncReadLent; a coroutine's
// ReadFull after ReadLent) takes that first, and must not race the recv for what
// comes next, or bytes are lost or reordered (found by review). It copies from the
// queue; with nothing queued it caps the recv and waits in u.ownAfter for its last
// completion, which may queue more, before its own request goes in.

// ownRead handles own-buffer read op if f's lent reads left a recv or data behind:
// ok says it did, with op's result in d if now, else op waits. mu is held.
func (u *uringBackend) ownRead(op *Op) (d completion, now, ok bool) {
	rs := recvOf(op.FD)
	switch {
	case rs.q.len() > 0 || rs.end:
		return u.copyQueued(rs, op), true, true
	case rs.armed:
		if !rs.capped {
			u.capRecv(rs) // sqe may let mu go while the SQ is full: look again
		}
		if rs.armed {
			if u.ownAfter == nil {
				u.ownAfter = make(map[*FD]*Op)
			}
			u.ownAfter[op.FD] = op
			return completion{}, false, true
		}
		if rs.q.len() > 0 || rs.end { // the recv ended meanwhile
			return u.copyQueued(rs, op), true, true
		}
	}
	return completion{}, false, false
}

// ownResume goes on with own-buffer read op once the recv it waited for has ended;
// mu is held.
func (u *uringBackend) ownResume(rs *uringRecv, op *Op, done []completion) []completion {
	switch {
	case op.FD.Closing():
		return append(done, completion{op: op, err: ErrAbortedClosed})
	case op.abort.Load() != abortNone:
		return append(done, completion{op: op, err: ErrAborted})
	case rs.q.len() > 0 || rs.end:
		return append(done, u.copyQueued(rs, op))
	}
	idx, s, ud := u.track(op)
	if err := u.prep(op, s, ud); err != nil {
		u.release(idx, s)
		return append(done, completion{op: op, err: err})
	}
	op.ud = ud
	u.ring.Publish()
	return done
}

// copyQueued copies the oldest bytes of rs's queue into own-buffer read op's buffer
// (the rest of a piece stays queued), or takes the end of stream or error that
// waits; the caller restarts reads a freed buffer lets go on (restartFreed). mu is
// held.
func (u *uringBackend) copyQueued(rs *uringRecv, op *Op) completion {
	if rs.q.len() == 0 {
		rs.end = false
		d := completion{op: op}
		if rs.errno != 0 {
			d.err, rs.errno = unix.Errno(rs.errno), 0
		}
		return d
	}
	c := &rs.q.items[rs.q.head]
	n := copy(op.Buf, c.b)
	u.queued -= n
	if n < len(c.b) {
		c.b = c.b[n:]
		rs.q.bytes -= n
	} else {
		bid := rs.q.pop().bid
		u.lend.give(bid, !u.closed)
	}
	return completion{op: op, n: n}
}

// perRead reports whether reads on rs make a request each rather than share the
// multishot recv: for large messages (rs.single), when many descriptors read (crowd),
// and whenever more than one runner drives the shared ring. A request's completion is posted by task work on the thread that submitted
// it; a multishot recv stays in the kernel for many reads, and with several runners
// (goroutines that move between threads as they sleep and wake) the thread that armed
// it is often asleep by then, and is woken only to post the completion. examples/echo
// with two runners, unpinned, 64 B × 100 connections: 5.3 µs of server CPU per
// message at depth 1 and 0.34 at depth 16 with the multishot recv, 3.9–4.2 and
// 0.24–0.25 with a request per read (ARCHITECTURE.md). The thread-bound variant
// submits everything from its owner thread, which is always the one to wake.
func (u *uringBackend) perRead(rs *uringRecv) bool {
	return rs.single || u.crowded || (u.lk == nil && u.runners.Load() > 1)
}

// Many connections read with a request each (uringBackend.crowded): from crowdOn
// descriptors that make lent reads, until fewer than crowdOff do. A multishot recv
// posts each arrival through task work, which the runner must enter the kernel to
// run; a request, queued while the runner works through its handlers and submitted
// at its next enter, finds its data already received and completes there, without a
// poll (60–90% of them at 1,000 connections × 64 B × depth 1, against 40% at 100).
// At 1,000 connections the runner entered the kernel once per 7 messages with the
// multishot recvs and once per 50 with requests, and spent 3.5–3.7 µs of CPU per
// message against 3.8–4.1; at 400 connections and fewer the multishot recv is
// cheaper (3.33 against 3.66–3.75), at 600 they are level (ARCHITECTURE.md,
// "Crowded lent reads"). It counts descriptors, not reads waiting: with requests the
// reads waiting in the kernel come and go with each enter (half of them or fewer
// have not found their data), and an average of them dipped below any bound that
// the multishot recvs stayed above, switching the two back and forth.
//
// Only while receives are small, though (uringBackend.largeReads): when each one
// brings several messages (a pipelining peer), a multishot completion carries as much
// as a request's would, and the request per read is only a cost. At 64 B × 1,000
// connections × depth 16 (about 1 KiB a receive either way), the multishot recvs took
// the recv requests away (0.075 per message) for about 3% less CPU per message: both
// builds at once 0.952–0.989 of the crowded code in twelve pairs, interleaved cheaper
// in 7 of 11 rounds and level in one; 64 B × 1,000 × 1 and 4 KiB × 1,000 × 1 level
// (ARCHITECTURE.md, "The generator's limit").
// Receives count as small below crowdSmall bytes on average and as large from twice
// that, over windows of crowdSizeReads of them (the lend book counts them in take), so
// that a workload near the bound does not switch at every window. Variables for
// tests.
var (
	crowdOn        = 640
	crowdOff       = 512
	crowdSmall     = 256
	crowdSizeReads = 256
)

// readerCount counts the descriptors that make lent reads lately, for the choices that
// depend on how many read (crowd, lentSingleReaders). It counts them by epochs of
// readEpochReads lent reads: a descriptor counts in the epochs in which it starts a
// read. Until session 12 it counted every open descriptor that had ever made one, so a
// server holding thousands of idle connections read its few busy ones as if
// thousands were busy (with a request per read, and large messages one at a time).
// 100 busy connections at 64 B × depth 1 beside 5,000 idle ones now read with the
// multishot recv (0.97 requests per message against 1.97): a median 0.986 of the CPU
// per message of the old count, cheaper in 5 of 8 interleaved pairs (session 12).
// Guarded by mu.
type readerCount struct {
	epoch        uint8 // the current epoch, 1–255 (uringRecv.epoch 0 is none); setupUring starts it at 1
	reads        int   // lent reads started in it
	active, last int   // descriptors that started one in it, and in the epoch before
}

// readEpochReads is the length of an epoch in lent reads: several reads for each of
// crowdOn descriptors at depth 1, so that every busy descriptor reads in each epoch.
// A variable for tests.
var readEpochReads = 4096

// count records a lent read started on rs.
func (k *readerCount) count(rs *uringRecv) {
	if rs.epoch != k.epoch {
		rs.epoch = k.epoch
		k.active++
	}
	if k.reads++; k.reads >= readEpochReads {
		k.last, k.active, k.reads = k.active, 0, 0
		// A descriptor whose mark is this number from 255 epochs ago is not
		// counted in the new one: one idle for that long, counted once less.
		if k.epoch++; k.epoch == 0 {
			k.epoch = 1
		}
	}
}

// busy is how many descriptors made lent reads lately: in the current epoch or the
// one before, whichever counted more, so that a count rises at once and falls an
// epoch late.
func (k *readerCount) busy() int { return max(k.active, k.last) }

// crowd decides, once per reap, whether lent reads make a request each because
// many descriptors make them (crowdOn); mu is held. Multishot recvs already armed
// stay until their next completion, which cancels them (received); requests already
// made finish.
func (u *uringBackend) crowd() {
	if k := u.lend; k != nil && k.rxReads >= crowdSizeReads {
		switch avg := k.rxBytes / k.rxReads; {
		case avg >= 2*crowdSmall:
			u.largeReads = true
		case avg < crowdSmall:
			u.largeReads = false
		}
		k.rxBytes, k.rxReads = 0, 0
	}
	switch n := u.readers.busy(); {
	case !u.crowded && n >= crowdOn && !u.largeReads:
		u.crowded = true
	case u.crowded && (n < crowdOff || u.largeReads):
		u.crowded = false
	}
}

// SetRunners records how many runners drive the backend (RunnerCounter).
func (u *uringBackend) SetRunners(n int) { u.runners.Store(int32(n)) }

// capRecv cancels rs's multishot recv, which stays armed until its last completion;
// mu is held.
func (u *uringBackend) capRecv(rs *uringRecv) {
	u.sqe().PrepCancel(makeUD(tagRecv, rs.gen, uint32(rs.idx)), 0, makeUD(tagCancel, 0, 0))
	u.ring.Publish()
	rs.capped = true
}

// queueFull reports whether rs's queue, or all the queues together, reached their
// bound; mu is held.
func (u *uringBackend) queueFull(rs *uringRecv) bool {
	size := u.lend.bufs.Size()
	return rs.q.len() >= recvQueuePieces || rs.q.bytes >= recvQueueMax*size || u.queued >= len(u.lend.pieces)*size/4
}

// wake hands d to rs's waiting read; mu is held.
func (u *uringBackend) wake(rs *uringRecv, done []completion, d completion) []completion {
	rs.waiter, rs.aborted = nil, false
	u.waiting--
	if d.err != nil {
		d.op.Buf = nil
	}
	return append(done, d)
}

// recvOnce submits op as a single lent read: a recv request, or on a bulk descriptor
// a wait for readiness (pollRead); mu is held.
func (u *uringBackend) recvOnce(op *Op) {
	e := u.sqeFor(op.FD)
	if e == nil {
		// A Close began: while sqe waited for room, or it has marked the
		// descriptor and not yet looked for its ops. Either way op is nowhere it
		// looks (not the waiter, not starved): it fails in the reap its no-op entry
		// wakes. A request made now would hold the descriptor open until data came,
		// behind the Close's cancel.
		u.closingReads = append(u.closingReads, op)
		return
	}
	if recvOf(op.FD).bulk {
		u.pollRead(op, e)
		return
	}
	u.recvRequest(op, e)
}

// recvRequest submits op as a lent recv request in entry e; mu is held.
func (u *uringBackend) recvRequest(op *Op, e *uring.SQE) {
	_, _, ud := u.track(op)
	e.PrepRecvSelectMax(op.FD.Sysfd, u.lend.bufs.Bgid(), uint32(u.lend.bufs.Size()), ud)
	op.ud = ud
	u.ring.Publish()
}

// dropQueue gives the buffers received ahead of the reads back to the ring: f is
// closed and nobody will read them. mu is held.
func (u *uringBackend) dropQueue(rs *uringRecv) {
	rs.end, rs.errno = false, 0
	for rs.q.len() > 0 {
		c := rs.q.pop()
		u.lend.give(c.bid, true)
		u.queued -= len(c.b)
	}
}

// settleRecv is Cancel's and Close's part for f's multishot recv; mu is held. An armed
// request is ended by the cancel that follows, and its waiting read settled then, after
// the data received before the cancel; a read waiting with nothing in the kernel (the
// arm lost a race with Close) is aborted now.
func (u *uringBackend) settleRecv(f *FD, done []completion) []completion {
	rs := recvOf(f)
	if rs.armed {
		// Only the read waiting now: one started after Cancel returned, while the
		// request's ECANCELED is still to be reaped, must get its data.
		rs.aborted = rs.waiter != nil
		return done
	}
	if w := rs.waiter; w != nil {
		done = u.wake(rs, done, completion{op: w, err: abortedErr(f)})
	}
	if f.Closing() {
		u.dropQueue(rs)
	}
	return done
}

// cancelLent aborts op if it is the read waiting on its descriptor's multishot recv,
// which stays armed; mu is held.
func (u *uringBackend) cancelLent(op *Op) bool {
	rs := recvOf(op.FD)
	if rs.waiter != op {
		return false
	}
	rs.waiter, rs.aborted = nil, false
	u.waiting--
	op.Buf = nil
	return true
}

// restartFreed restarts one starved read for each buffer handed back to the ring since
// the last call (by ReleaseBuffer, a closed descriptor's queue, an end of stream or an
// error), and on an incremental ring also for each read that found room (roomSeen):
// without them the reads waiting for a buffer would wait for a release that may never
// come. On an incremental ring one buffer serves many reads, so counting recycled
// buffers alone left reads waiting for good once the first ones had taken small pieces
// of a buffer and released them, the buffer not being recycled again (found by
// review); restarting every starved read at each return instead made 1,000 connections
// at 4 KiB × 16 unfair (Jain 0.78: the first multishot recvs re-armed kept filling the
// room). Reads that still find none come back to the head of the queue in their order
// (starve). mu is held; it reports whether it restarted any (their entries are queued,
// not yet submitted).
func (u *uringBackend) restartFreed() bool {
	if u.lend == nil || u.lend.freed == 0 || len(u.starved) == 0 {
		if u.lend != nil {
			u.lend.freed = 0
		}
		return false
	}
	n := u.lend.freed
	u.front = 0
	for ; n > 0 && len(u.starved) > 0; n-- {
		u.restartStarved()
	}
	u.lend.freed = 0
	return true
}

// roomSeen counts a lent read that got data while others wait for a buffer: on an
// incremental ring the buffer it came from may have room for them. mu is held.
func (u *uringBackend) roomSeen() {
	if u.lend.inc && len(u.starved) > 0 {
		u.lend.freed++
	}
}

// starveNoBuffer queues a read whose receive found the ring empty (ENOBUFS); mu is
// held. A buffer may have gone back to the ring between the kernel's look and this
// reap, and its release then found no read waiting to restart. With buffers in the
// ring the read is restarted at the end of the reap (restartFreed) rather than left
// to wait for a later release, which need not come: the application may hold every
// other buffer until this read's data arrives (found by review). Books that are a
// reap behind the kernel cost one more ENOBUFS at most.
func (u *uringBackend) starveNoBuffer(op *Op) {
	u.starve(op)
	if u.lend.ring > 0 {
		u.lend.freed++
	}
}

// starve queues a lent read that found no buffer. One restarted for a freed buffer
// goes back to the head of the queue, behind the others of its round, so that reads
// waiting for a buffer keep their turn.
func (u *uringBackend) starve(op *Op) {
	if op.BufID != restarted {
		u.starved = append(u.starved, op)
		return
	}
	u.front = min(u.front, len(u.starved))
	u.starved = slices.Insert(u.starved, u.front, op)
	u.front++
}
