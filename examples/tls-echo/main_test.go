package main

import (
	"crypto/tls"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/internal/exampletest"
)

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

// TestTLSEchoProgram builds the program, talks TLS to it from several connections and
// stops it with SIGINT.
func TestTLSEchoProgram(t *testing.T) {
	p := exampletest.Run(t, exampletest.Build(t, "tls-echo"), "tls-echo", "-addr", "127.0.0.1:0", "-runners", "2")
	for i := range 4 {
		c, err := tls.Dial("tcp", p.Addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := strings.Repeat("secret ", 500*(i+1))
		go c.Write([]byte(msg))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.Close()
	}
	// One connection stays open: shutting down must end its coroutine too.
	idle, err := tls.Dial("tcp", p.Addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	p.Stop()
}
