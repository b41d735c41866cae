package main

import (
	"testing"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/internal/exampletest"
)

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

// TestEchoProgram builds the program, echoes through it from several connections and
// stops it with SIGINT; the coroutines read with ReadLent.
func TestEchoProgram(t *testing.T) { exampletest.Echo(t, "echo-coro") }

// TestEchoProgramOwnBuffers is TestEchoProgram with -lend=false: each coroutine reads
// into its own buffer.
func TestEchoProgramOwnBuffers(t *testing.T) { exampletest.Echo(t, "echo-coro", "-lend=false") }
