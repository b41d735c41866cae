//go:build !linux

package main

import (
	"fmt"
	"os"
)

// echoload drives its connections through raw epoll and reads the server's CPU time
// from /proc: Linux only, as the rest of the harness (taskset, perf).
func main() {
	fmt.Fprintln(os.Stderr, "echoload: Linux only (epoll, /proc)")
	os.Exit(2)
}
