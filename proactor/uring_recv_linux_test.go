package proactor

import (
	"bytes"
	"errors"
	"maps"
	"net"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/coionet/coio/internal/uring"
)

// openUringLend opens the io_uring backend with count lent buffers of size bytes.
func openUringLend(t *testing.T, size, count int) (*uringBackend, chanSink) {
	t.Helper()
	t.Setenv(EnvVar, "")
	sink := make(chanSink, 64)
	u := openUringOrSkip(t, sink)
	if err := u.SetLendBuffers(size, count); err != nil {
		t.Fatal(err)
	}
	return u, sink
}

// finishOne runs the backend until op has completed (from the sink or from Wait).
func finishOne(t *testing.T, u *uringBackend, sink chanSink, op *Op) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var ready []*Op
	for time.Now().Before(deadline) {
		select {
		case got := <-sink:
			if got != op {
				t.Fatalf("completion of an op that was not in flight: %+v", got)
			}
			return
		default:
		}
		var err error
		if ready, err = u.Wait(5*time.Millisecond, ready[:0]); err != nil {
			t.Fatal(err)
		}
		for _, got := range ready {
			if got != op {
				t.Fatalf("completion of an op that was not in flight: %+v", got)
			}
			if got.NeedsPerform && !u.Perform(got) {
				continue // as a runner does: parked again
			}
			return
		}
	}
	t.Fatal("lent read did not complete")
}

// reap runs Wait for d, letting completions with no op waiting arrive.
func reap(t *testing.T, u *uringBackend, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		ready, err := u.Wait(2*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ready) > 0 {
			t.Fatalf("%d ops completed with none in flight", len(ready))
		}
	}
}

// queuedOn is how many bytes f's multishot recv holds ahead of its reads.
func queuedOn(u *uringBackend, f *FD) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	if rs := recvOf(f); rs.q != nil {
		return rs.q.bytes
	}
	return 0
}

// lentRead reads once with a lent buffer and returns a copy of the bytes (released).
func lentRead(t *testing.T, u *uringBackend, sink chanSink, op *Op) ([]byte, error) {
	t.Helper()
	op.Buf, op.Lend = nil, true
	u.Submit(op)
	u.Flush()
	finishOne(t, u, sink, op)
	if op.Err != nil || op.N == 0 {
		if op.Buf != nil {
			t.Fatalf("a read that ended with (%d, %v) holds a lent buffer", op.N, op.Err)
		}
		return nil, op.Err
	}
	b := bytes.Clone(op.Buf[:op.N])
	u.ReleaseBuffer(op.BufID)
	return b, nil
}

// waitingReads reads messages on one descriptor as a server does: each lent read
// starts before its data is written to the peer (b). got and want collect the bytes.
type waitingReads struct {
	t         *testing.T
	u         *uringBackend
	sink      chanSink
	op        *Op
	b         int
	got, want []byte
}

func newWaitingReads(t *testing.T, u *uringBackend, sink chanSink, f *FD, b int) *waitingReads {
	return &waitingReads{t: t, u: u, sink: sink, op: &Op{Kind: OpRead, FD: f}, b: b}
}

// read starts a read, then sends n bytes of v and takes what the read gets.
func (w *waitingReads) read(n int, v byte) {
	w.t.Helper()
	op := w.op
	op.Buf, op.Lend = nil, true
	w.u.Submit(op)
	w.u.Flush()
	reap(w.t, w.u, 3*time.Millisecond)
	msg := bytes.Repeat([]byte{v}, n)
	w.want = append(w.want, msg...)
	if _, err := unix.Write(w.b, msg); err != nil {
		w.t.Fatal(err)
	}
	finishOne(w.t, w.u, w.sink, op)
	if op.Err != nil {
		w.t.Fatal(op.Err)
	}
	w.got = append(w.got, op.Buf[:op.N]...)
	w.u.ReleaseBuffer(op.BufID)
}

// inOrder fails unless every byte sent arrived, in order.
func (w *waitingReads) inOrder() {
	w.t.Helper()
	if !bytes.Equal(w.got, w.want) {
		w.t.Fatalf("read %d bytes; want the %d sent, in order", len(w.got), len(w.want))
	}
}

// lentReadAll writes msg to the peer p and reads it back on f with lent reads, handing
// every completed read to each (which releases what it wants released).
func lentReadAll(t *testing.T, u *uringBackend, sink chanSink, f *FD, p int, msg []byte, each func(*Op)) {
	t.Helper()
	if _, err := unix.Write(p, msg); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(msg); {
		op := &Op{Kind: OpRead, FD: f, Lend: true}
		u.Submit(op)
		u.Flush()
		finishOne(t, u, sink, op)
		if op.Err != nil || op.N == 0 {
			t.Fatalf("lent read: (%d, %v)", op.N, op.Err)
		}
		n += op.N
		each(op)
	}
}

// collect runs the backend for up to d, until done reports true, handing every op that
// completes (from the sink or from Wait, performed as a runner does) to each.
func collect(t *testing.T, u *uringBackend, sink chanSink, d time.Duration, done func() bool, each func(*Op)) {
	t.Helper()
	for deadline := time.Now().Add(d); !done() && time.Now().Before(deadline); {
		var ready []*Op
		select {
		case op := <-sink:
			ready = append(ready, op)
		default:
		}
		r, err := u.Wait(5*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range append(ready, r...) {
			if op.NeedsPerform && !u.Perform(op) {
				continue
			}
			each(op)
		}
	}
}

// TestUringLentReadsShareOneRequest: with the multishot recv, many lent reads cost one
// request; data that arrives while no read waits is kept, in order, up to the bound,
// and the rest stays in the socket until the reads catch up.
func TestUringLentReadsShareOneRequest(t *testing.T) {
	toldSleeps(t) // the test counts entries: no tick among them
	u, sink := openUringLend(t, 64, 64)
	f, b := registeredPair(t, u)
	op := &Op{Kind: OpRead, FD: f}

	var want, got []byte
	send := func(i int) {
		msg := bytes.Repeat([]byte{byte(i)}, 40)
		want = append(want, msg...)
		if _, err := unix.Write(b, msg); err != nil {
			t.Fatal(err)
		}
	}
	send(0)
	p, err := lentRead(t, u, sink, op)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, p...)
	tail := u.ring.SQTail()

	// Written while no read waits: the armed request receives it ahead.
	for i := 1; i <= 20; i++ {
		send(i)
		reap(t, u, 3*time.Millisecond)
	}
	q := queuedOn(u, f)
	if q == 0 {
		t.Fatal("nothing received ahead of the reads: is the multishot recv armed?")
	}
	if bound := recvQueueMax * u.lend.bufs.Size(); q > bound+2*40 {
		t.Fatalf("%d bytes received ahead of the reads; the bound is %d (and the few messages before its cancel lands)", q, bound)
	}
	for len(got) < len(want) {
		p, err := lentRead(t, u, sink, op)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes %v; want the %d sent, in order", len(got), got, len(want))
	}
	// The reads after the first made at most a few requests (the re-arms after the
	// cancel at the bound), not one each.
	if reqs := u.ring.SQTail() - tail; reqs > 4 {
		t.Fatalf("%d requests for %d lent reads with a multishot recv", reqs, 20)
	}

	// The end of stream comes after the data, and again to a read after it.
	unix.Shutdown(b, unix.SHUT_WR)
	for range 2 {
		if p, err := lentRead(t, u, sink, op); err != nil || p != nil {
			t.Fatalf("read at the end of stream: (%q, %v); want (nothing, nil)", p, err)
		}
	}
	closeAndReap(t, u, sink, f)
}

// registeredPair registers one end of a new socket pair with u and returns its FD and
// the other end (closed when the test ends).
func registeredPair(t *testing.T, u *uringBackend) (*FD, int) {
	t.Helper()
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(b) })
	f := new(FD)
	if err := u.Register(f, a); err != nil {
		t.Fatal(err)
	}
	return f, b
}

// closeAndReap closes f and runs the backend until its descriptor is closed, then
// checks that no lent buffer is left lent.
func closeAndReap(t *testing.T, u *uringBackend, sink chanSink, f *FD) {
	t.Helper()
	if err := u.Close(f); err != nil {
		t.Fatal(err)
	}
	closeAndReapDone(t, u, f)
}

// closeAndReapDone runs the backend until the closed f's descriptor is closed, then
// checks that no lent buffer is left lent.
func closeAndReapDone(t *testing.T, u *uringBackend, f *FD) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !f.Destroyed(); {
		if time.Now().After(deadline) {
			t.Fatal("descriptor not closed after its requests ended")
		}
		if _, err := u.Wait(2*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.lend == nil {
		return
	}
	for id, n := range u.lend.pieces {
		if n != 0 {
			t.Errorf("buffer %d still has %d pieces lent after its descriptor was closed", id, n)
		}
	}
	if u.queued != 0 {
		t.Errorf("%d bytes counted as received ahead after the close", u.queued)
	}
}

// TestUringLentReadCancelAndClose: a cancelled lent read ends with ErrAborted and the
// data that arrives after it goes to the next read; Close aborts a waiting read with
// ErrAbortedClosed and gives back the buffers received ahead.
func TestUringLentReadCancelAndClose(t *testing.T) {
	for _, multishot := range []bool{true, false} {
		name := "single"
		if multishot {
			name = "multishot"
		}
		t.Run(name, func(t *testing.T) {
			if !multishot {
				uringMultishotRecv.Store(false)
				t.Cleanup(func() { uringMultishotRecv.Store(true) })
			}
			u, sink := openUringLend(t, 64, 8)
			f, b := registeredPair(t, u)
			op := &Op{Kind: OpRead, FD: f, Lend: true}
			u.Submit(op)
			u.Flush()
			reap(t, u, 5*time.Millisecond)
			if !u.CancelOp(op) {
				t.Fatal("CancelOp of a waiting lent read found nothing to cancel")
			}
			finishOne(t, u, sink, op)
			if !errors.Is(op.Err, ErrAborted) || op.Buf != nil {
				t.Fatalf("cancelled lent read: (%d, %v, buffer %v); want ErrAborted and no buffer", op.N, op.Err, op.Buf != nil)
			}
			unix.Write(b, []byte("after the cancel"))
			reap(t, u, 5*time.Millisecond)
			if p, err := lentRead(t, u, sink, op); err != nil || string(p) != "after the cancel" {
				t.Fatalf("read after a cancel: (%q, %v)", p, err)
			}

			// Cancel of the descriptor: the waiting read is aborted, the next one
			// still reads.
			op.Buf, op.Lend = nil, true
			u.Submit(op)
			u.Flush()
			reap(t, u, 5*time.Millisecond)
			u.Cancel(f)
			finishOne(t, u, sink, op)
			if !errors.Is(op.Err, ErrAborted) || errors.Is(op.Err, ErrAbortedClosed) {
				t.Fatalf("lent read after Cancel: (%d, %v); want ErrAborted", op.N, op.Err)
			}
			unix.Write(b, []byte("after Cancel"))
			if p, err := lentRead(t, u, sink, op); err != nil || string(p) != "after Cancel" {
				t.Fatalf("read after Cancel: (%q, %v)", p, err)
			}

			// Data received ahead, then a read waiting, then Close.
			unix.Write(b, []byte("kept"))
			reap(t, u, 5*time.Millisecond)
			if p, err := lentRead(t, u, sink, op); err != nil || string(p) != "kept" {
				t.Fatalf("read: (%q, %v)", p, err)
			}
			if multishot {
				unix.Write(b, []byte("given back at the close"))
				reap(t, u, 5*time.Millisecond)
				if n := queuedOn(u, f); n != len("given back at the close") {
					t.Fatalf("%d bytes received ahead; want %d", n, len("given back at the close"))
				}
			}
			closeAndReap(t, u, sink, f)
			op.Buf, op.Lend = nil, true
			u.Submit(op)
			finishOne(t, u, sink, op)
			if !errors.Is(op.Err, net.ErrClosed) {
				t.Fatalf("read after Close: %v", op.Err)
			}

			// A read waiting at the Close.
			f2, _ := registeredPair(t, u)
			op2 := &Op{Kind: OpRead, FD: f2, Lend: true}
			u.Submit(op2)
			u.Flush()
			reap(t, u, 5*time.Millisecond)
			u.Close(f2)
			finishOne(t, u, sink, op2)
			if !errors.Is(op2.Err, ErrAbortedClosed) || op2.Buf != nil {
				t.Fatalf("lent read waiting at Close: (%d, %v); want ErrAbortedClosed", op2.N, op2.Err)
			}
			closeAndReapDone(t, u, f2)
		})
	}
}

// starveB fills every buffer of u's pool (4 × 64 bytes) with data that descriptor A's
// multishot recv receives ahead of its reads, then starts a lent read on descriptor B
// and writes "for B" to B's peer: B's read finds no buffer. It returns A, A's read op
// (idle), B and B's read op.
func starveB(t *testing.T, u *uringBackend, sink chanSink) (fa *FD, opA *Op, fb *FD, opB *Op) {
	t.Helper()
	fa, pa := registeredPair(t, u)
	opA = &Op{Kind: OpRead, FD: fa}
	unix.Write(pa, []byte("x"))
	if _, err := lentRead(t, u, sink, opA); err != nil { // arms A's request
		t.Fatal(err)
	}
	unix.Write(pa, bytes.Repeat([]byte{1}, 4*64))
	reap(t, u, 20*time.Millisecond) // A's request fills every buffer ahead of its reads

	fb, pb := registeredPair(t, u)
	opB = &Op{Kind: OpRead, FD: fb, Lend: true}
	u.Submit(opB)
	u.Flush()
	unix.Write(pb, []byte("for B"))
	return fa, opA, fb, opB
}

// TestUringStarvedReadRestartedByClose: buffers that come back to the ring without a
// Release (the queue of a descriptor closed unread) restart a read waiting for one.
func TestUringStarvedReadRestartedByClose(t *testing.T) {
	u, sink := openUringLend(t, 64, 4)
	fa, _, fb, opB := starveB(t, u, sink)
	reap(t, u, 20*time.Millisecond) // no buffer: B's read waits for one
	closeAndReap(t, u, sink, fa)    // A's buffers go back to the ring
	finishOne(t, u, sink, opB)
	if opB.Err != nil || string(opB.Buf[:opB.N]) != "for B" {
		t.Fatalf("starved read after the buffers came back: (%d, %v)", opB.N, opB.Err)
	}
	u.ReleaseBuffer(opB.BufID)
	closeAndReap(t, u, sink, fb)
}

// TestUringLentReadAfterCancel: Cancel aborts the read in flight, not one started after
// it returned while the cancelled request's last completion is still to be reaped.
func TestUringLentReadAfterCancel(t *testing.T) {
	u, sink := openUringLend(t, 64, 8)
	f, b := registeredPair(t, u)
	op := &Op{Kind: OpRead, FD: f}
	unix.Write(b, []byte("first"))
	if p, err := lentRead(t, u, sink, op); err != nil || string(p) != "first" {
		t.Fatalf("(%q, %v)", p, err)
	}
	u.Cancel(f) // nothing to abort: only the armed request, idle
	op.Buf, op.Lend = nil, true
	u.Submit(op)
	u.Flush()
	unix.Write(b, []byte("second"))
	finishOne(t, u, sink, op)
	if op.Err != nil || string(op.Buf[:op.N]) != "second" {
		t.Fatalf("read started after Cancel returned: (%d, %v); want the data", op.N, op.Err)
	}
	u.ReleaseBuffer(op.BufID)
	closeAndReap(t, u, sink, f)
}

// TestUringRecvOverlaysFD: uringRecv is kept in the FD's reactiveFD words (recvOf), so
// it must have their size and keep its pointers exactly where reactiveFD has its own,
// for the garbage collector to see them.
func TestUringRecvOverlaysFD(t *testing.T) {
	rt, ut := reflect.TypeFor[reactiveFD](), reflect.TypeFor[uringRecv]()
	if rt.Size() != ut.Size() {
		t.Fatalf("uringRecv is %d bytes, reactiveFD %d", ut.Size(), rt.Size())
	}
	ptrWords := func(ty reflect.Type) map[uintptr]bool {
		m := map[uintptr]bool{}
		for i := range ty.NumField() {
			f := ty.Field(i)
			if k := f.Type.Kind(); k == reflect.Pointer || k == reflect.UnsafePointer {
				m[f.Offset] = true
			} else if f.Type == reflect.TypeFor[opList]() {
				m[f.Offset] = true // its head
			}
		}
		return m
	}
	if got, want := ptrWords(ut), ptrWords(rt); !maps.Equal(got, want) {
		t.Fatalf("uringRecv has pointers at offsets %v, reactiveFD at %v", got, want)
	}
}

// TestUringStarvedReadsAllRestarted: more reads wait for a buffer than buffers come
// back. On an incremental ring one returned buffer serves them all, each taking a
// small piece; restarting one read per returned buffer (a plain ring's rule) left the
// third waiting for good, with the ring almost empty of data (found by review).
func TestUringStarvedReadsAllRestarted(t *testing.T) {
	u, sink := openUringLend(t, 64, 2)
	fa, pa := registeredPair(t, u)
	var held []int32
	for range 2 { // every buffer held, full
		unix.Write(pa, bytes.Repeat([]byte{1}, 64))
		op := &Op{Kind: OpRead, FD: fa, Lend: true}
		u.Submit(op)
		u.Flush()
		finishOne(t, u, sink, op)
		if op.Err != nil || op.N != 64 {
			t.Fatalf("read filling a buffer: (%d, %v)", op.N, op.Err)
		}
		held = append(held, op.BufID)
	}
	for range 3 {
		f, p := registeredPair(t, u)
		op := &Op{Kind: OpRead, FD: f, Lend: true}
		u.Submit(op)
		u.Flush()
		unix.Write(p, []byte("hi"))
		reap(t, u, 20*time.Millisecond)
	}
	u.mu.Lock()
	starved := len(u.starved)
	u.mu.Unlock()
	if starved != 3 {
		t.Fatalf("%d reads wait for a buffer; want 3", starved)
	}
	for _, id := range held {
		u.ReleaseBuffer(id)
	}
	done := map[*Op]bool{}
	collect(t, u, sink, 3*time.Second, func() bool { return len(done) == 3 }, func(op *Op) {
		if op.Err != nil || string(op.Buf[:op.N]) != "hi" {
			t.Fatalf("starved read completed with (%q, %v); want \"hi\"", op.Buf[:op.N], op.Err)
		}
		u.ReleaseBuffer(op.BufID)
		done[op] = true
	})
	if len(done) < 3 {
		t.Fatalf("%d of 3 reads waiting for a buffer completed after both buffers came back", len(done))
	}
}

// TestUringLentReadsLargeMessagesUseRequests: a descriptor whose large messages queue
// up ahead of its reads, or one of many descriptors reading large messages, switches
// to a request per read, which copies when the read asks rather than when the data
// arrives; one large message at a time on a few descriptors stays multishot (it stays
// in the cache). A small message brings the multishot recv back. The bytes arrive in
// order across every switch.
func TestUringLentReadsLargeMessagesUseRequests(t *testing.T) {
	toldSleeps(t) // the test counts entries: no tick among them
	u, sink := openUringLend(t, 16<<10, 16)
	f, b := registeredPair(t, u)
	w := newWaitingReads(t, u, sink, f, b)
	state := func() (armed, single bool) {
		u.mu.Lock()
		defer u.mu.Unlock()
		rs := recvOf(f)
		return rs.armed, rs.single
	}
	w.read(100, 1)
	if armed, single := state(); !armed || single {
		t.Fatalf("after a small message: armed %v, single %v; want the multishot recv armed", armed, single)
	}
	w.read(lentSingleMin, 2)
	w.read(4096, 3)
	if armed, single := state(); !armed || single {
		t.Fatalf("after large messages one at a time: armed %v, single %v; want the multishot recv still", armed, single)
	}

	// Large messages ahead of the reads: the second queued one switches.
	for v := byte(4); v <= 6; v++ {
		msg := bytes.Repeat([]byte{v}, 4096)
		w.want = append(w.want, msg...)
		if _, err := unix.Write(b, msg); err != nil {
			t.Fatal(err)
		}
		reap(t, u, 5*time.Millisecond) // received ahead; after the second, the cancel lands
	}
	if armed, single := state(); armed || !single {
		t.Fatalf("after large messages queued ahead of the reads: armed %v, single %v; want requests per read", armed, single)
	}
	for len(w.got) < len(w.want) {
		p, err := lentRead(t, u, sink, w.op)
		if err != nil {
			t.Fatal(err)
		}
		w.got = append(w.got, p...)
	}
	tail := u.ring.SQTail()
	w.read(4096, 7)
	w.read(4096, 8)
	if armed, single := state(); armed || !single {
		t.Fatalf("reading large messages: armed %v, single %v; want requests per read", armed, single)
	}
	if reqs := u.ring.SQTail() - tail; reqs != 2 {
		t.Fatalf("%d requests for 2 reads in request mode; want 2", reqs)
	}
	w.read(lentMultiMax-1, 9) // small again
	w.read(100, 10)
	if armed, single := state(); !armed || single {
		t.Fatalf("after small messages: armed %v, single %v; want the multishot recv again", armed, single)
	}

	// Many descriptors reading: one large message switches.
	u.mu.Lock()
	u.readers.last = lentSingleReaders + 1 // as if they read in the last epoch
	u.mu.Unlock()
	w.read(4096, 11)
	reap(t, u, 5*time.Millisecond) // the cancel lands
	if armed, single := state(); armed || !single {
		t.Fatalf("a large message with %d descriptors reading: armed %v, single %v; want requests per read", lentSingleReaders+1, armed, single)
	}
	w.read(100, 12)
	w.inOrder()
	closeAndReap(t, u, sink, f)
}

// TestUringLendRingKeepsAHotSet: the ring holds only want buffers and takes back the
// most recently freed, so a busy connection cycles through a few buffers (that stay in
// the cache) rather than through the whole pool; reads that find the ring empty while
// buffers are spare make it hold more, so no read waits for a release while a buffer
// is free.
func TestUringLendRingKeepsAHotSet(t *testing.T) {
	noBulk(t) // the ring's own behaviour: reads that go through it
	const size, count = 64 << 10, 64
	u, sink := openUringLend(t, size, count)
	f, p := registeredPair(t, u)
	msg := bytes.Repeat([]byte{7}, size)
	used := map[int32]bool{}
	for range 40 {
		lentReadAll(t, u, sink, f, p, msg, func(op *Op) {
			used[op.BufID] = true
			u.ReleaseBuffer(op.BufID)
		})
	}
	u.mu.Lock()
	want0, ring, spare := u.lend.want0, u.lend.ring, len(u.lend.spare)
	u.mu.Unlock()
	if want0 >= count/2 {
		t.Fatalf("the ring starts with %d of %d buffers; want fewer", want0, count)
	}
	if ring > want0 || ring+spare != count {
		t.Fatalf("ring %d, spare %d of %d buffers; want the ring at most %d and every buffer in one of them", ring, spare, count, want0)
	}
	if len(used) > want0+2 {
		t.Fatalf("40 reads of %d bytes used %d buffers; want at most %d (the ring's hold and the ones coming back)", size, len(used), want0+2)
	}
	closeAndReap(t, u, sink, f)

	// Many connections holding what they read: more than the ring's hold.
	const conns = 40
	ops := make([]*Op, conns)
	for i := range ops {
		f, p := registeredPair(t, u)
		if _, err := unix.Write(p, msg); err != nil {
			t.Fatal(err)
		}
		ops[i] = &Op{Kind: OpRead, FD: f, Lend: true}
		u.Submit(ops[i])
	}
	u.Flush()
	done := map[*Op]bool{}
	collect(t, u, sink, 5*time.Second, func() bool { return len(done) == conns }, func(op *Op) {
		if op.Err != nil || op.N == 0 {
			t.Fatalf("read completed with (%d, %v)", op.N, op.Err)
		}
		done[op] = true
	})
	if len(done) < conns {
		t.Fatalf("%d of %d reads holding their buffers got data with %d buffers in the pool", len(done), conns, count)
	}
	u.mu.Lock()
	want := u.lend.want
	u.mu.Unlock()
	if want <= want0 {
		t.Fatalf("the ring's hold stayed at %d after it ran empty", want)
	}
	for _, op := range ops {
		u.ReleaseBuffer(op.BufID)
	}
	for _, op := range ops {
		closeAndReap(t, u, sink, op.FD)
	}
}

// TestUringLentReadsWithRunnersUseRequests: with more than one runner every lent
// read is a request of its own (a multishot recv armed before is cancelled at its
// next completion); with one again, reads share the multishot recv.
func TestUringLentReadsWithRunnersUseRequests(t *testing.T) {
	toldSleeps(t) // the test counts entries: no tick among them
	u, sink := openUringLend(t, 4096, 16)
	f, b := registeredPair(t, u)
	w := newWaitingReads(t, u, sink, f, b)
	armed := func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return recvOf(f).armed
	}
	u.SetRunners(1)
	w.read(100, 1)
	if !armed() {
		t.Fatal("one runner: the multishot recv is not armed")
	}
	u.SetRunners(2)
	w.read(100, 2) // the armed request delivers it, and is cancelled
	reap(t, u, 5*time.Millisecond)
	if armed() {
		t.Fatal("two runners: the multishot recv is still armed")
	}
	tail := u.ring.SQTail()
	for v := byte(3); v < 6; v++ {
		w.read(100, v)
	}
	if reqs := u.ring.SQTail() - tail; reqs != 3 {
		t.Fatalf("two runners: %d requests for 3 reads; want 3", reqs)
	}
	if armed() {
		t.Fatal("two runners: a multishot recv was armed")
	}
	u.SetRunners(1)
	w.read(100, 6)
	w.read(100, 7)
	if !armed() {
		t.Fatal("one runner again: the multishot recv is not armed")
	}
	w.inOrder()
	closeAndReap(t, u, sink, f)
}

// TestUringStarvedReadBehindIdleReadsGetsABuffer: every buffer given back restarts a
// read waiting for one, including a buffer that goes to the spare stack because the
// ring already holds want. Reads restarted into idle sockets take no buffer, so a read
// queued behind them, with data in its socket, must still be restarted.
func TestUringStarvedReadBehindIdleReadsGetsABuffer(t *testing.T) {
	noBulk(t) // the ring's own behaviour: reads that go through it
	const size, count = 64 << 10, 32
	u, sink := openUringLend(t, size, count)
	fa, pa := registeredPair(t, u)
	msg := bytes.Repeat([]byte{7}, size)
	var held []int32
	for range count { // every buffer lent
		lentReadAll(t, u, sink, fa, pa, msg, func(op *Op) { held = append(held, op.BufID) })
	}
	u.mu.Lock()
	want0 := u.lend.want0
	u.mu.Unlock()

	first, p0 := registeredPair(t, u)
	unix.Write(p0, []byte("y0"))
	op0 := &Op{Kind: OpRead, FD: first, Lend: true}
	u.Submit(op0)
	u.Flush()
	reap(t, u, 20*time.Millisecond)
	var idle []*Op
	for range want0 { // as many reads as the ring holds, on sockets with no data
		f, _ := registeredPair(t, u)
		op := &Op{Kind: OpRead, FD: f, Lend: true}
		idle = append(idle, op)
		u.Submit(op)
	}
	last, p1 := registeredPair(t, u)
	unix.Write(p1, []byte("hi"))
	op1 := &Op{Kind: OpRead, FD: last, Lend: true}
	u.Submit(op1)
	u.Flush()
	reap(t, u, 20*time.Millisecond)

	for _, id := range held {
		u.ReleaseBuffer(id)
	}
	got := map[*Op]bool{}
	collect(t, u, sink, 3*time.Second, func() bool { return got[op0] && got[op1] }, func(op *Op) {
		if op.Err != nil || op.N == 0 {
			t.Fatalf("read completed with (%d, %v)", op.N, op.Err)
		}
		got[op] = true
		u.ReleaseBuffer(op.BufID)
	})
	if !got[op0] || !got[op1] {
		u.mu.Lock()
		st, ring, spare := len(u.starved), u.lend.ring, len(u.lend.spare)
		u.mu.Unlock()
		t.Fatalf("reads with data done: first %v, last %v; %d reads wait for a buffer with %d in the ring and %d spare",
			got[op0], got[op1], st, ring, spare)
	}
	for _, op := range idle {
		closeAndReap(t, u, sink, op.FD)
	}
	for _, f := range []*FD{first, last, fa} {
		closeAndReap(t, u, sink, f)
	}
}

// crowdState is what the crowding tests look at: whether f's multishot recv is armed,
// whether lent reads are crowded, and how many descriptors count as reading.
func crowdState(u *uringBackend, f *FD) (armed, crowded bool, readers int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return recvOf(f).armed, u.crowded, u.readers.busy()
}

// TestUringLentReadsOfManyDescriptorsUseRequests: from crowdOn descriptors making lent
// reads, each read makes a request instead of sharing a multishot recv (an armed one is
// cancelled at its next completion); below crowdOff the multishot recv comes back.
// Descriptors count while they read: one that stops, idle or closed, no longer counts
// an epoch (readEpochReads lent reads) later.
func TestUringLentReadsOfManyDescriptorsUseRequests(t *testing.T) {
	toldSleeps(t) // the test counts entries: no tick among them
	on, off, epoch := crowdOn, crowdOff, readEpochReads
	crowdOn, crowdOff, readEpochReads = 3, 2, 8
	t.Cleanup(func() { crowdOn, crowdOff, readEpochReads = on, off, epoch })
	u, sink := openUringLend(t, 4096, 16)
	f, b := registeredPair(t, u)
	w := newWaitingReads(t, u, sink, f, b)
	state := func() (armed, crowded bool, readers int) { return crowdState(u, f) }
	w.read(100, 1)
	if armed, crowded, n := state(); !armed || crowded || n != 1 {
		t.Fatalf("one reading descriptor: armed %v, crowded %v, readers %d; want the multishot recv, 1 reader", armed, crowded, n)
	}
	var others []*FD
	for i := range 2 {
		g, gb := registeredPair(t, u)
		write(t, gb, []byte{byte(i)})
		if got, err := lentRead(t, u, sink, &Op{Kind: OpRead, FD: g}); err != nil || len(got) != 1 {
			t.Fatalf("read on another descriptor: %q, %v", got, err)
		}
		others = append(others, g)
	}
	w.read(100, 2) // the armed request delivers it; the reap decides, and cancels it
	reap(t, u, 5*time.Millisecond)
	if armed, crowded, n := state(); armed || !crowded || n != 3 {
		t.Fatalf("three reading descriptors: armed %v, crowded %v, readers %d; want requests, 3 readers", armed, crowded, n)
	}
	tail := u.ring.SQTail()
	for v := byte(3); v < 6; v++ {
		w.read(100, v)
	}
	if reqs := u.ring.SQTail() - tail; reqs != 3 {
		t.Fatalf("crowded: %d requests for 3 reads; want 3", reqs)
	}

	// The others stop reading: one is closed, one stays open and idle. Only f reads
	// now, and the two stop counting once an epoch has passed without them.
	closeAndReap(t, u, sink, others[0])
	reads := 7 // lent reads started so far, in the first epoch
	v := byte(6)
	for ; ; v++ {
		if _, crowded, _ := state(); !crowded {
			break
		}
		if reads > 2*readEpochReads+2 {
			t.Fatalf("still crowded after %d lent reads, all on one descriptor", reads)
		}
		w.read(100, v)
		reads++
	}
	if reads <= readEpochReads {
		t.Fatalf("the crowd ended after %d lent reads, inside the epoch in which 3 descriptors read", reads)
	}
	w.read(100, v+1)
	w.read(100, v+2)
	if armed, crowded, n := state(); !armed || crowded || n != 1 {
		t.Fatalf("one descriptor reading, one idle: armed %v, crowded %v, readers %d; want the multishot recv, 1 reader", armed, crowded, n)
	}
	w.inOrder()
	closeAndReap(t, u, sink, f)
	closeAndReap(t, u, sink, others[1])
}

// TestUringLargeLentReadsAreNotCrowded: many reading descriptors make a request per
// lent read only while receives are small (under crowdSmall bytes on average over
// crowdSizeReads of them); from twice that they keep the multishot recv, and small
// receives bring the requests back.
func TestUringLargeLentReadsAreNotCrowded(t *testing.T) {
	toldSleeps(t) // the test counts entries: no tick among them
	on, off, epoch, small, window := crowdOn, crowdOff, readEpochReads, crowdSmall, crowdSizeReads
	crowdOn, crowdOff, readEpochReads, crowdSmall, crowdSizeReads = 3, 2, 8, 16, 4
	t.Cleanup(func() { crowdOn, crowdOff, readEpochReads, crowdSmall, crowdSizeReads = on, off, epoch, small, window })
	u, sink := openUringLend(t, 4096, 16)
	f, b := registeredPair(t, u)
	w := newWaitingReads(t, u, sink, f, b)
	state := func() (armed, crowded bool, readers int) { return crowdState(u, f) }
	type other struct {
		fd   *FD
		peer int
	}
	var others []other
	for range 2 {
		g, gb := registeredPair(t, u)
		others = append(others, other{g, gb})
	}
	// othersRead has each other descriptor receive n bytes, so that three descriptors
	// keep reading.
	othersRead := func(n int) {
		t.Helper()
		for _, o := range others {
			write(t, o.peer, bytes.Repeat([]byte{'o'}, n))
			if got, err := lentRead(t, u, sink, &Op{Kind: OpRead, FD: o.fd}); err != nil || len(got) != n {
				t.Fatalf("read on another descriptor: %d bytes, %v; want %d", len(got), err, n)
			}
		}
	}
	v := byte(0)
	for range 3 {
		othersRead(100)
		w.read(100, v)
		v++
	}
	if armed, crowded, n := state(); !armed || crowded || n != 3 {
		t.Fatalf("three descriptors reading 100 bytes a receive: armed %v, crowded %v, readers %d; want the multishot recv, 3 readers", armed, crowded, n)
	}
	tail := u.ring.SQTail()
	w.read(100, v)
	v++
	if reqs := u.ring.SQTail() - tail; reqs != 0 {
		t.Fatalf("large receives: %d entries for a read on the armed recv; want none", reqs)
	}

	// Small receives: a window of them turns the reads to requests.
	for i := 0; ; i++ {
		if _, crowded, _ := state(); crowded {
			break
		}
		if i > 3*crowdSizeReads {
			t.Fatalf("not crowded after %d rounds of 1-byte receives on three descriptors", i)
		}
		othersRead(1)
		w.read(1, v)
		v++
	}
	w.read(1, v) // the armed recv delivers it, and its cancel follows
	v++
	reap(t, u, 5*time.Millisecond)
	tail = u.ring.SQTail()
	for range 3 {
		w.read(1, v)
		v++
	}
	if reqs := u.ring.SQTail() - tail; reqs != 3 {
		t.Fatalf("small receives, crowded: %d entries for 3 reads; want 3 requests", reqs)
	}
	if armed, crowded, _ := state(); armed || !crowded {
		t.Fatalf("small receives: armed %v, crowded %v; want requests", armed, crowded)
	}
	w.inOrder()
	closeAndReap(t, u, sink, f)
	for _, o := range others {
		closeAndReap(t, u, sink, o.fd)
	}
}

// TestUringRequestReadClosedWhileWaitingForAnEntry: a lent read made with a request
// (recvOnce) must take its entry, and a full SQ lets sqe drop the lock to make room. A
// Close that runs there finds nothing of the read's to abort: the read is neither the
// multishot recv's waiter nor starved. It must fail with ErrAbortedClosed by itself,
// and no request may be made to hold the descriptor open until data comes (the Close's
// cancel by descriptor went ahead of it). The hook stands for the full SQ.
func TestUringRequestReadClosedWhileWaitingForAnEntry(t *testing.T) {
	u, sink := openUringLend(t, 4096, 16)
	f, _ := registeredPair(t, u)
	u.SetRunners(2) // reads make a request each (perRead)
	defer u.SetRunners(0)
	var closeErr error
	u.mu.Lock()
	u.sqeDropped = func() { closeErr = u.Close(f) }
	u.mu.Unlock()
	op := &Op{Kind: OpRead, FD: f, Lend: true}
	u.Submit(op)
	u.Flush()
	if closeErr != nil {
		t.Fatalf("Close in the window: %v", closeErr)
	}
	finishOne(t, u, sink, op)
	if op.Err != ErrAbortedClosed || op.Buf != nil {
		t.Fatalf("read closed while it waited for an entry: (%d, %v), buffer %v; want ErrAbortedClosed and none", op.N, op.Err, op.Buf != nil)
	}
	closeAndReapDone(t, u, f)
}

// TestUringLentWriteGivenBackInTheReap: a write that names the lent buffer it writes
// (Op.BufID) gets it back to the pool in the reap once all of it is written, and says
// so (BufID 0), so that the owner does not release it again; a write that fails keeps
// it for the owner to release.
func TestUringLentWriteGivenBackInTheReap(t *testing.T) {
	u, sink := openUringLend(t, 4096, 8)
	f, b := registeredPair(t, u)
	read := func() *Op {
		t.Helper()
		if _, err := unix.Write(b, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		r := &Op{Kind: OpRead, FD: f, Lend: true}
		u.Submit(r)
		u.Flush()
		finishOne(t, u, sink, r)
		if r.Err != nil || r.N != 5 {
			t.Fatalf("lent read = (%d, %v)", r.N, r.Err)
		}
		return r
	}
	lentPieces := func(id int32) int32 {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.lend.pieces[id]
	}

	r := read()
	id := r.BufID
	w := &Op{Kind: OpWrite, FD: f, Buf: r.Buf[:r.N], BufID: id + 1}
	u.Submit(w)
	u.Flush()
	finishOne(t, u, sink, w)
	if w.Err != nil || w.N != 5 || w.BufID != 0 {
		t.Fatalf("lent write = (%d, %v) with BufID %d; want (5, nil) and 0: given back", w.N, w.Err, w.BufID)
	}
	if n := lentPieces(id); n != 0 {
		t.Fatalf("buffer %d has %d pieces lent after its write was reaped; want 0", id, n)
	}
	echo := make([]byte, 5)
	if n, err := unix.Read(b, echo); err != nil || string(echo[:n]) != "hello" {
		t.Fatalf("peer read %q, %v", echo[:n], err)
	}

	// A write that fails leaves the buffer lent, for its owner to give back.
	r = read()
	id = r.BufID
	if err := unix.Shutdown(f.Sysfd, unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	w = &Op{Kind: OpWrite, FD: f, Buf: r.Buf[:r.N], BufID: id + 1}
	u.Submit(w)
	u.Flush()
	finishOne(t, u, sink, w)
	if w.Err == nil || w.BufID != id+1 {
		t.Fatalf("write after shutdown = (%d, %v) with BufID %d; want an error and %d kept", w.N, w.Err, w.BufID, id+1)
	}
	if n := lentPieces(id); n != 1 {
		t.Fatalf("buffer %d has %d pieces lent after a failed write; want 1", id, n)
	}
	u.ReleaseBuffer(id)
	closeAndReap(t, u, sink, f)
}

// TestUringStarvedReadSeesABufferFreedBeforeItsReap: a read's ENOBUFS may be reaped
// after a buffer went back to the ring (the release found no read starved yet, so it
// restarted none). The read must not then wait for a later release with a buffer in
// the ring: the application may be holding every other one until this read's data
// comes (found by review).
func TestUringStarvedReadSeesABufferFreedBeforeItsReap(t *testing.T) {
	toldSleeps(t) // the only completion before B's must be none: no tick
	u, sink := openUringLend(t, 64, 4)
	fa, opA, fb, opB := starveB(t, u, sink)
	// Let the kernel fail B's receive (no buffer) without reaping its completion.
	for deadline := time.Now().Add(time.Second); u.ring.CQReady() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no completion for B's receive")
		}
		if _, err := u.ring.Enter(0, 0, uring.EnterGetEvents, -1); err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
	}
	// A read on A takes a piece received ahead; its release hands a buffer back to
	// the ring while B's ENOBUFS waits in the completion queue.
	opA.Buf, opA.Lend = nil, true
	u.Submit(opA)
	select {
	case <-sink:
	default:
		t.Fatal("A's read did not complete from the data received ahead")
	}
	u.ReleaseBuffer(opA.BufID)

	var ready []*Op
	for deadline := time.Now().Add(500 * time.Millisecond); ; {
		if time.Now().After(deadline) {
			t.Fatal("B's read still waits for a buffer with one in the ring")
		}
		var err error
		if ready, err = u.Wait(5*time.Millisecond, ready[:0]); err != nil {
			t.Fatal(err)
		}
		if len(ready) > 0 {
			break
		}
		select {
		case op := <-sink:
			ready = append(ready, op)
		default:
		}
		if len(ready) > 0 {
			break
		}
	}
	if ready[0] != opB || opB.Err != nil || string(opB.Buf[:opB.N]) != "for B" {
		t.Fatalf("B's read = (%d, %v)", opB.N, opB.Err)
	}
	u.ReleaseBuffer(opB.BufID)
	closeAndReap(t, u, sink, fa)
	closeAndReap(t, u, sink, fb)
}

// TestUringOwnReadBehindRecvIsInFlight: an own-buffer read waiting for lent reads'
// recv to end (ownAfter) counts in InFlight, which Context.Close waits on; without it
// Close could stop waiting before the read's completion and drop its handler (found
// by review).
func TestUringOwnReadBehindRecvIsInFlight(t *testing.T) {
	u, sink := openUringLend(t, 4096, 16)
	f, b := registeredPair(t, u)
	unix.Write(b, []byte("a"))
	first := &Op{Kind: OpRead, FD: f}
	if _, err := lentRead(t, u, sink, first); err != nil { // gives its buffer back
		t.Fatal(err)
	}
	if !recvOf(f).armed {
		t.Skip("the lent read used a request of its own, not the multishot recv: nothing to wait behind")
	}
	own := &Op{Kind: OpRead, FD: f, Buf: make([]byte, 8)}
	u.Submit(own)
	if n := u.InFlight(); n == 0 {
		t.Errorf("InFlight() = 0 with an own-buffer read waiting for the recv to end")
	}
	u.Close(f)
	finishOne(t, u, sink, own)
	if own.Err == nil {
		t.Fatalf("own-buffer read after Close = (%d, nil); want an error", own.N)
	}
}
