package iocontext_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine is still running after the
// last test: every runner, peer and helper goroutine a test starts must have ended.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
