//go:build darwin || freebsd || netbsd || openbsd

package proactor

func defaultReactive() Kind { return Kqueue }
