//go:build netbsd || openbsd

package reactor

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// waker wakes kevent through a self-pipe: OpenBSD has no EVFILT_USER, and x/sys does
// not define it for NetBSD.
type waker struct {
	r, w int
}

func (w *waker) init(kq int) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("reactor: pipe2: %w", err)
	}
	w.r, w.w = p[0], p[1]
	var ev unix.Kevent_t
	unix.SetKevent(&ev, w.r, unix.EVFILT_READ, unix.EV_ADD|unix.EV_CLEAR)
	if _, err := unix.Kevent(kq, []unix.Kevent_t{ev}, nil, nil); err != nil {
		unix.Close(w.r)
		unix.Close(w.w)
		return fmt.Errorf("reactor: kevent(wake pipe): %w", err)
	}
	return nil
}

func (w *waker) is(e *unix.Kevent_t) bool {
	return int(e.Filter) == unix.EVFILT_READ && e.Ident == uint64(w.r)
}

func (w *waker) drain() {
	var buf [64]byte
	for {
		n, err := unix.Read(w.r, buf[:])
		if n <= 0 || err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
	}
}

func (w *waker) wake(int) error {
	for {
		_, err := unix.Write(w.w, []byte{1})
		switch err {
		case nil, unix.EAGAIN:
			return nil
		case unix.EINTR:
			continue
		default:
			return fmt.Errorf("reactor: wake pipe write: %w", err)
		}
	}
}

func (w *waker) close() {
	unix.Close(w.r)
	unix.Close(w.w)
}
