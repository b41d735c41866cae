package main

import (
	"testing"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/internal/exampletest"
)

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

// TestEchoProgram builds the program, echoes through it from several connections and
// stops it with SIGINT.
func TestEchoProgram(t *testing.T) { exampletest.Echo(t, "echo", "-metrics", "127.0.0.1:0") }

// TestEchoProgramOwnBuffers runs the program with a read buffer per connection
// (-lend=false) on each backend.
func TestEchoProgramOwnBuffers(t *testing.T) {
	for _, be := range []string{"epoll", "iouring"} {
		t.Run(be, func(t *testing.T) {
			t.Setenv("COIO_BACKEND", be)
			exampletest.Echo(t, "echo", "-metrics=", "-lend=false")
		})
	}
}
