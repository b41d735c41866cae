//go:build darwin || freebsd || netbsd || openbsd

package proactor

func defaultReactive() Kind { return Kqueue }

// skips reports whether a short read or write may mark a descriptor empty (full), so
// that the next one skips its syscall until an edge comes: never on kqueue, which does
// not report TCP urgent data everywhere (see FD.marks).
func (r *reactive) skips(int) bool { return false }
