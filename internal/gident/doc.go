// Package gident identifies the calling goroutine cheaply, so that iocontext can tell
// whether a call comes from one of its own runners (Dispatch's inline rule, posting to
// the runner's local queue, a strand's RunningInThisStrand).
//
// Go has no goroutine-local storage and its goroutine ids are deliberately hidden. The
// address of the runtime's g structure is a stable identity for a goroutine while it is
// alive: g structures are never freed, only reused after their goroutine exits, so two
// live goroutines never share one. coio only compares the current g with the g of
// goroutines that are, at that moment, inside one of its run calls, so reuse after
// exit cannot confuse it. The address is read by two instructions of assembly per
// architecture (the TLS slot on amd64, the g register on arm64); it is never
// dereferenced.
package gident
