//go:build netbsd || openbsd

package main

import (
	"fmt"
	"os"
)

// cloudwego/netpoll does not build on NetBSD or OpenBSD (the versions bench/go.mod names): this peer is left out there.
func main() {
	fmt.Fprintln(os.Stderr, "netpoll: cloudwego/netpoll does not build on NetBSD or OpenBSD")
	os.Exit(2)
}
