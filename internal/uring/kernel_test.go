//go:build linux

package uring

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Kernel facts the io_uring backend relies on, one test each: the probes T3-T14 of
// ../shared/iouring-verify (IOURING.md §3, §8, Appendix A) as tests. A test that fails
// here means the kernel no longer behaves as the backend assumes; one that skips names
// the feature and the kernel version that lacks it.

// A SINGLE_ISSUER ring belongs to the thread that created it: the first submission
// from any other thread is refused with EEXIST, even when that thread is the first to
// submit anything (T11). So the backend creates its ring on the locked owner thread.
func TestSingleIssuerRejectsOtherThread(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint32
	}{
		{"SINGLE_ISSUER", SetupSingleIssuer},
		{"SINGLE_ISSUER|DEFER_TASKRUN", SetupSingleIssuer | SetupDeferTaskrun},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			owner, other := startThread(t), startThread(t)
			r := newOwnedRing(t, owner, 8, tc.flags)
			var n int
			var err error
			other.run(t, func() {
				r.GetSQE().PrepNop(1)
				n, err = r.Enter(r.Publish(), 0, 0, -1)
			})
			if !errors.Is(err, unix.EEXIST) {
				t.Fatalf("first submission from thread %d to a ring created on thread %d: %d, %v; want EEXIST", other.tid, owner.tid, n, err)
			}
			// Control: the creating thread may submit the very same entry.
			owner.run(t, func() { n, err = r.Enter(r.SQPending(), 0, 0, -1) })
			if err != nil || n != 1 {
				t.Fatalf("submission from the creating thread: %d, %v; want 1, nil", n, err)
			}
		})
	}
}

// With DEFER_TASKRUN a completion is not posted when the I/O happens but when the owner
// next enters with GETEVENTS: until then the CQ stays empty (peeking from elsewhere
// shows nothing) and TASKRUN_FLAG raises SQ_TASKRUN to say work waits. Another thread
// cannot run that work: its GETEVENTS is refused with EEXIST. The owner's GETEVENTS
// with min_complete 0 runs it without blocking (T3).
func TestDeferTaskrunNeedsOwnerEnter(t *testing.T) {
	checkLeaks(t)
	buf := kernelBuf(t, 16)
	srv, cli := tcpPair(t)
	owner, other := startThread(t), startThread(t)
	r := newOwnedRing(t, owner, 8, SetupSingleIssuer|SetupDeferTaskrun|SetupTaskrunFlag)
	var err error
	owner.run(t, func() {
		r.GetSQE().PrepRecv(srv, buf, 0, 1)
		err = submit(r)
	})
	if err != nil {
		t.Fatalf("owner's submission: %v", err)
	}

	write(t, cli, "hello")
	// SQ_TASKRUN rises once the data has arrived and the recv's completion is queued
	// for the owner: from then on, nothing but the owner's enter posts it.
	waitUntil(t, time.Second, "SQ_TASKRUN after the peer's write", func() bool { return r.SQFlags()&SQTaskrun != 0 })
	if n := r.CQReady(); n != 0 {
		t.Fatalf("%d completions in the CQ before the owner entered; want the recv's deferred", n)
	}
	other.run(t, func() { _, err = r.Enter(0, 1, EnterGetEvents, 50*time.Millisecond) })
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("GETEVENTS from a thread other than the owner: %v; want EEXIST", err)
	}
	if n := r.CQReady(); n != 0 {
		t.Fatalf("the refused GETEVENTS posted %d completions", n)
	}

	var got []CQE
	owner.run(t, func() {
		if _, err = r.Enter(0, 0, EnterGetEvents, -1); err == nil {
			got, err = reap(r, 0, 0)
		}
	})
	if err != nil || len(got) != 1 || got[0].UserData != 1 || got[0].Res != 5 || string(buf[:5]) != "hello" {
		t.Fatalf("after the owner's GETEVENTS(min_complete 0): %s, %q, %v; want the recv of 5 bytes \"hello\"", describe(got), buf[:5], err)
	}
	if r.SQFlags()&SQTaskrun != 0 {
		t.Fatalf("SQ_TASKRUN still set (flags %#x) after the owner ran the work", r.SQFlags())
	}
}

// A submission the kernel refuses (EEXIST, from a thread that is not the owner) does not
// consume the entries: they stay published in the SQ, are not counted as dropped, and
// the owner's next submission runs them (T3). So the backend must never publish the SQ
// tail off the owner thread: what it publishes cannot be taken back.
func TestRejectedSubmitStaysQueued(t *testing.T) {
	checkLeaks(t)
	owner, other := startThread(t), startThread(t)
	r := newOwnedRing(t, owner, 8, SetupSingleIssuer|SetupDeferTaskrun)
	var err error
	other.run(t, func() {
		r.GetSQE().PrepNop(99)
		_, err = r.Enter(r.Publish(), 0, 0, -1)
	})
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("submission from a foreign thread: %v; want EEXIST", err)
	}
	if p, d := r.SQPending(), r.Dropped(); p != 1 || d != 0 {
		t.Fatalf("after the refusal: %d entries pending, %d dropped; want 1 pending, 0 dropped", p, d)
	}

	var n int
	var got []CQE
	owner.run(t, func() {
		if n, err = r.Enter(r.SQPending(), 1, EnterGetEvents, time.Second); err == nil {
			got, err = reap(r, 1, time.Second)
		}
	})
	if err != nil || n != 1 || len(got) != 1 || got[0].UserData != 99 || got[0].Res != 0 {
		t.Fatalf("owner's next submission: consumed %d, completions %s, %v; want the foreign NOP (ud 99) run", n, describe(got), err)
	}
}

// The backend's wake-up: another goroutine writes an eventfd on which the owner keeps a
// multishot POLL_ADD, and the owner, asleep in io_uring_enter(GETEVENTS) on a
// DEFER_TASKRUN ring, returns with the poll's completion; F_MORE says the poll stays
// armed, and a second write wakes it again (T10).
func TestEventfdWakesDeferTaskrunOwner(t *testing.T) {
	checkLeaks(t)
	efd := newEventfd(t)
	owner := startThread(t)
	r := newOwnedRing(t, owner, 8, SetupSingleIssuer|SetupDeferTaskrun)
	var err error
	owner.run(t, func() {
		r.GetSQE().PrepPollAdd(efd, unix.POLLIN, true, 50)
		err = submit(r)
	})
	if err != nil {
		t.Fatalf("arming the poll: %v", err)
	}

	for round := 1; round <= 2; round++ {
		var got []CQE
		woke := owner.start(func() { got, err = reap(r, 1, 2*time.Second) })
		waitBlockedInEnter(t, owner.tid)
		signalEventfd(t, efd)
		if !within(woke, time.Second) {
			t.Fatalf("round %d: the owner slept on 1s after the eventfd write", round)
		}
		if err != nil || len(got) != 1 || got[0].UserData != 50 || got[0].Res&unix.POLLIN == 0 || got[0].Flags&CQEFMore == 0 {
			t.Fatalf("round %d: owner woke with %s, %v; want the poll's completion (ud 50, POLLIN, MORE)", round, describe(got), err)
		}
		drainEventfd(t, efd)
	}
}

// With DEFER_TASKRUN a registered eventfd is signalled as soon as work is queued for the
// owner, while the CQ is still empty: a netpoller watching it learns that the owner must
// enter (GETEVENTS, min_complete 0), with no thread blocked in io_uring_enter (T10).
func TestDeferredWorkSignalsRegisteredEventfd(t *testing.T) {
	checkLeaks(t)
	buf := kernelBuf(t, 16)
	srv, cli := tcpPair(t)
	notify := newEventfd(t)
	owner := startThread(t)
	r := newOwnedRing(t, owner, 8, SetupSingleIssuer|SetupDeferTaskrun)
	var err error
	owner.run(t, func() {
		if err = r.RegisterEventfd(notify); err == nil {
			r.GetSQE().PrepRecv(srv, buf, 0, 51)
			err = submit(r)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := drainEventfd(t, notify); v != 0 {
		t.Fatalf("eventfd counter %d before any I/O; want 0", v)
	}

	write(t, cli, "data")
	if !pollIn(t, notify, time.Second) {
		t.Fatal("registered eventfd not signalled within 1s of the peer's write")
	}
	if v, n := drainEventfd(t, notify), r.CQReady(); v == 0 || n != 0 {
		t.Fatalf("eventfd counter %d with %d completions posted; want a signal while the completion is still deferred", v, n)
	}

	var got []CQE
	owner.run(t, func() {
		if _, err = r.Enter(0, 0, EnterGetEvents, -1); err == nil {
			got, err = reap(r, 0, 0)
		}
	})
	if err != nil || len(got) != 1 || got[0].UserData != 51 || got[0].Res != 4 {
		t.Fatalf("owner's GETEVENTS after the signal: %s, %v; want the recv of 4 bytes", describe(got), err)
	}
	owner.run(t, func() { err = r.UnregisterEventfd() })
	if err != nil {
		t.Fatal(err)
	}
}

// With DEFER_TASKRUN the ring descriptor polls readable as soon as work is queued for
// the owner, while the CQ is still empty: the other way for a netpoller to learn that
// the owner must enter (T10).
func TestDeferredWorkMakesRingFdReadable(t *testing.T) {
	checkLeaks(t)
	buf := kernelBuf(t, 16)
	srv, cli := tcpPair(t)
	owner := startThread(t)
	r := newOwnedRing(t, owner, 8, SetupSingleIssuer|SetupDeferTaskrun)
	var err error
	owner.run(t, func() {
		r.GetSQE().PrepRecv(srv, buf, 0, 52)
		err = submit(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if pollIn(t, r.Fd(), 0) {
		t.Fatal("ring descriptor readable with no I/O done")
	}

	write(t, cli, "data")
	if !pollIn(t, r.Fd(), time.Second) {
		t.Fatal("ring descriptor not readable within 1s of the peer's write")
	}
	if n := r.CQReady(); n != 0 {
		t.Fatalf("%d completions posted before the owner entered; want the recv's deferred", n)
	}

	var got []CQE
	owner.run(t, func() {
		if _, err = r.Enter(0, 0, EnterGetEvents, -1); err == nil {
			got, err = reap(r, 0, 0)
		}
	})
	if err != nil || len(got) != 1 || got[0].UserData != 52 || got[0].Res != 4 {
		t.Fatalf("owner's GETEVENTS after the ring became readable: %s, %v; want the recv of 4 bytes", describe(got), err)
	}
}

// close(2) does not cancel a pending request: io_uring holds its own reference to the
// file, so the recv neither completes nor fails, and data the peer sends afterwards is
// received through the closed descriptor (T7). Closing with ops in flight therefore
// needs a cancel (or shutdown) first, and the fd number is no identity for a request.
func TestCloseDoesNotCancelPendingRecv(t *testing.T) {
	checkLeaks(t)
	buf := kernelBuf(t, 16)
	r := newPlainRing(t, 8, 0)
	srv, cli := tcpPairRaw(t)
	defer unix.Close(cli)
	srvOpen := true
	defer func() {
		if srvOpen {
			unix.Close(srv)
		}
	}()

	r.GetSQE().PrepRecv(srv, buf, 0, 1)
	mustSubmit(t, r)
	if err := unix.Close(srv); err != nil {
		t.Fatal(err)
	}
	srvOpen = false
	expectNone(t, r, 100*time.Millisecond, "after close(2) of the recv's socket")

	write(t, cli, "late")
	got := mustReap(t, r, 1, time.Second)
	if got[0].UserData != 1 || got[0].Res != 4 || string(buf[:4]) != "late" {
		t.Fatalf("after the peer's write: %s, buffer %q; want the recv of \"late\" through the closed descriptor", describe(got), buf[:4])
	}
}

// shutdown(SHUT_RDWR), as a syscall or as IORING_OP_SHUTDOWN, ends a pending recv at
// once with 0 (end of stream): the way to stop a socket's requests before close (T7).
func TestShutdownCompletesPendingRecv(t *testing.T) {
	for _, tc := range []struct {
		name  string
		useOp bool
	}{{"shutdown(2)", false}, {"IORING_OP_SHUTDOWN", true}} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			buf := kernelBuf(t, 16)
			r := newPlainRing(t, 8, 0)
			srv, _ := tcpPair(t)
			r.GetSQE().PrepRecv(srv, buf, 0, 1)
			mustSubmit(t, r)
			expectNone(t, r, 20*time.Millisecond, "recv on a silent socket")

			want := 1
			if tc.useOp {
				requireOp(t, r, OpShutdown, "IORING_OP_SHUTDOWN (5.11)")
				r.GetSQE().PrepShutdown(srv, unix.SHUT_RDWR, 2)
				mustSubmit(t, r)
				want = 2
			} else if err := unix.Shutdown(srv, unix.SHUT_RDWR); err != nil {
				t.Fatal(err)
			}
			got := byUserData(t, mustReap(t, r, want, time.Second))
			if c, ok := got[1]; !ok || c.Res != 0 {
				t.Fatalf("recv after shutdown: %s; want res 0 (end of stream)", describe([]CQE{c}))
			}
			if c, ok := got[2]; tc.useOp && (!ok || c.Res != 0) {
				t.Fatalf("IORING_OP_SHUTDOWN: %s; want res 0", describe([]CQE{c}))
			}
		})
	}
}

// A multishot recv whose buffer group runs dry ends with -ENOBUFS and no F_MORE; the
// data that found no buffer stays in the socket and a re-armed recv, after the buffers
// are recycled, receives it: ENOBUFS loses nothing, but the backend must re-arm (T5).
func TestMultishotRecvEndsWithENOBUFS(t *testing.T) {
	requireKernel(t, 6, 0, "multishot recv")
	checkLeaks(t)
	r := newPlainRing(t, 8, 0)
	br, err := r.RegisterBufRing(1, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	srv, cli := tcpPair(t)

	r.GetSQE().PrepRecvMultishot(srv, br.Bgid(), 1)
	mustSubmit(t, r)
	chunks := []string{strings.Repeat("a", 16), strings.Repeat("b", 16), strings.Repeat("c", 16)}
	write(t, cli, strings.Join(chunks, "")) // one buffer and a half more than the group holds

	got := mustReap(t, r, 3, time.Second)
	for i, c := range got[:2] {
		bid := uint16(c.Flags >> CQEBufferShift)
		if c.UserData != 1 || c.Res != 16 || c.Flags&(CQEFBuffer|CQEFMore) != CQEFBuffer|CQEFMore || string(br.Buf(bid)) != chunks[i] {
			t.Fatalf("receive %d: %s with %q; want 16 bytes %q in a buffer, MORE", i, describe(got), br.Buf(bid), chunks[i])
		}
		br.Recycle(bid)
	}
	if end := got[2]; len(got) != 3 || end.UserData != 1 || end.Res != errRes(unix.ENOBUFS) || end.Flags&CQEFMore != 0 {
		t.Fatalf("completions %s; want the third to end the recv with -ENOBUFS and no MORE", describe(got))
	}
	expectNone(t, r, 20*time.Millisecond, "after the multishot recv ended")

	br.Advance()
	r.GetSQE().PrepRecvMultishot(srv, br.Bgid(), 2)
	mustSubmit(t, r)
	got = mustReap(t, r, 1, time.Second)
	bid := uint16(got[0].Flags >> CQEBufferShift)
	if got[0].UserData != 2 || got[0].Res != 16 || got[0].Flags&CQEFBuffer == 0 || string(br.Buf(bid)) != chunks[2] {
		t.Fatalf("re-armed recv: %s with %q; want the 16 bytes %q left in the socket", describe(got), br.Buf(bid), chunks[2])
	}

	// Stop the re-armed recv before the buffer ring goes away.
	r.GetSQE().PrepCancel(2, 0, 3)
	mustSubmit(t, r)
	mustReap(t, r, 2, time.Second)
}

// With FEAT_NODROP a full CQ loses nothing: completions that do not fit wait on a kernel
// list, SQ_CQ_OVERFLOW says so, the dropped counter stays 0, submissions go on, and
// GETEVENTS moves them into the CQ as it drains (T8).
func TestCQOverflowKeepsCompletions(t *testing.T) {
	checkLeaks(t)
	r := newPlainRing(t, 4, 8)
	if r.Params().Features&FeatNoDrop == 0 {
		t.Skip("kernel lacks IORING_FEAT_NODROP (5.5)")
	}
	const total = 32 // four times the CQ
	for ud := uint64(0); ud < total; {
		for ; ud < total; ud++ {
			e := r.GetSQE()
			if e == nil {
				break // the SQ is full: submit this batch
			}
			e.PrepNop(ud)
		}
		if err := submit(r); err != nil {
			if errors.Is(err, unix.EBUSY) {
				_, _, rel := kernelVersion(t)
				t.Skipf("kernel %s refuses submissions while the CQ overflows (EBUSY; fixed in 5.19)", rel)
			}
			t.Fatalf("submission with the CQ full: %v; want it accepted", err)
		}
	}
	if ready, flags, dropped := r.CQReady(), r.SQFlags(), r.CQOverflow(); ready != r.CQEntries() || flags&SQCQOverflow == 0 || dropped != 0 {
		t.Fatalf("after %d NOPs into a CQ of %d: %d ready, SQ flags %#x, %d dropped; want a full CQ, SQ_CQ_OVERFLOW, none dropped", total, r.CQEntries(), ready, flags, dropped)
	}

	seen := map[uint64]bool{}
	var batch [8]CQE
	for i := 0; len(seen) < total && i < 2*total; i++ {
		for _, c := range batch[:r.Peek(batch[:])] {
			if seen[c.UserData] || c.UserData >= total || c.Res != 0 {
				t.Fatalf("unexpected completion %s", describe([]CQE{c}))
			}
			seen[c.UserData] = true
		}
		if _, err := r.Enter(0, 0, EnterGetEvents, -1); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("flushing the overflow list: %v", err)
		}
	}
	if len(seen) != total {
		t.Fatalf("reaped %d of %d completions", len(seen), total)
	}
	if flags := r.SQFlags(); flags&SQCQOverflow != 0 {
		t.Fatalf("SQ_CQ_OVERFLOW still set (%#x) with the overflow list drained", flags)
	}
}

// A multishot accept that meets a full CQ ends: its last completion, a successful
// accept, goes to the overflow list without F_MORE, and the connections after it stay in
// the listener's backlog (T14). Overflow ends a multishot even when nothing failed: the
// backend re-arms on every completion without F_MORE, and doing so takes them all.
func TestMultishotAcceptEndsOnOverflow(t *testing.T) {
	requireKernel(t, 5, 19, "multishot accept")
	checkLeaks(t)
	r := newPlainRing(t, 4, 8)
	lfd, port := listenTCP(t)
	r.GetSQE().PrepAcceptMultishot(lfd, unix.SOCK_CLOEXEC, 100)
	mustSubmit(t, r)
	const conns = 20 // more than twice the CQ
	for i := 0; i < conns; i++ {
		dialTCP(t, port)
	}
	waitUntil(t, time.Second, "SQ_CQ_OVERFLOW with the accept's completions unreaped", func() bool { return r.SQFlags()&SQCQOverflow != 0 })

	got := drain(t, r)
	defer closeAccepted(got)
	last := got[len(got)-1]
	if last.UserData != 100 || last.Res < 0 || last.Flags&CQEFMore != 0 || len(got) >= conns {
		t.Fatalf("accept completions %s; want it ended by a successful accept without MORE, before the %d connections were all taken", describe(got), conns)
	}
	for _, c := range got[:len(got)-1] {
		if c.UserData != 100 || c.Res < 0 || c.Flags&CQEFMore == 0 {
			t.Fatalf("accept completions %s; want each but the last a successful accept with MORE", describe(got))
		}
	}
	expectNone(t, r, 50*time.Millisecond, "with connections left in the backlog after the accept ended")

	// Re-arm on every completion without MORE until every connection is taken: none was
	// lost, the rest waited in the backlog.
	taken, armed := len(got), uint64(0)
	for ud := uint64(101); taken < conns; ud++ {
		if ud > 101+conns {
			t.Fatalf("%d of %d connections taken after %d re-arms", taken, conns, ud-101)
		}
		r.GetSQE().PrepAcceptMultishot(lfd, unix.SOCK_CLOEXEC, ud)
		mustSubmit(t, r)
		round := append(mustReap(t, r, 1, time.Second), drain(t, r)...)
		defer closeAccepted(round)
		for _, c := range round {
			if c.UserData != ud || c.Res < 0 {
				t.Fatalf("re-armed accept %d: %s; want successful accepts", ud, describe(round))
			}
		}
		taken += len(round)
		armed = 0
		if round[len(round)-1].Flags&CQEFMore != 0 {
			armed = ud // took the rest without meeting a full CQ: still armed
		}
	}
	if taken != conns {
		t.Fatalf("accepted %d connections; %d were made", taken, conns)
	}
	if armed != 0 { // the last accept is still armed: end it before the ring goes
		r.GetSQE().PrepCancel(armed, 0, 1)
		mustSubmit(t, r)
		mustReap(t, r, 2, time.Second)
	}
}

// drain reaps the CQ and the overflow list behind it until both are empty.
func drain(t *testing.T, r *Ring) []CQE {
	t.Helper()
	var got []CQE
	for i := 0; i < 100; i++ {
		more, err := reap(r, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, more...)
		if r.CQReady() == 0 && r.SQFlags()&SQCQOverflow == 0 {
			return got
		}
		// GETEVENTS moves overflowed completions into the CQ as room frees.
		if _, err := r.Enter(0, 0, EnterGetEvents, -1); err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("flushing the overflow list: %v", err)
		}
	}
	t.Fatalf("the overflow list did not drain; reaped %s", describe(got))
	return nil
}

// A multishot accept posts one completion per connection, each with F_MORE, and only a
// cancel ends it: the cancel succeeds and the accept's last completion is -ECANCELED
// without F_MORE (T5). The final completion, whatever its result, is the one without
// F_MORE; the backend frees the request's slot on it.
func TestMultishotAcceptPostsMoreUntilCancelled(t *testing.T) {
	requireKernel(t, 5, 19, "multishot accept")
	checkLeaks(t)
	r := newPlainRing(t, 8, 0)
	lfd, port := listenTCP(t)
	r.GetSQE().PrepAcceptMultishot(lfd, unix.SOCK_CLOEXEC, 100)
	mustSubmit(t, r)
	for i := 0; i < 3; i++ {
		dialTCP(t, port)
	}
	got := mustReap(t, r, 3, time.Second)
	defer closeAccepted(got)
	for _, c := range got {
		if len(got) != 3 || c.UserData != 100 || c.Res < 0 || c.Flags&CQEFMore == 0 {
			t.Fatalf("3 connections: %s; want 3 successful accepts with MORE", describe(got))
		}
	}

	r.GetSQE().PrepCancel(100, 0, 200)
	mustSubmit(t, r)
	end := byUserData(t, mustReap(t, r, 2, time.Second))
	if c := end[200]; c.Res != 0 {
		t.Fatalf("cancel of the multishot accept: %s; want res 0 (found)", describe([]CQE{c}))
	}
	if c, ok := end[100]; !ok || c.Res != errRes(unix.ECANCELED) || c.Flags&CQEFMore != 0 {
		t.Fatalf("accept's last completion: %s; want -ECANCELED without MORE", describe([]CQE{c}))
	}
	expectNone(t, r, 20*time.Millisecond, "after the multishot accept ended")
}

// ASYNC_CANCEL's results (T6, IOURING.md §3.7), on which the exactly-once handler rule
// rests: a pending request is found (0) and ends with -ECANCELED, both completions
// posted by the time the submitting enter returns; an unknown user data gives -ENOENT;
// CANCEL_FD|CANCEL_ALL counts every request on the fd and ends each with -ECANCELED.
func TestCancelSemantics(t *testing.T) {
	t.Run("pending recv", func(t *testing.T) {
		checkLeaks(t)
		buf := kernelBuf(t, 16)
		r := newPlainRing(t, 8, 0)
		srv, _ := tcpPair(t)
		r.GetSQE().PrepRecv(srv, buf, 0, 1)
		mustSubmit(t, r)
		r.GetSQE().PrepCancel(1, 0, 2)
		mustSubmit(t, r)
		if n := r.CQReady(); n != 2 {
			t.Fatalf("%d completions posted when the cancel's submission returned; want the cancel's and the recv's", n)
		}
		got := byUserData(t, mustReap(t, r, 2, 0))
		if got[2].Res != 0 || got[1].Res != errRes(unix.ECANCELED) {
			t.Fatalf("cancel %s, recv %s; want 0 and -ECANCELED", describe([]CQE{got[2]}), describe([]CQE{got[1]}))
		}
	})

	t.Run("unknown user data", func(t *testing.T) {
		checkLeaks(t)
		r := newPlainRing(t, 8, 0)
		r.GetSQE().PrepCancel(12345, 0, 3)
		mustSubmit(t, r)
		if got := mustReap(t, r, 1, time.Second); got[0].UserData != 3 || got[0].Res != errRes(unix.ENOENT) {
			t.Fatalf("cancel of nothing: %s; want -ENOENT", describe(got))
		}
	})

	t.Run("all on an fd", func(t *testing.T) {
		requireKernel(t, 5, 19, "IORING_ASYNC_CANCEL_FD|ALL")
		checkLeaks(t)
		buf := kernelBuf(t, 16)
		r := newPlainRing(t, 8, 0)
		srv, _ := tcpPair(t)
		r.GetSQE().PrepRecv(srv, buf, 0, 10)
		r.GetSQE().PrepPollAdd(srv, unix.POLLIN, false, 11)
		mustSubmit(t, r)
		r.GetSQE().PrepCancelFd(srv, 12)
		mustSubmit(t, r)
		got := byUserData(t, mustReap(t, r, 3, time.Second))
		if got[12].Res != 2 || got[10].Res != errRes(unix.ECANCELED) || got[11].Res != errRes(unix.ECANCELED) {
			t.Fatalf("cancel by fd: %s; want the cancel to count 2 and both requests -ECANCELED", describe([]CQE{got[12], got[10], got[11]}))
		}
	})

	// The result pair changed with 6.5: before, the recv failed -ENOBUFS and the cancel
	// found nothing (-ENOENT); since, the cancel finds it (0) and it ends -ECANCELED.
	// Either way exactly one completion ends the recv, and the pair is consistent.
	t.Run("buffer-select recv", func(t *testing.T) {
		requireKernel(t, 5, 19, "provided buffer rings")
		checkLeaks(t)
		r := newPlainRing(t, 8, 0)
		br, err := r.RegisterBufRing(2, 2, 16)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { br.Close() })
		srv, _ := tcpPair(t)
		r.GetSQE().PrepRecvSelect(srv, br.Bgid(), 20)
		mustSubmit(t, r)
		r.GetSQE().PrepCancel(20, 0, 21)
		mustSubmit(t, r)
		got := byUserData(t, mustReap(t, r, 2, time.Second))
		cancel, recv := got[21].Res, got[20].Res
		pre65 := cancel == errRes(unix.ENOENT) && recv == errRes(unix.ENOBUFS)
		since65 := cancel == 0 && recv == errRes(unix.ECANCELED)
		if !pre65 && !since65 {
			t.Fatalf("cancel %s, recv %s; want 0 and -ECANCELED (6.5+) or -ENOENT and -ENOBUFS (before)", describe([]CQE{got[21]}), describe([]CQE{got[20]}))
		}
		expectNone(t, r, 20*time.Millisecond, "after the recv's one completion")
	})
}

// A LINK_TIMEOUT bounds the request linked before it: when it expires the timeout
// completes -ETIME and the request -ECANCELED; when the request completes first the
// timeout completes -ECANCELED (T9). The backend's per-op deadlines rest on this.
func TestLinkTimeout(t *testing.T) {
	const limit = 50 * time.Millisecond
	t.Run("expires", func(t *testing.T) {
		checkLeaks(t)
		buf := kernelBuf(t, 16)
		ts := pinnedTimespec(t, limit)
		r := newPlainRing(t, 8, 0)
		srv, _ := tcpPair(t)
		e := r.GetSQE()
		e.PrepRecv(srv, buf, 0, 1)
		e.Flags |= SQEIOLink
		r.GetSQE().PrepLinkTimeout(ts, 0, 2)
		start := time.Now()
		mustSubmit(t, r)
		got := byUserData(t, mustReap(t, r, 2, time.Second))
		if took := time.Since(start); took < limit*9/10 {
			t.Fatalf("the linked timeout of %v fired after %v", limit, took)
		}
		if got[2].Res != errRes(unix.ETIME) || got[1].Res != errRes(unix.ECANCELED) {
			t.Fatalf("timeout %s, recv %s; want -ETIME and -ECANCELED", describe([]CQE{got[2]}), describe([]CQE{got[1]}))
		}
	})

	t.Run("request first", func(t *testing.T) {
		checkLeaks(t)
		buf := kernelBuf(t, 16)
		ts := pinnedTimespec(t, limit)
		r := newPlainRing(t, 8, 0)
		srv, cli := tcpPair(t)
		write(t, cli, "ok")
		waitInQueue(t, srv, 2)
		e := r.GetSQE()
		e.PrepRecv(srv, buf, 0, 1)
		e.Flags |= SQEIOLink
		r.GetSQE().PrepLinkTimeout(ts, 0, 2)
		mustSubmit(t, r)
		got := byUserData(t, mustReap(t, r, 2, time.Second))
		if got[1].Res != 2 || got[2].Res != errRes(unix.ECANCELED) {
			t.Fatalf("recv %s, timeout %s; want 2 bytes and -ECANCELED", describe([]CQE{got[1]}), describe([]CQE{got[2]}))
		}
	})
}

// IOSQE_CQE_SKIP_SUCCESS suppresses a request's completion when it succeeds, never when
// it fails, and a linked timeout carrying it posts nothing at all (T9, enter.2). The
// backend uses it for the shutdown before a close and for deadlines.
func TestCQESkipSuccess(t *testing.T) {
	setup := func(t *testing.T) *Ring {
		checkLeaks(t)
		r := newPlainRing(t, 8, 0)
		if r.Params().Features&FeatCQESkip == 0 {
			t.Skip("kernel lacks IORING_FEAT_CQE_SKIP (5.17)")
		}
		return r
	}

	t.Run("success posts nothing", func(t *testing.T) {
		r := setup(t)
		e := r.GetSQE()
		e.PrepNop(3)
		e.Flags |= SQECQESkipSuccess
		r.GetSQE().PrepNop(4) // completes after NOP 3: its completion bounds the wait
		mustSubmit(t, r)
		if got := mustReap(t, r, 1, time.Second); len(got) != 1 || got[0].UserData != 4 {
			t.Fatalf("completions %s; want only the unflagged NOP's (ud 4)", describe(got))
		}
	})

	t.Run("failure still posts", func(t *testing.T) {
		r := setup(t)
		e := r.GetSQE()
		e.PrepRecv(-1, nil, 0, 5)
		e.Flags |= SQECQESkipSuccess
		mustSubmit(t, r)
		if got := mustReap(t, r, 1, time.Second); got[0].UserData != 5 || got[0].Res != errRes(unix.EBADF) {
			t.Fatalf("failing request with SKIP_SUCCESS: %s; want its -EBADF", describe(got))
		}
	})

	t.Run("linked timeout posts nothing", func(t *testing.T) {
		r := setup(t)
		buf := kernelBuf(t, 16)
		ts := pinnedTimespec(t, time.Second)
		srv, cli := tcpPair(t)
		write(t, cli, "ok")
		waitInQueue(t, srv, 2)
		e := r.GetSQE()
		e.PrepRecv(srv, buf, 0, 6)
		e.Flags |= SQEIOLink
		e = r.GetSQE()
		e.PrepLinkTimeout(ts, 0, 7)
		e.Flags |= SQECQESkipSuccess
		mustSubmit(t, r)
		if got := mustReap(t, r, 1, time.Second); len(got) != 1 || got[0].UserData != 6 || got[0].Res != 2 {
			t.Fatalf("completions %s; want only the recv's 2 bytes", describe(got))
		}
		expectNone(t, r, 20*time.Millisecond, "the cancelled linked timeout with SKIP_SUCCESS")
	})
}

// IORING_REGISTER_SEND_MSG_RING posts a completion to a ring from any thread, without a
// ring of its own, and so wakes a DEFER_TASKRUN owner asleep in io_uring_enter with the
// user data and result it chose (T12): a one-syscall cross-goroutine wake-up.
func TestSendMsgRingWakesOwner(t *testing.T) {
	requireKernel(t, 6, 13, "IORING_REGISTER_SEND_MSG_RING")
	checkLeaks(t)
	owner := startThread(t)
	r := newOwnedRing(t, owner, 8, SetupSingleIssuer|SetupDeferTaskrun)
	var got []CQE
	var err error
	woke := owner.start(func() { got, err = reap(r, 1, 2*time.Second) })
	waitBlockedInEnter(t, owner.tid)
	if err := SendMsgRing(r.Fd(), 777, 42); err != nil {
		<-woke
		if errors.Is(err, unix.EINVAL) {
			t.Skipf("kernel refuses IORING_REGISTER_SEND_MSG_RING: %v", err)
		}
		t.Fatal(err)
	}
	if !within(woke, time.Second) {
		t.Fatal("the owner slept on 1s after SEND_MSG_RING")
	}
	if err != nil || len(got) != 1 || got[0].UserData != 777 || got[0].Res != 42 {
		t.Fatalf("owner woke with %s, %v; want {ud=777 res=42}", describe(got), err)
	}
}

// IORING_OP_MSG_RING from another ring does the same (5.18): the target's owner wakes
// with the message, and the sender gets its own completion (res 0) (IOURING.md §3.2 c).
func TestMsgRingWakesOwner(t *testing.T) {
	checkLeaks(t)
	owner := startThread(t)
	r := newOwnedRing(t, owner, 8, SetupSingleIssuer|SetupDeferTaskrun)
	sender := newPlainRing(t, 8, 0)
	requireOp(t, sender, OpMsgRing, "IORING_OP_MSG_RING (5.18)")
	var got []CQE
	var err error
	woke := owner.start(func() { got, err = reap(r, 1, 2*time.Second) })
	waitBlockedInEnter(t, owner.tid)
	sender.GetSQE().PrepMsgRing(r.Fd(), 42, 777, 1)
	mustSubmit(t, sender)
	if !within(woke, time.Second) {
		t.Fatal("the owner slept on 1s after MSG_RING")
	}
	if err != nil || len(got) != 1 || got[0].UserData != 777 || got[0].Res != 42 {
		t.Fatalf("owner woke with %s, %v; want {ud=777 res=42}", describe(got), err)
	}
	if sent := mustReap(t, sender, 1, time.Second); sent[0].UserData != 1 || sent[0].Res != 0 {
		t.Fatalf("sender's completion: %s; want res 0", describe(sent))
	}
}

// A recv bundle (6.10) takes all the data waiting into as many provided buffers as it
// needs, in one completion: Res bytes over contiguous buffer ids starting at the one in
// its flags (T13).
func TestRecvBundle(t *testing.T) {
	checkLeaks(t)
	r := newPlainRing(t, 8, 0)
	if r.Params().Features&FeatRecvSendBundle == 0 {
		_, _, rel := kernelVersion(t)
		t.Skipf("kernel %s lacks IORING_FEAT_RECVSEND_BUNDLE (6.10)", rel)
	}
	br, err := r.RegisterBufRing(3, 4, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	srv, cli := tcpPair(t)
	data := strings.Repeat("A", 16) + strings.Repeat("B", 16) + strings.Repeat("C", 16)
	write(t, cli, data)
	waitInQueue(t, srv, len(data))

	r.GetSQE().PrepRecvBundle(srv, br.Bgid(), 1)
	mustSubmit(t, r)
	got := mustReap(t, r, 1, time.Second)
	c := got[0]
	if len(got) != 1 || c.UserData != 1 || c.Res != int32(len(data)) || c.Flags&CQEFBuffer == 0 {
		t.Fatalf("bundle recv of %d queued bytes: %s; want one completion of %d bytes", len(data), describe(got), len(data))
	}
	var recv []byte
	for i, first := 0, int(c.Flags>>CQEBufferShift); i < 3; i++ {
		recv = append(recv, br.Buf(uint16(first+i))...)
	}
	if string(recv) != data {
		t.Fatalf("buffers from id %d hold %q; want %q", c.Flags>>CQEBufferShift, recv, data)
	}
}

// An incremental buffer ring (IOU_PBUF_RING_INC, 6.12) lets receives consume one large
// buffer piecewise: each completion names the same buffer with F_BUF_MORE, and its
// data continues where the previous one ended (T13).
func TestIncrementalBufferConsumption(t *testing.T) {
	requireKernel(t, 6, 12, "incremental provided buffers (IOU_PBUF_RING_INC)")
	checkLeaks(t)
	r := newPlainRing(t, 8, 0)
	br, err := r.RegisterBufRingFlags(4, 1, 64, PbufRingInc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	srv, cli := tcpPair(t)

	off := 0
	for i, msg := range []string{"hello", "world!!"} {
		write(t, cli, msg)
		waitInQueue(t, srv, len(msg))
		r.GetSQE().PrepRecvSelect(srv, br.Bgid(), uint64(10+i))
		mustSubmit(t, r)
		got := mustReap(t, r, 1, time.Second)
		c := got[0]
		if c.Res != int32(len(msg)) || c.Flags&(CQEFBuffer|CQEFBufMore) != CQEFBuffer|CQEFBufMore || c.Flags>>CQEBufferShift != 0 {
			t.Fatalf("recv of %q: %s; want %d bytes in buffer 0 with BUF_MORE", msg, describe(got), len(msg))
		}
		if b := br.Buf(0)[off : off+len(msg)]; !bytes.Equal(b, []byte(msg)) {
			t.Fatalf("buffer 0 at offset %d holds %q; want %q", off, b, msg)
		}
		off += len(msg)
	}
}

// On this kernel a thread that waits on a ring it did not submit to still gets the
// completion promptly, with or without COOP_TASKRUN, while the submitter sleeps (T4).
// setup.2 calls COOP_TASKRUN unsafe for that pattern, and older kernels may stall it;
// the backend keeps submitter and waiter on one thread and does not rely on this, but
// a change here is worth knowing.
func TestCrossThreadWaiterGetsCompletion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint32
	}{
		{"default", 0},
		{"COOP_TASKRUN", SetupCoopTaskrun},
		{"COOP_TASKRUN|TASKRUN_FLAG", SetupCoopTaskrun | SetupTaskrunFlag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			buf := kernelBuf(t, 16)
			srv, cli := tcpPair(t)
			submitter, waiter := startThread(t), startThread(t)
			r := newOwnedRing(t, submitter, 8, tc.flags)
			var err error
			submitter.run(t, func() {
				r.GetSQE().PrepRecv(srv, buf, 0, 7)
				err = submit(r)
			}) // the submitter now sleeps, parked on its channel
			if err != nil {
				t.Fatal(err)
			}
			var got []CQE
			done := waiter.start(func() { got, err = reap(r, 1, 2*time.Second) })
			waitBlockedInEnter(t, waiter.tid)
			write(t, cli, "x")
			if !within(done, time.Second) {
				t.Fatal("the waiter slept on 1s after the peer's write")
			}
			if err != nil || len(got) != 1 || got[0].UserData != 7 || got[0].Res != 1 {
				t.Fatalf("waiter got %s, %v; want the recv of 1 byte", describe(got), err)
			}
		})
	}
}

// Registration is bound to a SINGLE_ISSUER ring's owner like submission is: another
// thread's io_uring_register gets EEXIST. The thread-bound backend variant therefore
// registers its provided-buffer ring on the owner thread.
func TestSingleIssuerRejectsOtherThreadRegister(t *testing.T) {
	checkLeaks(t)
	owner, other := startThread(t), startThread(t)
	r := newOwnedRing(t, owner, 8, SetupSingleIssuer)
	var err error
	other.run(t, func() {
		var b *BufRing
		if b, err = r.RegisterBufRing(1, 4, 64); err == nil {
			b.Close()
		}
	})
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("buffer ring registered from thread %d on a ring owned by %d: %v; want EEXIST", other.tid, owner.tid, err)
	}
	owner.run(t, func() {
		var b *BufRing
		if b, err = r.RegisterBufRing(1, 4, 64); err == nil {
			err = b.Close()
		}
	})
	if err != nil {
		t.Fatalf("registration on the owner thread: %v", err)
	}
}

// An accept reads RLIMIT_NOFILE when it is submitted, not when a connection arrives: a
// request armed before the limit was lowered still allocates descriptors up to the old
// limit. The backend's descriptor-exhaustion handling therefore sees EMFILE only from
// requests armed under the limit in force (the conformance test lowers it first).
func TestAcceptUsesLimitAtSubmission(t *testing.T) {
	checkLeaks(t)
	r := newRing(t, 8, &Params{})
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(ln, 8); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		t.Fatal(err)
	}
	r.GetSQE().PrepAccept(ln, unix.SOCK_CLOEXEC, 1)
	mustSubmit(t, r)

	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	fds := kernelFDs(t)
	highest := ln
	for fd := range fds {
		highest = max(highest, fd)
	}
	lower := orig
	lower.Cur = uint64(highest + 8)
	if lower.Cur >= orig.Cur {
		t.Skipf("descriptor limit %d too low to lower", orig.Cur)
	}
	var fillers []int
	restore := func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
		fillers = nil
		unix.Setrlimit(unix.RLIMIT_NOFILE, &orig)
	}
	defer restore()
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lower); err != nil {
		t.Skipf("cannot lower RLIMIT_NOFILE: %v", err)
	}
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err == nil {
		unix.Close(fd)
		t.Fatal("descriptor table not full")
	}
	restore() // room for the client socket; the armed accept keeps its own limit
	cl, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(cl)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lower); err != nil {
		t.Fatal(err)
	}
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fillers = append(fillers, fd)
	}
	if err := unix.Connect(cl, sa); err != nil {
		t.Fatal(err)
	}
	c := mustReap(t, r, 1, time.Second)[0]
	restore()
	if c.Res < 0 {
		t.Fatalf("accept armed under the old limit failed with %v once the limit was lowered; want a descriptor", unix.Errno(-c.Res))
	}
	unix.Close(int(c.Res))
	if int(c.Res) < int(lower.Cur) {
		t.Fatalf("accepted descriptor %d is below the lowered limit %d: the table was not full", c.Res, lower.Cur)
	}
}
