package main

import (
	"testing"

	"github.com/coionet/coio/internal/exampletest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEchoProgram builds the program, echoes through it from several connections and
// stops it with SIGINT.
func TestEchoProgram(t *testing.T) { exampletest.Echo(t, "echo", "-metrics", "127.0.0.1:0") }
