package proactor

import (
	"bytes"
	"errors"
	"os"
	"os/signal"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coionet/coio/internal/uring"
)

// noBulk keeps descriptors out of bulk mode for the test: the ring's own behaviour.
func noBulk(t *testing.T) {
	uringBulk.Store(false)
	t.Cleanup(func() { uringBulk.Store(true) })
}

// makeBulk reads large messages from f until it is a bulk descriptor.
func makeBulk(t *testing.T, u *uringBackend, sink chanSink, f *FD, p int) {
	t.Helper()
	msg := bytes.Repeat([]byte{1}, 32<<10)
	for range 4 {
		lentReadAll(t, u, sink, f, p, msg, func(op *Op) { u.ReleaseBuffer(op.BufID) })
		if isBulk(u, f) {
			return
		}
	}
	t.Fatalf("not a bulk descriptor after four %d-byte messages", len(msg))
}

// bulkPair opens a backend with 64 × 64 KiB lent buffers and a socket pair whose end
// f, registered with it, is a bulk descriptor; p is the peer.
func bulkPair(t *testing.T) (*uringBackend, chanSink, *FD, int) {
	t.Helper()
	u, sink := openUringLend(t, 64<<10, 64)
	f, p := registeredPair(t, u)
	makeBulk(t, u, sink, f, p)
	return u, sink, f, p
}

// mustPoll fails unless op waits for readiness: a poll request in the kernel.
func mustPoll(t *testing.T, u *uringBackend, op *Op, what string) {
	t.Helper()
	if st, in := stateOf(u, op); st != stateParked || !in {
		t.Fatalf("%s: state %d, in the kernel %v; want a poll (state %d) in the kernel", what, st, in, stateParked)
	}
}

func isBulk(u *uringBackend, f *FD) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return recvOf(f).bulk
}

func stateOf(u *uringBackend, op *Op) (state uint8, inKernel bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return op.state, op.ud != 0
}

// submitLent starts a lent read on f.
func submitLent(u *uringBackend, f *FD) *Op {
	op := &Op{Kind: OpRead, FD: f, Lend: true}
	u.Submit(op)
	u.Flush()
	return op
}

// waitReadied runs Wait until it returns op, which must come unfinished.
func waitReadied(t *testing.T, u *uringBackend, op *Op) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		ready, err := u.Wait(5*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range ready {
			if got != op {
				t.Fatalf("completion of an op that was not in flight: %+v", got)
			}
			if !op.NeedsPerform {
				t.Fatalf("bulk read returned finished (%d, %v); want it to need Perform", op.N, op.Err)
			}
			return
		}
	}
	t.Fatal("bulk read not readied")
}

func write(t *testing.T, fd int, b []byte) {
	t.Helper()
	if n, err := unix.Write(fd, b); err != nil || n != len(b) {
		t.Fatalf("write: (%d, %v)", n, err)
	}
}

// TestUringBulkReadCopiesWhenDue: once a descriptor's reads return lentBulkMin or
// more, a read waits for readiness and copies in Perform, just before its handler:
// data that arrives between readiness and Perform comes with it, and no buffer is
// taken before. A small read ends the mode: the next read is a recv request again.
func TestUringBulkReadCopiesWhenDue(t *testing.T) {
	u, sink, f, p := bulkPair(t)

	op := submitLent(u, f)
	mustPoll(t, u, op, "bulk read")
	first, second := bytes.Repeat([]byte{'a'}, 20<<10), bytes.Repeat([]byte{'b'}, 10<<10)
	write(t, p, first)
	waitReadied(t, u, op)
	u.mu.Lock()
	lent := u.lend.lent
	u.mu.Unlock()
	if op.Buf != nil || lent != 0 {
		t.Fatalf("readied bulk read holds %d bytes, %d buffers lent; want nothing copied yet", len(op.Buf), lent)
	}
	write(t, p, second) // after readiness, before the handler
	if !u.Perform(op) {
		t.Fatal("Perform found no data")
	}
	if want := append(first, second...); op.Err != nil || !bytes.Equal(op.Buf, want) {
		t.Fatalf("bulk read = (%d bytes, %v); want the %d bytes written before Perform", len(op.Buf), op.Err, len(want))
	}
	if op.Syscalls != 1 {
		t.Fatalf("bulk read made %d syscalls; want 1", op.Syscalls)
	}
	u.ReleaseBuffer(op.BufID)

	lentReadAll(t, u, sink, f, p, []byte("small"), func(op *Op) {
		if string(op.Buf) != "small" {
			t.Fatalf("small read = %q", op.Buf)
		}
		u.ReleaseBuffer(op.BufID)
	})
	if isBulk(u, f) {
		t.Fatal("still a bulk descriptor after a small read")
	}
	op = submitLent(u, f)
	if st, in := stateOf(u, op); st != stateIdle || !in {
		t.Fatalf("read after the bulk mode: state %d, in the kernel %v; want a recv request", st, in)
	}
	write(t, p, []byte("request"))
	finishOne(t, u, sink, op)
	if op.Err != nil || string(op.Buf) != "request" {
		t.Fatalf("read after the bulk mode = (%q, %v)", op.Buf, op.Err)
	}
	u.ReleaseBuffer(op.BufID)
	closeAndReap(t, u, sink, f)
}

// TestUringBulkWriteIsMadeAtOnce: a bulk descriptor's write completes in Submit with
// one syscall, while the socket takes it; when it is full the write waits in the ring
// and the bytes stay in order. Another descriptor's write goes to the ring.
func TestUringBulkWriteIsMadeAtOnce(t *testing.T) {
	u, sink := openUringLend(t, 64<<10, 64)
	g, q := registeredPair(t, u)
	w := &Op{Kind: OpWrite, FD: g, Buf: []byte("to the ring")}
	u.Submit(w)
	if _, in := stateOf(u, w); !in {
		t.Fatal("a write on a descriptor that is not a bulk one did not go to the ring")
	}
	finishOne(t, u, sink, w)
	closeAndReap(t, u, sink, g)
	unix.Close(q)

	f, p := registeredPair(t, u)
	makeBulk(t, u, sink, f, p)
	msg := bytes.Repeat([]byte{'x'}, 8<<10)
	w = &Op{Kind: OpWrite, FD: f, Buf: msg}
	u.Submit(w)
	select {
	case got := <-sink:
		if got != w || w.Err != nil || w.N != len(msg) || w.Syscalls != 1 {
			t.Fatalf("bulk write = (%d, %v) in %d syscalls; want (%d, nil) in 1", w.N, w.Err, w.Syscalls, len(msg))
		}
	default:
		t.Fatal("bulk write not completed in Submit")
	}
	got := make([]byte, 64<<10)
	if n, err := unix.Read(p, got); err != nil || !bytes.Equal(got[:n], msg) {
		t.Fatalf("peer read (%d, %v); want the %d bytes written", n, err, len(msg))
	}

	// Fill the socket, then write: the write waits in the ring for room.
	var sent []byte
	for fill := bytes.Repeat([]byte{'f'}, 4096); ; {
		n, err := unix.Write(f.Sysfd, fill)
		if err == unix.EAGAIN {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, fill[:n]...)
	}
	tail := bytes.Repeat([]byte{'z'}, 4096)
	w = &Op{Kind: OpWrite, FD: f, Buf: tail}
	u.Submit(w)
	u.Flush()
	if _, in := stateOf(u, w); !in {
		t.Fatal("bulk write to a full socket is not in the ring")
	}
	want := append(sent, tail...)
	var rcvd []byte
	done := false
	collect(t, u, sink, 5*time.Second, func() bool {
		for {
			n, err := unix.Read(p, got)
			if err != nil {
				break
			}
			rcvd = append(rcvd, got[:n]...)
		}
		return done && len(rcvd) == len(want)
	}, func(op *Op) {
		if op != w || op.Err != nil || op.N != len(tail) {
			t.Fatalf("write to the full socket = (%d, %v)", op.N, op.Err)
		}
		done = true
	})
	if !done || !bytes.Equal(rcvd, want) {
		t.Fatalf("write completed %v; peer read %d bytes, want %d in order", done, len(rcvd), len(want))
	}
	closeAndReap(t, u, sink, f)
}

// TestUringBulkReadCancelAndClose: a bulk read waiting for readiness is cancelled like
// any request; one readied but not yet performed is aborted by CancelOp, Cancel or
// Close instead of reading, and its data stays for the next read.
func TestUringBulkReadCancelAndClose(t *testing.T) {
	u, sink, f, p := bulkPair(t)

	op := submitLent(u, f)
	if !u.CancelOp(op) {
		t.Fatal("CancelOp of a waiting bulk read found nothing")
	}
	finishOne(t, u, sink, op)
	if !errors.Is(op.Err, ErrAborted) || op.Buf != nil {
		t.Fatalf("cancelled waiting bulk read = (%d bytes, %v); want ErrAborted", len(op.Buf), op.Err)
	}

	msg := bytes.Repeat([]byte{'m'}, 4096)
	for _, how := range []string{"CancelOp", "Cancel"} {
		op = submitLent(u, f)
		write(t, p, msg)
		waitReadied(t, u, op)
		if how == "CancelOp" {
			if !u.CancelOp(op) {
				t.Fatal("CancelOp of a readied bulk read found nothing")
			}
		} else if n := u.Cancel(f); n < 1 {
			t.Fatalf("Cancel counted %d ops; want the readied read", n)
		}
		if !u.Perform(op) || !errors.Is(op.Err, ErrAborted) || op.Buf != nil {
			t.Fatalf("readied bulk read after %s = (%d bytes, %v); want ErrAborted", how, len(op.Buf), op.Err)
		}
		op = submitLent(u, f)
		finishOne(t, u, sink, op)
		if op.Err != nil || !bytes.Equal(op.Buf, msg) {
			t.Fatalf("read after %s = (%d bytes, %v); want the %d bytes left in the socket", how, len(op.Buf), op.Err, len(msg))
		}
		u.ReleaseBuffer(op.BufID)
	}

	op = submitLent(u, f)
	write(t, p, msg)
	waitReadied(t, u, op)
	if err := u.Close(f); err != nil {
		t.Fatal(err)
	}
	if !u.Perform(op) || !errors.Is(op.Err, ErrAbortedClosed) || op.Buf != nil {
		t.Fatalf("readied bulk read after Close = (%d bytes, %v); want ErrAbortedClosed", len(op.Buf), op.Err)
	}
	closeAndReapDone(t, u, f)
}

// TestUringBulkReadReadyButEmptyWaitsAgain: a readied bulk read whose data someone else
// took finds the socket empty in Perform and waits for readiness again.
func TestUringBulkReadReadyButEmptyWaitsAgain(t *testing.T) {
	u, sink, f, p := bulkPair(t)

	op := submitLent(u, f)
	write(t, p, bytes.Repeat([]byte{'s'}, 4096))
	waitReadied(t, u, op)
	if n, err := unix.Read(f.Sysfd, make([]byte, 8192)); n != 4096 || err != nil {
		t.Fatalf("taking the data: (%d, %v)", n, err)
	}
	if u.Perform(op) {
		t.Fatalf("Perform on an empty socket finished the read: (%d, %v)", op.N, op.Err)
	}
	mustPoll(t, u, op, "after an empty Perform")
	msg := bytes.Repeat([]byte{'q'}, 4096)
	write(t, p, msg)
	finishOne(t, u, sink, op)
	if op.Err != nil || !bytes.Equal(op.Buf, msg) {
		t.Fatalf("bulk read after waiting again = (%d bytes, %v)", len(op.Buf), op.Err)
	}
	u.ReleaseBuffer(op.BufID)
	closeAndReap(t, u, sink, f)
}

// TestUringBulkNeedsSpareBuffers: bulk reads copy into buffers spare outside the ring.
// A pool the ring holds whole makes no bulk descriptor; a readied bulk read that finds
// none spare reads with a request instead, and the descriptor stops being a bulk one.
func TestUringBulkNeedsSpareBuffers(t *testing.T) {
	u, sink := openUringLend(t, 64<<10, 8) // the ring holds all 8
	g, q := registeredPair(t, u)
	for range 4 {
		lentReadAll(t, u, sink, g, q, bytes.Repeat([]byte{2}, 32<<10), func(op *Op) { u.ReleaseBuffer(op.BufID) })
	}
	if isBulk(u, g) {
		t.Fatal("a bulk descriptor with no buffer spare")
	}
	closeAndReap(t, u, sink, g)

	u, sink = openUringLend(t, 64<<10, 64)
	f, p := registeredPair(t, u)
	makeBulk(t, u, sink, f, p)
	op := submitLent(u, f)
	msg := bytes.Repeat([]byte{'n'}, 4096)
	write(t, p, msg)
	waitReadied(t, u, op)
	u.mu.Lock()
	spare := append([]uint16(nil), u.lend.spare...)
	u.lend.spare = u.lend.spare[:0]
	u.mu.Unlock()
	if u.Perform(op) {
		t.Fatalf("Perform with no buffer spare finished the read: (%d, %v)", op.N, op.Err)
	}
	if st, in := stateOf(u, op); st != stateIdle || !in || isBulk(u, f) {
		t.Fatalf("with no buffer spare: state %d, in the kernel %v, bulk %v; want a recv request and no bulk mode", st, in, isBulk(u, f))
	}
	finishOne(t, u, sink, op)
	if op.Err != nil || !bytes.Equal(op.Buf, msg) {
		t.Fatalf("read with no buffer spare = (%d bytes, %v)", len(op.Buf), op.Err)
	}
	u.ReleaseBuffer(op.BufID)
	u.mu.Lock()
	u.lend.spare = append(u.lend.spare, spare...)
	u.mu.Unlock()
	closeAndReap(t, u, sink, f)
}

// TestUringBulkReserveMakesRoom: a large read that finds every buffer in the ring or
// lent cannot make a bulk descriptor, but makes the ring leave a few spare from then
// on, so that the next one can; until then the ring lends every buffer.
func TestUringBulkReserveMakesRoom(t *testing.T) {
	const size, count = 64 << 10, 32 // a reserve of 2
	u, sink := openUringLend(t, size, count)
	f, p := registeredPair(t, u)
	u.mu.Lock()
	recvOf(f).single = true // reads with requests, whose completions make bulk descriptors
	u.mu.Unlock()

	fa, pa := registeredPair(t, u)
	msg := bytes.Repeat([]byte{3}, size)
	uringBulk.Store(false)
	var held []int32
	for range count { // every buffer lent through the ring, which grows to hold them all
		lentReadAll(t, u, sink, fa, pa, msg, func(op *Op) { held = append(held, op.BufID) })
	}
	uringBulk.Store(true)
	t.Cleanup(func() { uringBulk.Store(true) })

	large := bytes.Repeat([]byte{4}, 32<<10)
	readLarge := func() {
		t.Helper()
		op := submitLent(u, f)
		write(t, p, large)
		finishOne(t, u, sink, op)
		if op.Err != nil || !bytes.Equal(op.Buf, large) {
			t.Fatalf("large read = (%d bytes, %v)", len(op.Buf), op.Err)
		}
		u.ReleaseBuffer(op.BufID)
	}
	u.ReleaseBuffer(held[0]) // to the ring: nothing reserved yet
	readLarge()
	if isBulk(u, f) {
		t.Fatal("a bulk descriptor with no buffer spare")
	}
	for _, id := range held[1:8] {
		u.ReleaseBuffer(id) // the ring holds fewer than it wants, but the reserve comes first
	}
	readLarge()
	u.mu.Lock()
	spare, reserve := len(u.lend.spare), u.lend.reserve
	u.mu.Unlock()
	if !isBulk(u, f) || reserve != 2 {
		t.Fatalf("after a large read with %d buffers spare (reserve %d): bulk %v; want a bulk descriptor", spare, reserve, isBulk(u, f))
	}
	for _, id := range held[8:] {
		u.ReleaseBuffer(id)
	}
	closeAndReap(t, u, sink, f)
	closeAndReap(t, u, sink, fa)
}

// TestUringBulkCancelBeforeThePollIsReaped: Cancel aborts a bulk read whose poll has
// completed but is not reaped yet (the kernel has nothing left to cancel): it reads
// nothing, not even what arrived after Cancel returned (found by review).
func TestUringBulkCancelBeforeThePollIsReaped(t *testing.T) {
	runtime.LockOSThread() // the poll's task work runs on the thread that submitted it
	defer runtime.UnlockOSThread()
	u, sink, f, p := bulkPair(t)

	op := submitLent(u, f)
	write(t, p, []byte("before cancel"))
	for deadline := time.Now().Add(2 * time.Second); u.ring.CQReady() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the poll's completion was not posted")
		}
		u.ring.Enter(0, 1, uring.EnterGetEvents, 50*time.Millisecond) // runs task work, reaps nothing
	}
	n := u.Cancel(f)
	write(t, p, []byte(" after cancel"))
	finishOne(t, u, sink, op)
	if !errors.Is(op.Err, ErrAborted) || op.Buf != nil {
		t.Fatalf("Cancel counted %d ops, then the bulk read completed with (%q, %v); want ErrAborted", n, op.Buf, op.Err)
	}
	closeAndReap(t, u, sink, f)
}

// TestUringBulkReserveGivesWay: the spare buffers kept for bulk reads go to a read that
// finds the ring empty: an application holding every other buffer (a large frame
// gathered in lent buffers) must not wait for a release while buffers are free (found
// by review).
func TestUringBulkReserveGivesWay(t *testing.T) {
	const size, count = 64 << 10, 32 // a reserve of 2
	for _, msgSize := range []int{size, 8 << 10} {
		u, sink := openUringLend(t, size, count)
		f, p := registeredPair(t, u)
		makeBulk(t, u, sink, f, p) // bulk reads were in use: the reserve holds
		closeAndReap(t, u, sink, f)
		u.SetRunners(2) // a request per read, none of them making bulk descriptors
		uringBulk.Store(false)
		g, q := registeredPair(t, u)
		msg := bytes.Repeat([]byte{7}, msgSize)
		var held []int32
		for i := 0; i < count*size/msgSize; i++ { // the application keeps every buffer it gets
			write(t, q, msg)
			for got := 0; got < len(msg); {
				op := submitLent(u, g)
				done := false
				collect(t, u, sink, 300*time.Millisecond, func() bool { return done }, func(o *Op) {
					if o != op || o.Err != nil {
						t.Fatalf("read %d: (%d, %v)", i, o.N, o.Err)
					}
					done = true
				})
				if !done {
					u.mu.Lock()
					spare, lent := len(u.lend.spare), u.lend.lent
					u.mu.Unlock()
					if spare > 0 {
						t.Fatalf("%d-byte reads: read %d waits for a buffer with %d spare (%d lent of %d)", msgSize, i, spare, lent, count)
					}
					i = count * size // every buffer lent: waiting is right
					u.CancelOp(op)
					finishOne(t, u, sink, op)
					break
				}
				got += op.N
				held = append(held, op.BufID)
			}
		}
		for _, id := range held {
			u.ReleaseBuffer(id)
		}
		uringBulk.Store(true)
		u.SetRunners(0)
		closeAndReap(t, u, sink, g)
	}
}

// TestUringBulkWriteRaisesNoSIGPIPE: a bulk descriptor's write to a peer that is gone
// fails with EPIPE and raises no SIGPIPE, as the ring's sends (MSG_NOSIGNAL) do (found
// by review).
func TestUringBulkWriteRaisesNoSIGPIPE(t *testing.T) {
	u, sink, f, p := bulkPair(t)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGPIPE)
	defer signal.Stop(sig)
	unix.Shutdown(p, unix.SHUT_RDWR) // the peer is gone
	w := &Op{Kind: OpWrite, FD: f, Buf: []byte("x")}
	u.Submit(w)
	finishOne(t, u, sink, w)
	if w.Err == nil {
		t.Fatal("a write to a peer that is gone succeeded")
	}
	select {
	case <-sig:
		t.Fatalf("SIGPIPE raised by the bulk write (result %v)", w.Err)
	case <-time.After(100 * time.Millisecond):
	}
	closeAndReap(t, u, sink, f)
}

// TestUringBulkWaitingReadAbortedByClose: Close of a descriptor whose bulk read waits
// for readiness in the kernel ends it with ErrAbortedClosed, not the plain ErrAborted
// of a cancel (Close marks the read as Cancel does).
func TestUringBulkWaitingReadAbortedByClose(t *testing.T) {
	u, sink, f, _ := bulkPair(t)
	op := submitLent(u, f)
	mustPoll(t, u, op, "bulk read")
	if err := u.Close(f); err != nil {
		t.Fatal(err)
	}
	finishOne(t, u, sink, op)
	if !errors.Is(op.Err, ErrAbortedClosed) || op.Buf != nil {
		t.Fatalf("waiting bulk read at Close = (%d bytes, %v); want ErrAbortedClosed", len(op.Buf), op.Err)
	}
	closeAndReapDone(t, u, f)
}
