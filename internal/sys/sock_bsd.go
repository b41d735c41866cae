//go:build darwin || freebsd || netbsd || openbsd

package sys

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Socket creates a non-blocking, close-on-exec socket that raises no SIGPIPE (see
// noSigpipe). Darwin has no SOCK_NONBLOCK, so
// the flags are set after creation while holding ForkLock, as Go's net package does, so
// that a concurrent fork+exec cannot inherit the descriptor.
func Socket(family, sotype, proto int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, sotype, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := noSigpipe(fd); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// Accept accepts a connection on the listening socket fd as a non-blocking,
// close-on-exec socket that raises no SIGPIPE.
func Accept(fd int) (int, error) {
	syscall.ForkLock.RLock()
	nfd, _, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, err
	}
	if err := noSigpipe(nfd); err != nil {
		unix.Close(nfd)
		return -1, err
	}
	return nfd, nil
}
