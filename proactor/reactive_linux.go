package proactor

import "golang.org/x/sys/unix"

func defaultReactive() Kind { return Epoll }

// skips reports whether a short read or write of sysfd may mark it empty (full), so
// that the next one skips its syscall until an edge comes: only for TCP sockets, whose
// short transfers mean exactly that, and whose urgent data epoll reports (see
// FD.marks). One getsockopt per registration.
func (r *reactive) skips(sysfd int) bool {
	p, err := unix.GetsockoptInt(sysfd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return err == nil && p == unix.IPPROTO_TCP
}
