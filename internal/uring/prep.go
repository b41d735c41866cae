//go:build linux

package uring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Prep methods fill a zeroed entry from GetSQE. Addresses are taken from the
// arguments; the caller keeps the memory they point to alive and unmoved until the
// entry's completion (see the package documentation).

// addr is the address of b's first byte, 0 for an empty slice.
func addr(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

// PrepNop prepares a no-op.
func (e *SQE) PrepNop(ud uint64) {
	e.Opcode, e.Fd, e.UserData = OpNop, -1, ud
}

// PrepRecv prepares a recv(2) of up to len(b) bytes into b.
func (e *SQE) PrepRecv(fd int, b []byte, msgFlags uint32, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Len, e.OpFlags, e.UserData = OpRecv, int32(fd), addr(b), uint32(len(b)), msgFlags, ud
}

// PrepRecvMultishot prepares a multishot recv into buffers of provided-buffer group
// bgid: one completion per receive, each with CQEFBuffer, until one without CQEFMore.
func (e *SQE) PrepRecvMultishot(fd int, bgid uint16, ud uint64) {
	e.Opcode, e.Fd, e.UserData = OpRecv, int32(fd), ud
	e.Ioprio = RecvMultishot
	e.Flags = SQEBufferSelect
	e.BufIndex = bgid
}

// PrepRecvSelect prepares a single recv into a buffer the kernel picks from group bgid.
func (e *SQE) PrepRecvSelect(fd int, bgid uint16, ud uint64) {
	e.PrepRecvSelectMax(fd, bgid, 0, ud)
}

// PrepRecvSelectMax is PrepRecvSelect reading at most max bytes; a single-shot recv
// needs it (its length is not taken from the buffer), a multishot or bundle recv
// takes 0 for "the whole buffer".
func (e *SQE) PrepRecvSelectMax(fd int, bgid uint16, max uint32, ud uint64) {
	e.Opcode, e.Fd, e.Len, e.UserData = OpRecv, int32(fd), max, ud
	e.Flags = SQEBufferSelect
	e.BufIndex = bgid
}

// PrepSend prepares a send(2) of b.
func (e *SQE) PrepSend(fd int, b []byte, msgFlags uint32, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Len, e.OpFlags, e.UserData = OpSend, int32(fd), addr(b), uint32(len(b)), msgFlags, ud
}

// PrepRead prepares a read(2) of up to len(b) bytes at the file's position.
func (e *SQE) PrepRead(fd int, b []byte, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Len, e.UserData = OpRead, int32(fd), addr(b), uint32(len(b)), ud
	e.Off = ^uint64(0) // -1: the current position, as read(2)
}

// PrepRecvmsg prepares a recvmsg(2) with msg.
func (e *SQE) PrepRecvmsg(fd int, msg *unix.Msghdr, msgFlags uint32, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Len, e.OpFlags, e.UserData = OpRecvmsg, int32(fd), uint64(uintptr(unsafe.Pointer(msg))), 1, msgFlags, ud
}

// PrepSendmsg prepares a sendmsg(2) with msg.
func (e *SQE) PrepSendmsg(fd int, msg *unix.Msghdr, msgFlags uint32, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Len, e.OpFlags, e.UserData = OpSendmsg, int32(fd), uint64(uintptr(unsafe.Pointer(msg))), 1, msgFlags, ud
}

// PrepAccept prepares an accept4(2) that does not report the peer's address.
func (e *SQE) PrepAccept(fd int, flags uint32, ud uint64) {
	e.Opcode, e.Fd, e.OpFlags, e.UserData = OpAccept, int32(fd), flags, ud
}

// PrepAcceptMultishot prepares a multishot accept: one completion per connection
// until one without CQEFMore.
func (e *SQE) PrepAcceptMultishot(fd int, flags uint32, ud uint64) {
	e.PrepAccept(fd, flags, ud)
	e.Ioprio = AcceptMultishot
}

// PrepConnect prepares a connect(2) to the raw socket address sa of length n.
func (e *SQE) PrepConnect(fd int, sa unsafe.Pointer, n uint32, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Off, e.UserData = OpConnect, int32(fd), uint64(uintptr(sa)), uint64(n), ud
}

// PrepCancel prepares the cancellation of the request whose user data is target.
func (e *SQE) PrepCancel(target uint64, flags uint32, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.OpFlags, e.UserData = OpAsyncCancel, -1, target, flags, ud
}

// PrepCancelFd prepares the cancellation of every request on fd.
func (e *SQE) PrepCancelFd(fd int, ud uint64) {
	e.Opcode, e.Fd, e.OpFlags, e.UserData = OpAsyncCancel, int32(fd), CancelFd|CancelAll, ud
}

// PrepPollAdd prepares a poll for events (POLLIN, ...) on fd; multi makes it
// multishot.
func (e *SQE) PrepPollAdd(fd int, events uint32, multi bool, ud uint64) {
	e.Opcode, e.Fd, e.OpFlags, e.UserData = OpPollAdd, int32(fd), events, ud
	if multi {
		e.Len = PollAddMulti
	}
}

// PrepTimeout prepares a timeout of ts that completes with -ETIME (or after count
// other completions when count > 0).
func (e *SQE) PrepTimeout(ts *unix.Timespec, count uint64, flags uint32, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Len, e.Off, e.OpFlags, e.UserData = OpTimeout, -1, uint64(uintptr(unsafe.Pointer(ts))), 1, count, flags, ud
}

// PrepLinkTimeout prepares a timeout for the entry before it, which must carry
// SQEIOLink.
func (e *SQE) PrepLinkTimeout(ts *unix.Timespec, flags uint32, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Len, e.OpFlags, e.UserData = OpLinkTimeout, -1, uint64(uintptr(unsafe.Pointer(ts))), 1, flags, ud
}

// PrepShutdown prepares a shutdown(2) of fd.
func (e *SQE) PrepShutdown(fd int, how int, ud uint64) {
	e.Opcode, e.Fd, e.Len, e.UserData = OpShutdown, int32(fd), uint32(how), ud
}

// PrepClose prepares a close(2) of fd.
func (e *SQE) PrepClose(fd int, ud uint64) {
	e.Opcode, e.Fd, e.UserData = OpClose, int32(fd), ud
}

// PrepMsgRing prepares a message to the ring ringFd: a completion there with user
// data ud2 and result res.
func (e *SQE) PrepMsgRing(ringFd int, res uint32, ud2 uint64, ud uint64) {
	e.Opcode, e.Fd, e.Addr, e.Len, e.Off, e.UserData = OpMsgRing, int32(ringFd), msgRingData, res, ud2, ud
}
