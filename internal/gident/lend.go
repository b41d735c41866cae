package gident

import "sync/atomic"

// A coroutine (package coroutine) runs on a goroutine of its own, switched to by the
// runner that resumes it, which waits meanwhile. For Dispatch, posting to the local
// queue and a strand's RunningInThisStrand, the coroutine must count as that runner:
// the runner lends it its identity for the duration of the resume.
//
// Loans live in a small table that Current scans only while some loan is active: at
// most one per runner at a time, so the scan is short, and goroutines that use no
// coroutine pay one atomic load.

const maxLoans = 256

type loan struct {
	from atomic.Uintptr // the borrowing goroutine, 0 when the slot is free
	to   atomic.Uintptr // the identity it takes
}

var (
	loans  [maxLoans]loan
	active atomic.Int32 // loans in use
	high   atomic.Int32 // slots below this index may be in use
)

// Current returns an identity of the calling goroutine: the address of its runtime g,
// or the identity lent to it. It is nonzero where Supported, distinct between live
// goroutines that have no loan, and must never be dereferenced.
func Current() uintptr {
	g := getg()
	if active.Load() == 0 {
		return g
	}
	n := high.Load()
	for i := int32(0); i < n; i++ {
		if loans[i].from.Load() == g {
			return loans[i].to.Load()
		}
	}
	return g
}

// Raw returns the calling goroutine's own identity, ignoring loans.
func Raw() uintptr { return getg() }

// Lend makes Current return to when called on the goroutine whose Raw identity is
// from, until Return(slot). It returns -1 when the table is full (the borrower then
// keeps its own identity: correct, only slower).
func Lend(from, to uintptr) int {
	if from == 0 || to == 0 {
		return -1
	}
	for i := range loans {
		l := &loans[i]
		if l.from.Load() == 0 && l.from.CompareAndSwap(0, ^uintptr(0)) {
			l.to.Store(to)
			l.from.Store(from)
			for {
				h := high.Load()
				if int32(i) < h || high.CompareAndSwap(h, int32(i)+1) {
					break
				}
			}
			active.Add(1)
			return i
		}
	}
	return -1
}

// Return ends the loan in slot.
func Return(slot int) {
	if slot < 0 {
		return
	}
	active.Add(-1)
	loans[slot].to.Store(0)
	loans[slot].from.Store(0)
}
