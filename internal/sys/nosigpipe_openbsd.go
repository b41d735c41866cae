//go:build openbsd

package sys

// noSigpipe does nothing: OpenBSD has no SO_NOSIGPIPE, only MSG_NOSIGNAL per send,
// which the reactive backend's write(2) does not take. A write to a peer that is gone
// raises SIGPIPE there; Go's runtime ignores it unless the program asked for it with
// signal.Notify.
func noSigpipe(int) error { return nil }
