// Package coroutine lets a coio handler be written as sequential code: a coroutine
// spawned on an Executor calls y.Read(conn, buf), y.Write, y.Accept, y.Sleep or the
// generic Await, and is suspended until the operation completes, without blocking a
// runner meanwhile. y.ReadLent(conn) reads into a buffer lent by the Context, so a
// connection that waits for data holds no read buffer.
//
// A read first tries to take data that is already there without suspending; on a
// connection where that keeps finding nothing (request/response) it stops trying,
// but for one read in eight, which notices when data starts to wait. Writes and
// accepts do the same (an accept takes a connection already waiting), within a budget
// of operations in a row after which the coroutine suspends once anyway, so that one
// that always finds its operations ready cannot keep a runner from the others.
//
// # The switch
//
// A coroutine is a goroutine driven with iter.Pull, so resuming and suspending it is
// the Go runtime's own coroutine switch (runtime.coroswitch): the runner hands its
// thread straight to the coroutine and gets it back at the next suspension, without a
// trip through the scheduler's run queue. DESIGN.md explains why no hand-written stack
// switch is used. The coroutine keeps Go's growable stack, defer and panics.
//
// # Resumption
//
// An operation is started only after the coroutine has suspended: the coroutine
// records what it wants and yields; the runner that resumed it starts the operation on
// its way out. The completion handler, on whichever runner it lands, then resumes the
// coroutine through the coroutine's executor (Dispatch: inline on a runner of a
// Context; through the strand for a coroutine spawned on a strand). So a completion
// can never arrive before the suspension it completes, one completion means one
// resume, and a coroutine is never resumed by two runners at once. Successive resumes
// may happen on different runners: coroutines migrate, so load balances across cores.
//
// While resumed, the coroutine borrows the identity of the runner that resumed it
// (internal/gident), so Dispatch inside it runs inline and a strand's
// RunningInThisStrand is true inside a coroutine spawned on that strand.
//
// # Panics and shutdown
//
// A panic in a coroutine goes to its completion handler when SpawnWith was used, and
// otherwise propagates out of the run call of the runner that resumed it, like a
// handler's panic. When the Context is closed, every pending operation completes with
// an error (ErrAborted), so each suspended coroutine is resumed and can unwind;
// a coroutine that keeps starting operations after that is unwound at its next
// suspension (its deferred calls run), so none is left parked.
package coroutine
