// Package reactor is coio's readiness demultiplexer: a Poller over epoll (Linux) or
// kqueue (darwin, freebsd, netbsd, openbsd) that reports which registered descriptors
// became readable or writable, waits with a timeout, and can be woken from any goroutine.
//
// The reactor knows nothing of operations or handlers; the reactive backend in
// package proactor builds completions on top of it.
//
// # Edge-triggered
//
// Descriptors are registered once, for both directions, edge-triggered (EPOLLET,
// EV_CLEAR), and stay registered until they are closed. The proactor always tries an
// operation's syscall first and only waits for readiness after EAGAIN, which is exactly
// the contract edge triggering needs: an event arrives only on a transition, so a
// descriptor whose data is already read raises no further events. Level triggering would
// force an epoll_ctl per operation (arm on EAGAIN, disarm after) or report the same ready
// descriptor on every wait while its handler is still queued — a syscall or a wasted
// wake-up per message. Go's runtime netpoller makes the same choice for the same reason.
//
// # Tokens
//
// Each registration carries a 64-bit token that the poller hands back with every event.
// The proactor puts the fd number and a sequence number in it, so an event that was
// already in flight when its descriptor was closed and the number reused is recognised
// as stale and dropped.
//
// # Thread safety
//
// Add, Modify, Remove and Wake may be called from any goroutine. Wait must be called by
// one goroutine at a time. Close must be called once, after the last Wait has returned.
package reactor
