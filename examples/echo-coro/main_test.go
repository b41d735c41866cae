package main

import (
	"testing"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/internal/exampletest"
)

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

// TestEchoProgram builds the program, echoes through it from several connections and
// stops it with SIGINT.
func TestEchoProgram(t *testing.T) { exampletest.Echo(t, "echo-coro") }

// TestEchoProgramLent is TestEchoProgram with -lend: the coroutines read with ReadLent.
func TestEchoProgramLent(t *testing.T) { exampletest.Echo(t, "echo-coro", "-lend") }
