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
	// The identity it takes. A plain word, written in Lend after the CAS on from that
	// orders it after the slot's previous loan, and read only by the borrower (Current
	// reads it only when from is its own g), after the Lend (see Lend): so no other
	// access can race with it, and a resume pays no locked store for it.
	to uintptr
}

var loans [maxLoans]loan

var high atomic.Int32 // slots below this index may be in use; 0 until the first loan

// Current returns an identity of the calling goroutine: the address of its runtime g,
// or the identity lent to it. It is nonzero where Supported, distinct between live
// goroutines that have no loan, and must never be dereferenced.
//
// Until the first loan it costs one atomic load more than getg; after that, a scan of
// the slots ever used at once, which is about the number of runners.
func Current() uintptr {
	g := getg()
	n := high.Load()
	for i := int32(0); i < n; i++ {
		if loans[i].from.Load() == g {
			return loans[i].to
		}
	}
	return g
}

// Raw returns the calling goroutine's own identity, ignoring loans.
func Raw() uintptr { return getg() }

// Lend makes Current return to when called on the goroutine whose Raw identity is
// from, until Return(slot). hint is a slot to try first (the last one the borrower
// had: usually free again). It returns -1 when the table is full (the borrower then
// keeps its own identity: correct, only slower).
//
// Lend may be called on the borrower or on another goroutine (the coroutine's runner
// lends before it switches to the coroutine), as long as the Lend happens before the
// borrower's next Current. The borrower must be alive, and the loan returned before
// it exits: a later goroutine given the same g would otherwise take the loan.
func Lend(from, to uintptr, hint int) int {
	if from == 0 || to == 0 {
		return -1
	}
	if hint >= 0 && hint < maxLoans && claim(hint, from, to) {
		return hint
	}
	for i := range loans {
		if claim(i, from, to) {
			return i
		}
	}
	return -1
}

func claim(i int, from, to uintptr) bool {
	l := &loans[i]
	if l.from.Load() != 0 || !l.from.CompareAndSwap(0, from) {
		return false
	}
	l.to = to
	if h := high.Load(); int32(i) >= h {
		for !high.CompareAndSwap(h, int32(i)+1) {
			if h = high.Load(); int32(i) < h {
				break
			}
		}
	}
	return true
}

// Return ends the loan in slot.
func Return(slot int) {
	if slot >= 0 {
		loans[slot].from.Store(0)
	}
}
