package proactor

import "golang.org/x/sys/unix"

// writevMax is how many buffers one writev(2) takes here; a longer vector is written
// over several calls, as a short write (the caller goes on from where it stopped).
const writevMax = 64

// writev writes the buffers of vec in order with one call (sendmsg(2) with
// MSG_NOSIGNAL on Linux, writev(2) elsewhere: sockWritev), without allocating: the
// iovec array lives on the stack.
func writev(fd int, vec [][]byte) (int, error) {
	var iov [writevMax]unix.Iovec
	n := 0
	for _, b := range vec {
		if n == writevMax {
			break
		}
		if len(b) == 0 {
			continue
		}
		iov[n].Base = &b[0]
		iov[n].SetLen(len(b))
		n++
	}
	if n == 0 {
		return 0, nil
	}
	// The iovec array and the buffers it points to stay alive and in place for the
	// call: a goroutine's stack does not move while it is in a syscall.
	r, err := sockWritev(fd, &iov[0], n)
	if err != nil {
		return 0, err
	}
	return r, nil
}
