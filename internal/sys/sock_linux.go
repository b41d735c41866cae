package sys

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Socket creates a non-blocking, close-on-exec socket in one syscall.
func Socket(family, sotype, proto int) (int, error) {
	return unix.Socket(family, sotype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
}

// Accept accepts a connection on the listening socket fd as a non-blocking,
// close-on-exec socket. It asks the kernel for no peer address: x/sys's Accept4 would
// allocate a Sockaddr per call, and callers fetch the address lazily (getpeername) when
// they want it. EAGAIN, EINTR and ECONNABORTED come back as they are.
func Accept(fd int) (int, error) {
	nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, syscall.Errno(e)
	}
	return int(nfd), nil
}
