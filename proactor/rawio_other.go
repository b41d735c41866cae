//go:build !linux

package proactor

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysRead, sockWrite and sockWritev are the reactive backend's socket
// transfers (see rawio_linux.go); elsewhere they are x/sys/unix's, which call the C
// library where the system wants that. The BSDs and darwin keep write(2) and
// writev(2): darwin has no MSG_NOSIGNAL (it has the SO_NOSIGPIPE socket option).
func sysRead(fd int, b []byte) (int, error) { return unix.Read(fd, b) }

func sockWrite(fd int, b []byte) (int, error) { return unix.Write(fd, b) }

func sockWritev(fd int, iov *unix.Iovec, n int) (int, error) {
	// The iovec array lives on the caller's stack, which does not move while the
	// goroutine is inside the call.
	r, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(iov)), uintptr(n))
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}
