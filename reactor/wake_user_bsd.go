//go:build darwin || freebsd

package reactor

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// waker wakes kevent through an EVFILT_USER event: no descriptor, one syscall per wake.
type waker struct{}

const wakeIdent = 0 // EVFILT_USER idents live in their own namespace

func (w *waker) init(kq int) error {
	var ev unix.Kevent_t
	unix.SetKevent(&ev, wakeIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	if _, err := unix.Kevent(kq, []unix.Kevent_t{ev}, nil, nil); err != nil {
		return fmt.Errorf("reactor: kevent(EVFILT_USER): %w", err)
	}
	return nil
}

func (w *waker) is(e *unix.Kevent_t) bool { return int(e.Filter) == unix.EVFILT_USER }

func (w *waker) drain() {}

func (w *waker) wake(kq int) error {
	var ev unix.Kevent_t
	unix.SetKevent(&ev, wakeIdent, unix.EVFILT_USER, 0)
	ev.Fflags = unix.NOTE_TRIGGER
	for {
		_, err := unix.Kevent(kq, []unix.Kevent_t{ev}, nil, nil)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("reactor: kevent(NOTE_TRIGGER): %w", err)
			}
			return nil
		}
	}
}

func (w *waker) close() {}
