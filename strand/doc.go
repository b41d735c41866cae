// Package strand provides Strand, an Executor that never runs two of its handlers at
// once and runs them in the order they were posted, without a lock held while they run
// (Asio's strand<>).
//
// A strand is not tied to a runner: each batch of its handlers runs on whichever runner
// of its Context picks it up, so strands balance across cores like everything else.
// A batch runs the handlers that were queued when it started, then gives the runner
// back; a handler that posts to its own strand runs in the next batch, so a strand with
// endless work does not starve the rest of the Context.
//
// Thread safety: every method may be called from any goroutine. Completion: Post and
// Defer never run the handler inline; Dispatch runs it inline only when called from a
// handler of the same strand. Panics: a panicking handler propagates out of the run call
// like any handler's (see iocontext); the strand's remaining handlers still run.
package strand
