//go:build amd64 || arm64

package gident

// Supported reports whether Current identifies goroutines on this architecture.
const Supported = true

// getg returns the address of the calling goroutine's runtime g.
//
//go:noescape
func getg() uintptr
