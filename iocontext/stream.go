package iocontext

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"unsafe"

	"github.com/coionet/coio/proactor"
	"golang.org/x/sys/unix"
)

// ErrNotOpen is returned by operations on a stream that was never opened (a TCPConn
// made by NewTCPConn before AsyncConnect or AsyncAcceptInto completed).
var ErrNotOpen = errors.New("coio: stream is not open")

// stream is the part of TCPConn and UnixConn that moves bytes. It embeds its FD and
// its read op, so a connection's reads allocate nothing; a write takes its op from the
// Context's pool of writers (see writer), so that a connection with no write in flight
// — an idle one — holds none.
type stream struct {
	c             *Context
	fd            proactor.FD
	links[stream] // c's list of open streams (guarded by c.objMu)

	rop    proactor.Op            // the one read in flight
	rh     unsafe.Pointer         // the read's handler (see handler)
	rdone  int                    // bytes read so far by AsyncRead (or AsyncReadSome: 0)
	w      atomic.Pointer[writer] // the write or connect in flight; set and cleared while writing is set
	rfull  bool                   // AsyncRead: fill the buffer (the rest of it is rop.Buf)
	isUnix bool                   // a Unix-domain stream, for errors

	st      streamState   // reading, writing, opened
	cancels atomic.Uint32 // Cancel calls so far
	rgen    uint32        // cancels when the read started

	more atomic.Pointer[streamMore] // what few connections use; nil until then
}

// streamMore is the part of a stream that most connections never use, apart so that
// they do not carry it: the peer address RemoteAddr cached, SetExecutor's handlers.
// It is replaced whole (copy on write), never changed in place.
type streamMore struct {
	raddr net.Addr
	bound *boundHandlers
}

// bound returns SetExecutor's handlers, nil for direct delivery.
func (s *stream) bound() *boundHandlers {
	if m := s.more.Load(); m != nil {
		return m.bound
	}
	return nil
}

// updateMore replaces s.more with a copy changed by f.
func (s *stream) updateMore(f func(m *streamMore)) {
	for {
		old := s.more.Load()
		var m streamMore
		if old != nil {
			m = *old
		}
		f(&m)
		if s.more.CompareAndSwap(old, &m) {
			return
		}
	}
}

// writer is the write side of a stream while one of its writes or connects is in
// flight: taken from the Context's pool when the op starts, given back before its
// handler is called. Every idle connection would otherwise carry a write op it does
// not use (200 bytes of its 576; ARCHITECTURE.md, "Memory per idle connection").
//
// A writer goes from one stream to another, so nothing may touch it for a stream after
// that stream gave it back. The backends do not: once an op's Done runs, they have
// let go of it (proactor.Op), and their Cancel and Close reach only the ops in flight
// on the FD they are given. What remains is CancelOp, called with a pointer to the
// op from outside the stream (the net.Conn adapter's deadlines): cancelWrite takes a
// reference (refs) for it, and the writer goes back to the pool only when the last
// reference is dropped.
type writer struct {
	op    proactor.Op
	ext   proactor.OpExt // op.Ext for a gathered write (the vector left) or a connect (the address)
	vec   [][]byte       // AsyncWriteVec's copy of the caller's vector, kept for the next one
	s     *stream        // the stream it writes for, until it is back in the pool
	h     unsafe.Pointer // the handler, a func(int, error) or, with hconn, one taking the conn first (see handler)
	done  int            // bytes written so far
	full  bool           // AsyncWrite: write it all (the rest of it is op.Buf)
	hconn bool           // h takes the connection (AsyncWriteConn, AsyncWriteLentConn)
	gen   uint32         // the stream's cancels when the write started
	lent  LentBuffer     // AsyncWriteLent's buffer, released when the write is over
	refs  atomic.Int32   // the op in flight, plus cancelWrite calls looking at it
}

// writerCache is how many writers a runner keeps for its handlers' next writes. A
// handler that writes takes one and its completion gives it back, on the same runner
// as a rule: a slice of the runner's own spares this way costs less than sync.Pool's
// pinning and atomics (0.5% of the server's CPU at 4 KiB echo, depth 1). It covers
// the writes in flight of 100 connections at depth 1 (32 did not: the pool served the
// rest); 128 × 250 bytes a runner, plus vectors of up to writerCacheVec buffers, is
// the most it holds.
const writerCache = 128

// writerCacheVec is the longest vector (AsyncWriteVec) a cached writer keeps room for.
const writerCacheVec = 8

// getWriter takes a writer for s: from the calling runner's spares, else c's pool.
func (c *Context) getWriter(s *stream, kind proactor.OpKind) *writer {
	return c.getWriterFrom(c.current(), s, kind)
}

// getWriterFrom is getWriter for a caller that knows its runner (nil: not a runner).
func (c *Context) getWriterFrom(r *runner, s *stream, kind proactor.OpKind) *writer {
	var w *writer
	if r != nil && len(r.writers) > 0 {
		n := len(r.writers) - 1
		w = r.writers[n]
		r.writers[n] = nil
		r.writers = r.writers[:n]
	} else {
		w, _ = c.writers.Get().(*writer)
	}
	if w == nil {
		w = &writer{}
		w.op.Done = writerDone
	}
	w.s = s
	w.op.Kind, w.op.FD, w.op.Ext, w.op.BufID = kind, &s.fd, nil, 0
	if kind == proactor.OpConnect {
		w.op.Ext = &w.ext
	}
	return w
}

// put gives w back to the calling runner's spares or its Context's pool, keeping
// nothing of the stream alive.
func (w *writer) put() {
	c := w.s.c
	w.s, w.h = nil, nil
	w.op.FD, w.op.Buf, w.op.N, w.op.Err = nil, nil, 0, nil
	w.ext = proactor.OpExt{}
	clear(w.vec) // the caller's buffers are not kept alive by the pool
	w.vec = w.vec[:0]
	// A writer that carried a long vector keeps its array: the pool, which the garbage
	// collector empties, holds it rather than a runner for the Context's life.
	if r := c.current(); r != nil && len(r.writers) < writerCache && cap(w.vec) <= writerCacheVec {
		r.writers = append(r.writers, w)
		return
	}
	c.writers.Put(w)
}

// unref drops a reference to w; the last one gives it back to the pool.
func (w *writer) unref() {
	if w.refs.Add(-1) == 0 {
		w.put()
	}
}

// startWriter makes w the stream's op in flight, holding the reference that
// endWriter drops.
func (s *stream) startWriter(w *writer) {
	w.refs.Store(1)
	s.w.Store(w)
}

// endWriter ends s's op in flight: its writer goes back to the pool (once no
// cancelWrite looks at it). It comes before writing is cleared, so that a write
// started after that finds s.w free to set.
func (s *stream) endWriter(w *writer) {
	s.w.Store(nil)
	if lb := w.lent; lb.c != nil {
		// Before the handler, which may read into it again; unless the backend gave
		// it back when it reaped the write (BufID 0, see proactor.Op).
		w.lent = LentBuffer{}
		if lb.c != s.c || w.op.BufID != 0 {
			lb.Release()
		}
	}
	w.unref()
}

// cancelWrite aborts s's write in flight, if any (CancelOp), without touching a
// writer that s has given back: a reference keeps it from going back to the pool, and
// so to another stream, while CancelOp looks at its op.
func (s *stream) cancelWrite() {
	w := s.w.Load()
	if w == nil {
		return
	}
	for {
		r := w.refs.Load()
		if r == 0 {
			return // back in the pool (perhaps taken again since): not s's any more
		}
		if w.refs.CompareAndSwap(r, r+1) {
			break
		}
	}
	// The reference may be to a writer that went to another stream and back to s
	// meanwhile: then it is s's write in flight now, which is the one to cancel.
	if s.w.Load() == w {
		s.c.be.CancelOp(&w.op)
	}
	w.unref()
}

// A handler is kept as the one pointer a func value is (to its code and captured
// variables), whatever its signature, with a bit saying whether it takes the
// connection first (stConnRH for the read; writer.hconn for the write). One read is in
// flight at a time, so a read's two handler kinds — func(int, error) for AsyncRead and
// AsyncReadSome, func(LentBuffer, error) for AsyncReadLent, each with or without the
// connection — share the field rh, and each read's completion reads it back as the
// type its start stored (op.Lend tells which kind of read it was). This saves every
// connection 8 bytes per kind, and the *Conn handlers let one func value serve every
// connection of a server, so that a connection needs no closure of its own.

// handler returns the pointer the func value f is. F must be a func type.
func handler[F any](f F) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&f)) // a func value is one pointer
}

// fn returns the func value of type F whose pointer handler returned.
func fn[F any](p unsafe.Pointer) (f F) {
	*(*unsafe.Pointer)(unsafe.Pointer(&f)) = p // p came from handler[F] with this F
	return f
}

// A stream is the first field of TCPConn and UnixConn (and is embedded in nothing
// else), so a *stream that isUnix says belongs to a UnixConn, or else to a TCPConn, is
// a pointer to that connection: call passes it to the *Conn handlers.
var (
	_ [0]struct{} = [unsafe.Offsetof(TCPConn{}.stream)]struct{}{}
	_ [0]struct{} = [unsafe.Offsetof(UnixConn{}.stream)]struct{}{}
)

// call calls a handler that the start of a read or write stored (see handler): a
// func(A, error), or with conn a func(*TCPConn, A, error) or func(*UnixConn, A,
// error). A is int for the byte count of reads and writes, LentBuffer for lent reads.
func call[A any](s *stream, h unsafe.Pointer, conn bool, a A, err error) {
	switch {
	case !conn:
		fn[func(A, error)](h)(a, err)
	case s.isUnix:
		fn[func(*UnixConn, A, error)](h)((*UnixConn)(unsafe.Pointer(s)), a, err) // see above
	default:
		fn[func(*TCPConn, A, error)](h)((*TCPConn)(unsafe.Pointer(s)), a, err) // see above
	}
}

// connBit is the state bit a read sets with reading when its handler takes the
// connection.
func connBit(conn bool) uint32 {
	if conn {
		return stConnRH
	}
	return 0
}

// endRead ends the read in flight and returns its handler: it clears the field and the
// reading bit (so the handler may start the next read) in one step.
func (s *stream) endRead() (h unsafe.Pointer, conn bool) {
	h, s.rh = s.rh, nil
	old := s.st.v.And(^(stReading | stConnRH))
	return h, old&stConnRH != 0
}

// streamState holds a stream's flags in one word: three atomic.Bools would take 12
// bytes of every connection.
type streamState struct{ v atomic.Uint32 }

const (
	stReading uint32 = 1 << iota // a read is in flight
	stWriting                    // a write or connect is in flight
	stOpened                     // the FD was registered at least once
	stConnRH                     // the read's handler takes the connection (see handler)
)

func (f *streamState) has(bit uint32) bool { return f.v.Load()&bit != 0 }
func (f *streamState) set(bit uint32)      { f.v.Or(bit) }
func (f *streamState) clear(bit uint32)    { f.v.And(^bit) }

// take sets bit if it was clear, as CompareAndSwap(false, true) on a Bool.
func (f *streamState) take(bit uint32) bool { return f.takeWith(bit, 0) }

// takeWith is take that also sets the bits of also when it sets bit, in one step.
func (f *streamState) takeWith(bit, also uint32) bool {
	for {
		old := f.v.Load()
		if old&bit != 0 {
			return false
		}
		if f.v.CompareAndSwap(old, old|bit|also) {
			return true
		}
	}
}

// bind prepares the read op for c; done once per stream.
func (s *stream) bind(c *Context, netw string) {
	if s.c == c && s.rop.Done != nil {
		return
	}
	s.c, s.isUnix = c, netw == "unix"
	s.rop = proactor.Op{Kind: proactor.OpRead, FD: &s.fd, Done: streamReadDone}
}

// streamReadDone and writerDone are the ops' Done: functions rather than method
// values, which would cost every stream and writer a closure.
func streamReadDone(op *proactor.Op) {
	// op is the rop field of a stream (bind set this Done on no other op), so
	// stepping back by the field's offset stays inside that stream's allocation.
	(*stream)(unsafe.Add(unsafe.Pointer(op), -int(unsafe.Offsetof(stream{}.rop)))).readDone(op)
}

func writerDone(op *proactor.Op) {
	w := writerOf(op)
	w.s.writeDone(w)
}

// writerOf returns the writer whose op is op.
func writerOf(op *proactor.Op) *writer {
	// op is the op field of a writer (every OpWrite op is: getWriter makes them), as
	// in streamReadDone.
	return (*writer)(unsafe.Add(unsafe.Pointer(op), -int(unsafe.Offsetof(writer{}.op))))
}

// releaseWritten gives back the lent buffer of an AsyncWriteLent whose write op has
// just completed with all of it written, before the op's Done runs: the kernel has
// copied the bytes, and the caller gave the buffer up when it started the write. A
// write the backend makes at once (in Submit: the reactive backends, and bulk
// descriptors on io_uring) thus frees its buffer before the handler that started it
// returns, and the next read takes the same buffer, still in the cache, instead of one
// released a queue's length later (ARCHITECTURE.md, "Bulk transfers copy when due").
// The sink calls it before it queues the op, so endWriter, which runs after the queue,
// finds the buffer gone.
func releaseWritten(op *proactor.Op) {
	w := writerOf(op)
	if w.lent.c == nil || op.Ext != nil || op.N != len(op.Buf) {
		return // not a lent write, or one with more to write
	}
	lb := w.lent
	w.lent = LentBuffer{}
	lb.Release()
}

// network is "tcp" or "unix", for errors.
func (s *stream) network() string {
	if s.isUnix {
		return "unix"
	}
	return "tcp"
}

// open registers sysfd with c's backend and with c's object list. On failure sysfd is
// closed.
func (s *stream) open(c *Context, sysfd int, netw string) error {
	if c.closed.Load() {
		unix.Close(sysfd)
		return ErrContextClosed
	}
	s.bind(c, netw)
	if m := s.more.Load(); m != nil && m.raddr != nil {
		s.updateMore(func(m *streamMore) { m.raddr = nil })
	}
	if err := c.be.Register(&s.fd, sysfd); err != nil {
		unix.Close(sysfd)
		return err
	}
	if err := c.registerStream(s); err != nil {
		c.be.Close(&s.fd)
		return err
	}
	s.st.set(stOpened)
	c.openStreams.Add(1)
	return nil
}

// reusable reports whether the stream may be opened again: never opened, or closed
// with nothing left in flight.
func (s *stream) reusable() bool {
	return !s.st.has(stOpened) || (s.fd.Destroyed() && !s.st.has(stReading) && !s.st.has(stWriting))
}

func (s *stream) shutdown() { s.Close() }

// failLater posts the handler h (see call) with (0, err) as the completion of an op
// that could not start.
func (s *stream) failLater(h unsafe.Pointer, conn bool, err error) {
	s.later(func() { call(s, h, conn, 0, err) })
}

// later posts fn as the completion of an op that could not start: counted as work,
// run on a runner, never inline.
func (c *Context) later(fn func()) {
	c.addWork()
	c.push(task{fn: fn})
}

// laterVia is later for an object whose handlers run through ex (SetExecutor's; nil
// for direct delivery): a handler that fails before its operation starts (ErrBusy,
// say) runs where the object's other handlers run, dispatched from a runner as a
// completion is.
func (c *Context) laterVia(ex Executor, fn func()) {
	if ex == nil {
		c.later(fn)
		return
	}
	c.later(func() { ex.Dispatch(fn) })
}

// later is Context.later through the stream's executor (SetExecutor), if it has one.
func (s *stream) later(fn func()) {
	var ex Executor
	if b := s.bound(); b != nil {
		ex = b.ex
	}
	s.c.laterVia(ex, fn)
}

// AsyncReadSome reads into b and calls h with the number of bytes read, which may be
// fewer than len(b). h runs exactly once, on a runner, never inside this call. At the
// peer's orderly close h gets (0, io.EOF). An empty b completes with (0, nil) without a
// syscall. Only one read may be in flight: a second fails with ErrBusy.
func (s *stream) AsyncReadSome(b []byte, h func(n int, err error)) {
	s.startRead(b, false, handler(h), false)
}

// AsyncRead reads until b is full, then calls h(len(b), nil); on an error or end of
// stream first, h gets the bytes read so far and the error.
func (s *stream) AsyncRead(b []byte, h func(n int, err error)) {
	s.startRead(b, true, handler(h), false)
}

// startRead starts a read into b with the handler h (see call).
func (s *stream) startRead(b []byte, full bool, h unsafe.Pointer, conn bool) {
	c := s.c
	if c == nil {
		panic("iocontext: read on a stream that was never opened")
	}
	if !s.st.takeWith(stReading, connBit(conn)) {
		s.failLater(h, conn, ErrBusy)
		return
	}
	c.addWork()
	s.rh = h
	s.rdone, s.rfull = 0, full
	s.rgen = s.cancels.Load()
	op := &s.rop
	op.Buf = b
	s.start(op, len(b) == 0)
}

// LentBuffer holds bytes read by AsyncReadLent in a buffer the Context lends to the
// handler. B is valid until Release, which the handler (or whoever it hands B to)
// calls exactly once, as soon as it is done with the bytes. B is a piece of one of the
// pool's buffers whose other pieces other reads may hold, so its capacity ends with
// its bytes (an append copies). Releasing more pieces of a buffer than were lent
// panics; a second Release of one piece while others of its buffer are lent cannot be
// told apart from theirs and frees the buffer early.
type LentBuffer struct {
	B  []byte
	c  *Context
	id int32
}

// Release gives the buffer back to the Context. Releasing the zero LentBuffer (the
// one a failed read gets) does nothing.
func (b LentBuffer) Release() {
	if b.c != nil {
		b.c.be.ReleaseBuffer(b.id)
	}
}

// AsyncReadLent reads into a buffer lent by the Context and calls h with it: the
// connection holds no read buffer of its own while it waits, so a server with many
// idle connections needs memory only for the reads in progress. A read takes only the
// bytes it received: the next read's bytes follow them in the same buffer, which goes
// back to the pool when every piece of it is released. On io_uring the buffers form a
// provided-buffer ring the kernel picks from when data arrives, filled piecewise from
// Linux 6.12 (IOU_PBUF_RING_INC; before it a read takes a whole buffer); on the other
// backends room in a buffer is taken only for the read syscall of a ready socket. When
// every buffer is lent, the read waits (its data stays in the socket) until one is
// released. h gets (LentBuffer{}, io.EOF) at the end of stream and the zero
// LentBuffer with any error. The pool's size is set with WithLendBuffers.
//
// A known limit on io_uring: when the peer sends TCP urgent (out-of-band) data, the
// kernel's own read can stop at the urgent mark with data behind it and wait for more
// to arrive (it fails there while the thread has a signal pending, and Go preempts with
// signals), so the connection may stall until the peer sends again. AsyncReadSome on
// io_uring, and every read on epoll, read on past the mark.
func (s *stream) AsyncReadLent(h func(b LentBuffer, err error)) {
	s.startLent(handler(h), false)
}

// startLent starts a lent read with the handler h (see call).
func (s *stream) startLent(h unsafe.Pointer, conn bool) {
	c := s.c
	if c == nil {
		panic("iocontext: read on a stream that was never opened")
	}
	if !s.st.takeWith(stReading, connBit(conn)) {
		s.later(func() { call(s, h, conn, LentBuffer{}, ErrBusy) })
		return
	}
	r := c.current()
	c.addWorkFrom(r)
	s.rh = h
	s.rgen = s.cancels.Load()
	op := &s.rop
	op.Buf, op.Lend = nil, true
	s.startFrom(r, op, false)
}

// lentDone completes an AsyncReadLent.
func (s *stream) lentDone(op *proactor.Op) {
	n, err := op.N, op.Err
	var lb LentBuffer
	if err == nil && n > 0 && op.Buf != nil {
		lb = LentBuffer{B: op.Buf[:n], c: s.c, id: op.BufID}
	} else if err == nil {
		err = io.EOF
	}
	op.Buf, op.Lend = nil, false
	err = s.mapErr("read", err)
	if b := s.bound(); b != nil {
		b.lb, b.rerr = lb, err
		b.ex.Dispatch(b.lentFn)
		return
	}
	h, conn := s.endRead()
	call(s, h, conn, lb, err)
}

// start hands op to the backend, or completes it at once without the backend: with
// (0, nil) when it has nothing to transfer, with net.ErrClosed on a stream that is not
// open.
func (s *stream) start(op *proactor.Op, empty bool) { s.startFrom(s.c.current(), op, empty) }

// startFrom is start for a caller that knows its runner (nil: not a runner): the
// write path looks it up once for its writer and its submission.
func (s *stream) startFrom(r *runner, op *proactor.Op, empty bool) {
	c := s.c
	if empty || !s.st.has(stOpened) {
		op.N, op.Err = 0, nil
		if s.fd.Closing() || !s.st.has(stOpened) {
			op.Err = net.ErrClosed
		}
		if c.stats {
			c.countSubmitted(r, op.Kind)
		}
		c.pushFrom(r, task{op: op})
		return
	}
	c.submitFrom(r, op)
}

func (s *stream) readDone(op *proactor.Op) {
	if op.Lend {
		s.lentDone(op)
		return
	}
	n, err := op.N, op.Err
	if err == nil && n == 0 && len(op.Buf) > 0 {
		err = io.EOF
	}
	s.rdone += n
	more := s.rfull && n < len(op.Buf)
	if more && err == nil {
		err = s.interrupted(s.rgen)
	}
	if more && err == nil {
		op.Buf = op.Buf[n:]
		s.c.addWork()
		s.c.submit(op)
		return
	}
	if b := s.bound(); b != nil {
		b.rn, b.rerr = s.rdone, s.mapErr("read", err)
		b.ex.Dispatch(b.readFn)
		return
	}
	total := s.rdone
	op.Buf = nil
	h, conn := s.endRead()
	call(s, h, conn, total, s.mapErr("read", err))
}

// boundHandlers delivers a stream's completions through an executor (SetExecutor). It
// exists only for bound streams, so unbound ones do not carry its fields.
type boundHandlers struct {
	ex                     Executor
	rn, wn                 int
	rerr, werr, cerr       error
	lb                     LentBuffer
	readFn, writeFn, conFn func() // made once
	lentFn                 func()
}

// SetExecutor makes the handlers of the stream's operations run through ex (a
// strand.Strand, say) instead of directly on the runner that completes them: each is
// dispatched to ex when its operation completes. Call it before starting operations;
// nil restores direct delivery.
func (s *stream) SetExecutor(ex Executor) {
	if ex == nil || ex == Executor(s.c) {
		if s.bound() != nil {
			s.updateMore(func(m *streamMore) { m.bound = nil })
		}
		return
	}
	b := &boundHandlers{ex: ex}
	b.readFn = func() {
		s.rop.Buf = nil
		h, conn := s.endRead()
		call(s, h, conn, b.rn, b.rerr)
	}
	b.lentFn = func() {
		lb := b.lb
		b.lb = LentBuffer{}
		h, conn := s.endRead()
		call(s, h, conn, lb, b.rerr)
	}
	b.writeFn = func() {
		w := s.w.Load()
		h, conn := w.h, w.hconn
		s.endWriter(w)
		s.st.clear(stWriting)
		call(s, h, conn, b.wn, b.werr)
	}
	b.conFn = func() {
		w := s.w.Load()
		h, conn := w.h, w.hconn
		s.endWriter(w)
		s.st.clear(stWriting)
		call(s, h, conn, 0, b.cerr)
	}
	s.updateMore(func(m *streamMore) { m.bound = b })
}

// ErrWouldBlock is returned by TryReadSome and TryWriteSome when the operation cannot
// complete without waiting.
var ErrWouldBlock = errors.New("coio: operation would block")

// TryReadSome reads into b now, on the calling goroutine, if data (or the end of the
// stream, or an error) is there: it returns what AsyncReadSome's handler would get, or
// (0, ErrWouldBlock) when the read would have to wait. It is the fast path of
// sequential code (package coroutine): no handler, no queue. It fails with ErrBusy
// while another read is in flight.
func (s *stream) TryReadSome(b []byte) (int, error) {
	if !s.st.has(stOpened) {
		return 0, ErrNotOpen
	}
	if len(b) == 0 {
		return 0, nil
	}
	if !s.st.take(stReading) {
		return 0, ErrBusy
	}
	op := &s.rop
	op.Buf = b
	ok := s.c.be.TryNow(op)
	n, err, sys := op.N, op.Err, op.Syscalls
	op.Buf, op.N, op.Err, op.Syscalls = nil, 0, nil, 0
	s.st.clear(stReading)
	if !ok {
		s.c.countTry(proactor.OpRead, false, nil, sys)
		return 0, ErrWouldBlock
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	err = s.mapErr("read", err)
	s.c.countTry(proactor.OpRead, true, err, sys)
	return n, err
}

// TryReadLent is TryReadSome for a lent read: it returns what AsyncReadLent's handler
// would get if data (or the end of the stream, or an error) is there now, or
// (LentBuffer{}, ErrWouldBlock) when the read would have to wait. The caller releases
// the buffer it returns. It fails with ErrBusy while another read is in flight.
func (s *stream) TryReadLent() (LentBuffer, error) {
	if !s.st.has(stOpened) {
		return LentBuffer{}, ErrNotOpen
	}
	if !s.st.take(stReading) {
		return LentBuffer{}, ErrBusy
	}
	op := &s.rop
	op.Buf, op.Lend = nil, true
	ok := s.c.be.TryNow(op)
	n, err, b, id, sys := op.N, op.Err, op.Buf, op.BufID, op.Syscalls
	op.Buf, op.Lend, op.N, op.Err, op.Syscalls = nil, false, 0, nil, 0
	s.st.clear(stReading)
	switch {
	case !ok:
		s.c.countTry(proactor.OpRead, false, nil, sys)
		return LentBuffer{}, ErrWouldBlock
	case err == nil && n > 0 && b != nil:
		s.c.countTry(proactor.OpRead, true, nil, sys)
		return LentBuffer{B: b[:n], c: s.c, id: id}, nil
	}
	if err == nil {
		err = io.EOF
	}
	err = s.mapErr("read", err)
	s.c.countTry(proactor.OpRead, true, err, sys)
	return LentBuffer{}, err
}

// TryWriteSome writes from b now, on the calling goroutine, as much as the socket
// takes without waiting: (n, nil) with n possibly short, or (0, ErrWouldBlock) when it
// takes nothing. It fails with ErrBusy while another write is in flight.
func (s *stream) TryWriteSome(b []byte) (int, error) {
	if !s.st.has(stOpened) {
		return 0, ErrNotOpen
	}
	if len(b) == 0 {
		return 0, nil
	}
	if !s.st.take(stWriting) {
		return 0, ErrBusy
	}
	// A writer for the call only: TryNow is done with it when it returns.
	w := s.c.getWriter(s, proactor.OpWrite)
	op := &w.op
	op.Buf = b
	ok := s.c.be.TryNow(op)
	n, err, sys := op.N, op.Err, op.Syscalls
	op.Syscalls = 0 // counted here, not by the next write that takes this writer
	w.put()
	s.st.clear(stWriting)
	if !ok {
		s.c.countTry(proactor.OpWrite, false, nil, sys)
		return 0, ErrWouldBlock
	}
	err = s.mapErr("write", err)
	s.c.countTry(proactor.OpWrite, true, err, sys)
	return n, err
}

// AsyncWriteSome writes from b and calls h with the number of bytes written, which may
// be fewer than len(b). Only one write may be in flight: a second fails with ErrBusy.
func (s *stream) AsyncWriteSome(b []byte, h func(n int, err error)) {
	s.startWrite(b, false, LentBuffer{}, handler(h), false)
}

// AsyncWrite writes all of b, then calls h(len(b), nil); on an error first, h gets the
// bytes written so far and the error.
func (s *stream) AsyncWrite(b []byte, h func(n int, err error)) {
	s.startWrite(b, true, LentBuffer{}, handler(h), false)
}

// AsyncWriteLent writes all of b.B, as AsyncWrite does, and releases b when the write
// is over, whatever its result (ErrBusy too), before h runs; a write the backend makes
// at once releases b before AsyncWriteLent returns, so b.B must not be touched after
// the call. A handler that forwards what AsyncReadLent gave it (an echo, a proxy) thus
// needs no field to keep the buffer until the write completes: the write in flight
// holds it, and a connection between two messages holds nothing.
func (s *stream) AsyncWriteLent(b LentBuffer, h func(n int, err error)) {
	s.startWrite(b.B, true, b, handler(h), false)
}

// startWrite starts a write of b with the handler h (see call); lent, if not zero,
// is released when it is over.
func (s *stream) startWrite(b []byte, full bool, lent LentBuffer, h unsafe.Pointer, conn bool) {
	c := s.c
	if c == nil {
		panic("iocontext: write on a stream that was never opened")
	}
	if !s.st.take(stWriting) {
		if lent.c != nil {
			s.later(func() {
				lent.Release()
				call(s, h, conn, 0, ErrBusy)
			})
			return
		}
		s.failLater(h, conn, ErrBusy)
		return
	}
	r := c.current()
	c.addWorkFrom(r)
	w := c.getWriterFrom(r, s, proactor.OpWrite)
	w.h, w.hconn, w.done, w.full, w.lent = h, conn, 0, full, lent
	w.gen = s.cancels.Load()
	w.op.Buf = b
	if lent.c == c {
		w.op.BufID = lent.id + 1 // the backend may give it back at the completion
	}
	s.startWriter(w)
	s.startFrom(r, &w.op, len(b) == 0)
}

// AsyncWriteVec writes the buffers of bufs in order, as one stream of bytes, with as
// few syscalls as the backend allows (writev(2); on io_uring one sendmsg request per
// round), then calls h(total, nil); on an error first, h gets the bytes written so far
// and the error. The buffers must not change until h runs. The write keeps its own
// copy of the slice headers (in a pooled writer, reused by later writes), so bufs
// itself may be reused after the call returns.
func (s *stream) AsyncWriteVec(bufs [][]byte, h func(n int, err error)) {
	c := s.c
	if c == nil {
		panic("iocontext: write on a stream that was never opened")
	}
	if !s.st.take(stWriting) {
		s.failLater(handler(h), false, ErrBusy)
		return
	}
	c.addWork()
	w := c.getWriter(s, proactor.OpWrite)
	w.h, w.hconn, w.done, w.full = handler(h), false, 0, true
	w.vec = append(w.vec[:0], bufs...)
	w.ext.Vec = w.vec
	w.gen = s.cancels.Load()
	w.op.Buf, w.op.Ext = nil, &w.ext
	s.startWriter(w)
	s.start(&w.op, vecEmpty(w.vec))
}

// vecEmpty reports whether vec holds no bytes; it stops at the first buffer that has
// some, so after advanceVec it looks at one buffer.
func vecEmpty(vec [][]byte) bool {
	for _, b := range vec {
		if len(b) > 0 {
			return false
		}
	}
	return true
}

// advanceVec drops the first n bytes of vec, which the stream owns.
func advanceVec(vec [][]byte, n int) [][]byte {
	for len(vec) > 0 && n >= len(vec[0]) {
		n -= len(vec[0])
		vec = vec[1:]
	}
	if len(vec) > 0 {
		vec[0] = vec[0][n:]
	}
	return vec
}

func (s *stream) writeDone(w *writer) {
	op := &w.op
	if op.Kind == proactor.OpConnect {
		s.connectDone(w)
		return
	}
	n, err := op.N, op.Err
	w.done += n
	if op.Ext != nil {
		w.ext.Vec = advanceVec(w.ext.Vec, n)
		more := !vecEmpty(w.ext.Vec)
		if more && err == nil {
			err = s.interrupted(w.gen)
		}
		if more && err == nil {
			s.c.addWork()
			s.c.submit(op)
			return
		}
	}
	more := w.full && n < len(op.Buf)
	if more && err == nil {
		err = s.interrupted(w.gen)
	}
	if more && err == nil {
		op.Buf = op.Buf[n:]
		s.c.addWork()
		s.c.submit(op)
		return
	}
	if b := s.bound(); b != nil {
		b.wn, b.werr = w.done, s.mapErr("write", err)
		b.ex.Dispatch(b.writeFn)
		return
	}
	h, conn, total := w.h, w.hconn, w.done
	s.endWriter(w)
	s.st.clear(stWriting)
	call(s, h, conn, total, s.mapErr("write", err))
}

func (s *stream) connectDone(w *writer) {
	err := w.op.Err
	if b := s.bound(); b != nil {
		b.cerr = s.mapErr("dial", err)
		b.ex.Dispatch(b.conFn)
		return
	}
	h := w.h
	s.endWriter(w)
	s.st.clear(stWriting)
	call(s, h, false, 0, s.mapErr("dial", err))
}

// startConnect connects the open stream to sa; h gets the result.
func (s *stream) startConnect(sa unix.Sockaddr, h func(error)) {
	s.st.set(stWriting)
	s.c.addWork()
	w := s.c.getWriter(s, proactor.OpConnect)
	// The connect's handler waits in the write handler's place: one closure per
	// connect, not a field per writer.
	w.h, w.hconn = handler(func(_ int, err error) { h(err) }), false
	w.ext.Addr = sa
	s.startWriter(w)
	s.c.submit(&w.op)
}

// Cancel aborts the read and the write in flight: their handlers run with ErrAborted,
// unless they completed already, posted, never inside Cancel. An AsyncRead or
// AsyncWrite cancelled between two of its parts reports the bytes transferred so far.
func (s *stream) Cancel() {
	if s.st.has(stOpened) {
		s.cancels.Add(1)
		s.c.be.Cancel(&s.fd)
	}
}

// interrupted says whether an AsyncRead/AsyncWrite that started when the cancel count
// was gen must stop between two parts: cancelled (ErrAborted) or closed
// (ErrAbortedClosed) meanwhile. The part in flight at that moment was aborted by the
// backend; this covers the moment between parts, when nothing is in flight.
func (s *stream) interrupted(gen uint32) error {
	switch {
	case s.fd.Closing():
		return proactor.ErrAbortedClosed
	case s.cancels.Load() != gen:
		return ErrAborted
	}
	return nil
}

// Close aborts the ops in flight (their handlers get an error matching both
// ErrAborted and net.ErrClosed) and closes the descriptor as soon as no syscall and no
// op is using it. A second Close returns net.ErrClosed.
func (s *stream) Close() error {
	if !s.st.has(stOpened) {
		return ErrNotOpen
	}
	s.c.unregisterStream(s)
	err := s.c.be.Close(&s.fd)
	if err == nil {
		s.c.openStreams.Add(-1)
	}
	return err
}

// CloseRead shuts down the reading side (shutdown(SHUT_RD)).
func (s *stream) CloseRead() error { return s.shutdownDir(unix.SHUT_RD, "close read") }

// CloseWrite shuts down the writing side (shutdown(SHUT_WR)): the peer reads io.EOF
// once it has read everything written before.
func (s *stream) CloseWrite() error { return s.shutdownDir(unix.SHUT_WR, "close write") }

func (s *stream) shutdownDir(how int, op string) error {
	return s.control(op, func(fd int) error { return unix.Shutdown(fd, how) })
}

// control runs fn on the descriptor while holding a reference, so it cannot be closed
// and its number reused meanwhile.
func (s *stream) control(op string, fn func(fd int) error) error {
	if !s.st.has(stOpened) {
		return ErrNotOpen
	}
	if !s.fd.Acquire() {
		return net.ErrClosed
	}
	err := fn(s.fd.Sysfd)
	s.fd.Release()
	if err != nil {
		return s.mapErr(op, err)
	}
	return nil
}

// LocalAddr returns the local address, or nil when the stream is not open.
func (s *stream) LocalAddr() net.Addr {
	var a net.Addr
	s.control("getsockname", func(fd int) error {
		sa, err := unix.Getsockname(fd)
		if err == nil {
			a = sockaddrToAddr(sa)
		}
		return nil
	})
	return a
}

// RemoteAddr returns the peer's address, or nil when the stream is not connected.
func (s *stream) RemoteAddr() net.Addr {
	if m := s.more.Load(); m != nil && m.raddr != nil {
		return m.raddr
	}
	var a net.Addr
	s.control("getpeername", func(fd int) error {
		sa, err := unix.Getpeername(fd)
		if err == nil {
			a = sockaddrToAddr(sa)
		}
		return nil
	})
	if a != nil {
		s.updateMore(func(m *streamMore) { m.raddr = a })
	}
	return a
}

func (s *stream) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return opError(op, s.network(), s.LocalAddr, s.RemoteAddr, err)
}

func (s *stream) link() *links[stream] { return &s.links }
