package exampletest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Echo builds the echo example in the current directory (a test's package directory),
// starts it on a free port, echoes through it from several connections, checks every
// byte, and stops it with SIGINT as Ctrl-C would: it must exit 0 after printing
// "NAME: stopped".
//
// With a "-metrics" argument, the program's second line must name its metrics URL,
// which is scraped after the traffic: it must report the reads it did.
func Echo(t *testing.T, name string, args ...string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-runners", "2"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatal("echo printed nothing")
	}
	m := regexp.MustCompile(`listening on (\S+) `).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("unexpected first line: %q", lines.Text())
	}
	addr := m[1]
	metricsURL := ""
	if slices.Contains(args, "-metrics") {
		if !lines.Scan() {
			t.Fatal("no metrics line")
		}
		mm := regexp.MustCompile(`metrics on (\S+)`).FindStringSubmatch(lines.Text())
		if mm == nil {
			t.Fatalf("unexpected second line: %q", lines.Text())
		}
		metricsURL = mm[1]
	}
	for i := range 5 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		msg := strings.Repeat("hello ", 1000*(i+1)) // several reads and writes
		go c.Write([]byte(msg))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("connection %d: echoed data differs", i)
		}
		c.Close()
	}
	if metricsURL != "" {
		resp, err := http.Get(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`(?m)^coio_ops_completed_total\{kind="read"\} (\d+)`).FindStringSubmatch(string(body))
		if m == nil || m[1] == "0" {
			t.Fatalf("metrics do not show the reads: %q", m)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("echo exited with %v", err)
	}
	if !strings.Contains(string(rest), name+": stopped") {
		t.Fatalf("echo did not report a clean stop; output after start: %q", rest)
	}
}
