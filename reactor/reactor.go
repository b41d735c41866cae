package reactor

import "errors"

// Events is a set of readiness conditions.
type Events uint32

// Readiness conditions reported by Wait and requested by Add and Modify.
const (
	// Readable: a read, accept or recv would not block (data, a pending connection,
	// end of stream or an error is there to be collected).
	Readable Events = 1 << iota
	// Writable: a write or send would not block, or a pending connect finished.
	Writable
	// Hangup: the peer closed or the descriptor has an error. Reported together with
	// Readable and Writable so that every waiting operation retries its syscall and
	// collects the error itself.
	Hangup
	// Urgent: TCP urgent (out-of-band) data is pending (epoll only, with Readable). A
	// read stops short at its mark with data left behind it, so from then on a short
	// read no longer says that the socket is empty.
	Urgent
)

// Event is one readiness report.
type Event struct {
	Token  uint64 // the token given to Add or Modify
	Events Events // what the descriptor became ready for
}

// ErrClosed is returned by the methods of a Poller that has been closed.
var ErrClosed = errors.New("reactor: poller closed")
