package main

import (
	"testing"

	"github.com/coionet/coio/internal/exampletest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// ants (Offload's pool) starts a default pool of its own at package init: those
	// goroutines exist before any test and are not a leak.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// TestEchoProgram builds the program, echoes through it from several connections and
// stops it with SIGINT.
func TestEchoProgram(t *testing.T) { exampletest.Echo(t, "echo-coro") }
