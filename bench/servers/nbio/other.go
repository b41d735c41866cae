//go:build netbsd || openbsd

package main

import (
	"fmt"
	"os"
)

// lesismal/nbio, at the version bench/go.mod names, does not build on NetBSD or
// OpenBSD: this peer is left out there.
func main() {
	fmt.Fprintln(os.Stderr, "nbio: lesismal/nbio does not build on NetBSD or OpenBSD")
	os.Exit(2)
}
