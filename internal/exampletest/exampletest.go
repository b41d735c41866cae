package exampletest

import (
	"bufio"
	"fmt"
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

// Build compiles the example in the current directory (a test's package directory)
// with the race detector and returns the binary's path.
func Build(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Program is an example program running for a test.
type Program struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdout io.Reader
	lines  *bufio.Scanner
	Addr   string // from its first line, "NAME: ... listening on ADDR ..."
}

var listening = regexp.MustCompile(`listening on (\S+) `)

// Run starts bin with args and reads its first line for the address it listens on.
// The program is killed when the test ends if Stop was not called.
func Run(t *testing.T, bin, name string, args ...string) *Program {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	p := &Program{t: t, name: name, cmd: cmd, stdout: stdout, lines: bufio.NewScanner(stdout)}
	m := listening.FindStringSubmatch(p.Line())
	if m == nil {
		t.Fatalf("%s: the first line does not say where it listens", name)
	}
	p.Addr = m[1]
	return p
}

// OpenFDs counts the program's open descriptors (from /proc; -1 where that cannot be
// read), for tests that check a program lets go of what it is done with.
func (p *Program) OpenFDs() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// Line returns the program's next line of output.
func (p *Program) Line() string {
	p.t.Helper()
	if !p.lines.Scan() {
		p.t.Fatalf("%s: no more output", p.name)
	}
	return p.lines.Text()
}

// Stop sends SIGINT, as Ctrl-C would: the program must exit 0 after printing
// "NAME: stopped".
func (p *Program) Stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		p.t.Fatal(err)
	}
	rest, _ := io.ReadAll(p.stdout)
	if err := p.cmd.Wait(); err != nil {
		p.t.Fatalf("%s exited with %v", p.name, err)
	}
	if !strings.Contains(string(rest), p.name+": stopped") {
		p.t.Fatalf("%s did not report a clean stop; output after start: %q", p.name, rest)
	}
}

// Echo builds the echo example in the current directory, starts it on a free port,
// echoes through it from several connections, checks every byte, and stops it.
//
// With a "-metrics" argument, the program's second line must name its metrics URL,
// which is scraped after the traffic: it must report the reads it did.
func Echo(t *testing.T, name string, args ...string) {
	t.Helper()
	p := Run(t, Build(t, name), name, append([]string{"-addr", "127.0.0.1:0", "-runners", "2"}, args...)...)
	metricsURL := ""
	if slices.Contains(args, "-metrics") {
		// The lines after "listening on" say why the backend was chosen, then
		// where the metrics are served.
		re := regexp.MustCompile(`metrics on (\S+)`)
		for i := 0; metricsURL == "" && i < 4; i++ {
			if mm := re.FindStringSubmatch(p.Line()); mm != nil {
				metricsURL = mm[1]
			}
		}
		if metricsURL == "" {
			t.Fatal("no metrics line")
		}
	}
	for i := range 5 {
		c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
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
	p.Stop()
}
