//go:build darwin || freebsd || netbsd

package sys

import "golang.org/x/sys/unix"

// noSigpipe makes a write to fd whose peer is gone fail with EPIPE without raising
// SIGPIPE, which a program that asked for it with signal.Notify would receive. Linux
// says so per write (MSG_NOSIGNAL); these systems per socket, as Go's net package sets
// it.
func noSigpipe(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_NOSIGPIPE, 1)
}
