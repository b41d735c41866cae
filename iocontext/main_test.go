package iocontext_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine is still running after the
// last test: every runner, peer and helper goroutine a test starts must have ended.
func TestMain(m *testing.M) {
	// ants (Offload's pool) starts a default pool of its own at package init: those
	// goroutines exist before any test and are not a leak.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}
