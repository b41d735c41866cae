package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// spec is how to start one server: its binary (in the -bin directory), its arguments
// for an address and a number of cores (runners, event loops, threads, pollers), and
// extra environment.
type spec struct {
	bin  string
	args func(addr string, cores int) []string
	env  []string
}

func addrOnly(addr string, _ int) []string { return []string{"-addr", addr} }

func withCores(flag string, extra ...string) func(string, int) []string {
	return func(addr string, cores int) []string {
		return append([]string{"-addr", addr, flag, strconv.Itoa(cores)}, extra...)
	}
}

// echoServers are the TCP echo servers of scenarios (a)–(c). Their configurations are
// in bench/README.md.
var echoServers = map[string]spec{
	// coio: examples/echo as it comes, on the backend Auto picks (io_uring where the
	// kernel allows it, said in the server's first lines): reads into 64 KiB buffers
	// lent by the Context (AsyncReadLent), so idle connections hold none.
	// coio-epoll and coio-uring force a backend; coio-own gives each connection its
	// own 4 KiB read buffer (-lend=false), as the Asio server does.
	"coio":       {bin: "coio-echo", args: withCores("-runners", "-metrics=")},
	"coio-epoll": {bin: "coio-echo", args: withCores("-runners", "-metrics="), env: []string{"COIO_BACKEND=epoll"}},
	"coio-uring": {bin: "coio-echo", args: withCores("-runners", "-metrics="), env: []string{"COIO_BACKEND=iouring"}},
	"coio-own":   {bin: "coio-echo", args: withCores("-runners", "-metrics=", "-lend=false")},
	"coro":       {bin: "coio-echo-coro", args: withCores("-runners")},
	"gonet":      {bin: "gonet", args: addrOnly},
	"gnet":       {bin: "gnet", args: addrOnly}, // multicore iff GOMAXPROCS > 1
	"nbio":       {bin: "nbio", args: withCores("-npoller")},
	"netpoll":    {bin: "netpoll", args: withCores("-loops")},
	"asio":       {bin: "asio", args: withCores("-threads")},
	"asio-uring": {bin: "asio-uring", args: withCores("-threads")},
}

// defaultEcho is the echo servers' run order.
var defaultEcho = []string{"coio", "coio-epoll", "coio-own", "coro", "asio", "asio-uring", "gnet", "nbio", "netpoll", "gonet"}

// httpServers are the HTTP responders of scenario (d).
var httpServers = map[string]spec{
	"coio":         {bin: "coio-http", args: withCores("-runners", "-mode", "callback")},
	"coio-nethttp": {bin: "coio-http", args: withCores("-runners", "-mode", "nethttp")},
	"nethttp":      {bin: "nethttp", args: addrOnly},
	"fasthttp":     {bin: "fasthttp", args: addrOnly},
	"gnet":         {bin: "gnethttp", args: addrOnly},
}

var defaultHTTP = []string{"coio", "coio-nethttp", "fasthttp", "gnet", "nethttp"}

// layout is where a run's processes go.
type layout struct {
	name      string
	cores     int    // GOMAXPROCS, and the server's runners / loops / threads
	serverCPU string // taskset -c for the server, "" for none
	genCPU    string // taskset -c for the generator
}

var (
	oneCore  = layout{name: "1 core: server taskset -c 0, GOMAXPROCS=1; generator taskset -c 1", cores: 1, serverCPU: "0", genCPU: "1"}
	twoCores = layout{name: "2 cores: server and generator unpinned, GOMAXPROCS=2", cores: 2}
)

// pinned prefixes argv with taskset when cpu is set.
func pinned(cpu string, argv ...string) []string {
	if cpu == "" {
		return argv
	}
	return append([]string{"taskset", "-c", cpu}, argv...)
}

// server is a running server process.
type server struct {
	cmd     *exec.Cmd
	pid     int
	port    int
	log     *tail
	done    chan struct{} // closed when the process has exited
	waitErr error         // its exit status, once done is closed
	cmdline string
}

// errNotBuilt marks a server whose binary is missing.
var errNotBuilt = errors.New("not built")

// startServer starts a server and waits (at most 10 s) until it listens on port.
func startServer(binDir string, sp spec, port int, l layout) (*server, error) {
	bin := filepath.Join(binDir, sp.bin)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %w (%v)", sp.bin, errNotBuilt, err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	argv := pinned(l.serverCPU, append([]string{bin}, sp.args(addr, l.cores)...)...)
	env := append(cleanEnv(), "GOMAXPROCS="+strconv.Itoa(l.cores))
	env = append(env, sp.env...)

	s := &server{port: port, log: newTail(4096), done: make(chan struct{})}
	s.cmdline = strings.TrimSpace(strings.Join(append(append([]string{"GOMAXPROCS=" + strconv.Itoa(l.cores)}, sp.env...), argv...), " "))
	s.cmdline = strings.ReplaceAll(s.cmdline, binDir+"/", "")
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = env
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = childAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("server exited before listening (%v): %s", s.waitErr, s.log)
		default:
		}
		if listening(port) {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("server did not listen on %s within 10 s: %s", addr, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exited reports whether the server has died, and how.
func (s *server) exited() (bool, string) {
	select {
	case <-s.done:
		return true, fmt.Sprintf("server exited (%v): %s", s.waitErr, s.log)
	default:
		return false, ""
	}
}

// stop sends SIGTERM, then SIGKILL after 5 s, and waits for the process.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return
	case <-time.After(5 * time.Second):
	}
	s.cmd.Process.Kill()
	<-s.done
}

// cleanEnv is the environment without the variables the matrix sets per server.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "COIO_BACKEND=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// listening reports whether a socket listens on port (on any IPv4 or IPv6 address),
// from /proc/net/tcp and tcp6, without connecting to it.
func listening(port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if listensIn(f, want) {
			return true
		}
	}
	return false
}

func listensIn(file, portSuffix string) bool {
	fh, err := os.Open(file)
	if err != nil {
		return false
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for n := 0; sc.Scan() && n < 1_000_000; n++ {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st ...; st 0A is LISTEN
		if len(f) > 3 && f[3] == "0A" && strings.HasSuffix(f[1], portSuffix) {
			return true
		}
	}
	return false
}

// tail keeps the last bytes written to it (a process's output).
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func newTail(n int) *tail { return &tail{max: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// String is the kept output on one line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(strings.Fields(string(t.buf)), " ")
}

// runTool runs a generator (bounded by ctx) and returns its standard output.
func runTool(ctx context.Context, argv []string) (stdout []byte, ru *syscall.Rusage, err error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = cleanEnv()
	errs := newTail(2048)
	cmd.Stderr = errs
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 5 * time.Second
	stdout, err = cmd.Output()
	if cmd.ProcessState != nil {
		ru, _ = cmd.ProcessState.SysUsage().(*syscall.Rusage)
	}
	if err != nil {
		return stdout, ru, fmt.Errorf("%s: %v: %s", filepath.Base(argv[pos(argv)]), err, errs)
	}
	return stdout, ru, nil
}

// pos is the index of the program in argv (after a taskset prefix).
func pos(argv []string) int {
	if len(argv) > 3 && argv[0] == "taskset" {
		return 3
	}
	return 0
}
