package proactor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The reads and writes a backend makes on a socket itself (the reactive backends'
// transfers, io_uring's bulk transfers and TryNow) use RawSyscall on Linux: the
// goroutine keeps its P through the call instead of handing it to the scheduler and
// taking it back (entersyscall and exitsyscall), which costs about 55 ns a call on
// this VM (196 against 142 ns for a read that finds nothing, testing.B). It is safe
// because none of these calls blocks: every descriptor a backend registers is
// non-blocking, so the P is held for the copy only. Under the race detector they mark
// their buffers as x/sys/unix does (rawio_race_linux.go).

// rawZero stands in for the buffer of an empty read or write, as x/sys/unix does.
var rawZero byte

// bufPtr is the address of b's first byte, or of rawZero when b is empty.
func bufPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return unsafe.Pointer(&rawZero)
	}
	return unsafe.Pointer(&b[0])
}

// sysRead is unix.Read without the scheduler's syscall hand-off; like it, it returns
// -1 with the error.
func sysRead(fd int, b []byte) (int, error) {
	// The pointer is converted in the call's argument list: b stays alive and in
	// place through the call (a goroutine's stack does not move inside it).
	n, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(bufPtr(b)), uintptr(len(b)))
	if errno != 0 {
		return -1, errno
	}
	raceReadDone(b, int(n))
	return int(n), nil
}

// sockWrite writes b to the stream socket fd: send(2) with MSG_NOSIGNAL, so that a
// peer that is gone is EPIPE, not also a SIGPIPE that a program watching for it with
// signal.Notify would get (Go ignores the signal otherwise). As cheap as write(2).
func sockWrite(fd int, b []byte) (int, error) { return sysSend(fd, b, unix.MSG_NOSIGNAL) }

// sockWritev writes the n buffers of iov to the stream socket fd in one sendmsg(2)
// with MSG_NOSIGNAL, as sockWrite does for one buffer.
func sockWritev(fd int, iov *unix.Iovec, n int) (int, error) {
	raceWritingVec(iov, n)
	msg := unix.Msghdr{Iov: iov}
	msg.SetIovlen(n)
	// msg and the iovec array live on the caller's stack, which does not move
	// while the goroutine is inside the call; the pointer is converted in the
	// call's argument list.
	r, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), unix.MSG_NOSIGNAL)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// sysSend is send(2) (sendto with no address) without the scheduler's syscall
// hand-off: unix.Sendto drops the count a short write needs, and sendmsg(2) costs
// 130–150 ns more a call on this VM (the kernel copies in a message header and an
// iovec; a 4 KiB write and read on a socket pair, 1.00–1.13 µs against 1.19–1.28
// with unix.SendmsgN, testing.B).
func sysSend(fd int, b []byte, flags int) (int, error) {
	raceWriting(b)
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(bufPtr(b)), uintptr(len(b)), uintptr(flags), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(n), nil
}
