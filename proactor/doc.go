// Package proactor is coio's asynchronous operation processor: the Op that describes one
// operation in flight, the Backend interface that starts operations and reports their
// completions, and the backends themselves.
//
// Two kinds of backend exist. A proactive backend (io_uring) hands the operation to the
// kernel and is told when it is done: one ring per Context, shared by the runners
// without binding any of them to a thread, entries prepared by any goroutine and handed
// to the kernel by the waiter's own io_uring_enter (Backend.Flush where no such enter
// is due), user data made of a slot index and a generation, cancellation by descriptor,
// a multishot accept per listener and provided-buffer rings for lent reads. A
// descriptor that moves tens of kilobytes a read is served as the reactive backend
// serves one: its read waits for readiness and copies in Perform, just before the
// handler, and its write is made at once, so the bytes stay in the cache between the
// two (a "bulk" descriptor, uring_bulk_linux.go). Lent reads share a multishot recv per
// descriptor, or make a recv request each when large messages queue up or when many
// descriptors read (uring_recv_linux.go). A waiter whose last sleep in the ring
// reaped work sleeps without releasing its P to the Go scheduler, bounded by a
// multishot timeout every 2 ms, so that sysmon does not hand the P to another thread
// for nothing at every sleep (uring_tick_linux.go). Open with
// Auto picks it where the kernel allows it and falls back to the reactive backend with
// the reason in Info. The reactive backend emulates that over a
// readiness reactor (package reactor: epoll or kqueue): it tries the syscall at once and,
// on EAGAIN, parks the operation on its descriptor's read or write list until the reactor
// reports readiness; the runner that receives the readied operation then retries the
// syscall (Perform), so the syscalls of a busy server are spread over every runner
// instead of being made by the one goroutine that waits in the reactor.
//
// # Ownership of an Op
//
// An Op belongs to its owner (an I/O object in package iocontext) while idle. Submit
// gives it to the backend. The backend gives it back exactly once, either through
// Sink.Complete (the result was known at once, or the op was aborted by Cancel or
// Close) or in the slice filled by Wait; the owner's Done function then runs with the
// result. An op that Wait returns with NeedsPerform set is not finished yet: the runner
// calls Perform, and only if Perform reports true is the op finished.
//
// # Descriptors
//
// Every descriptor a backend works on is an FD, embedded in its I/O object. An FD is
// reference counted, like the fdMutex of Go's internal/poll: each op in flight and each
// direct use (setsockopt, shutdown) holds a reference, Close marks it closing, aborts its
// ops, and the descriptor is closed by whoever drops the last reference — never while a
// syscall or the kernel may still use the number. Each registration also takes a fresh
// sequence number that travels in the reactor token, so a readiness event for a closed
// descriptor whose number has been reused is recognised and dropped.
package proactor
