package main

import (
	"bufio"
	"crypto/tls"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// ants (Offload's pool) starts a default pool of its own at package init: those
	// goroutines exist before any test and are not a leak.
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}

// TestTLSEchoProgram builds the program, talks TLS to it from several connections and
// stops it with SIGINT.
func TestTLSEchoProgram(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tls-echo")
	if out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-runners", "2")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatal("tls-echo printed nothing")
	}
	m := regexp.MustCompile(`listening on (\S+) `).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("unexpected first line %q", lines.Text())
	}
	for i := range 4 {
		c, err := tls.Dial("tcp", m[1], &tls.Config{InsecureSkipVerify: true})
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
	idle, err := tls.Dial("tcp", m[1], &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	cmd.Process.Signal(syscall.SIGINT)
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tls-echo exited with %v", err)
	}
	if !strings.Contains(string(rest), "tls-echo: stopped") {
		t.Fatalf("no clean stop: %q", rest)
	}
}
