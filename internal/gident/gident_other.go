//go:build !amd64 && !arm64

package gident

// Supported reports whether Current identifies goroutines on this architecture. Where it
// is false, iocontext treats every caller as outside its runners: Dispatch posts, and
// posts from handlers go to the shared queue.
const Supported = false

func getg() uintptr { return 0 }
