// Package uring is a thin, allocation-free binding of Linux io_uring on
// golang.org/x/sys/unix: the kernel ABI structures and constants, ring set-up with
// its mmap'd submission and completion queues, submission-queue entries, batched
// completion reaping, io_uring_enter with a timeout, registration (probe, provided
// buffer rings). It holds no policy: which ops to submit, how to wait and who may
// touch the ring belong to the proactor's io_uring backend.
//
// A Ring is not safe for concurrent use of one side: one goroutine at a time may
// produce submission entries (GetSQE, Publish) and one at a time may consume
// completions (Peek, Advance); the two sides may run concurrently, and Enter may be
// called from any goroutine. Every pointer written into an entry is an address the
// kernel uses after the call returns: the caller keeps that memory reachable and
// unmoved until the entry's completion has been reaped.
package uring
