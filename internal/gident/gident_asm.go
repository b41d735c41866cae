//go:build amd64 || arm64

package gident

// Supported reports whether Current identifies goroutines on this architecture.
const Supported = true

// Current returns an identity of the calling goroutine: the address of its runtime g.
// It is nonzero, distinct between live goroutines, and must never be dereferenced.
//
//go:noescape
func Current() uintptr
