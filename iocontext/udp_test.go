package iocontext_test

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/coionet/coio/iocontext"
)

type dgram struct {
	n    int
	from net.Addr
	err  error
	data string
}

func receive(t *testing.T, d *iocontext.DatagramConn) <-chan dgram {
	ch := make(chan dgram, 1)
	buf := make([]byte, 64)
	d.AsyncReceiveFrom(buf, func(n int, from net.Addr, err error) {
		ch <- dgram{n, from, err, string(buf[:n])}
	})
	return ch
}

func sendTo(t *testing.T, d *iocontext.DatagramConn, msg string, to net.Addr) {
	t.Helper()
	done := make(chan error, 1)
	d.AsyncSendTo([]byte(msg), to, func(n int, err error) {
		if err == nil && n != len(msg) {
			err = errors.New("short datagram")
		}
		done <- err
	})
	if err := recv(t, done, "send"); err != nil {
		t.Fatal(err)
	}
}

func TestUDPSendReceive(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}, {"udp", "127.0.0.1:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, be backend) { udpSendReceive(t, be, tc.network, tc.addr) })
		})
	}
}

func udpSendReceive(t *testing.T, be backend, network, addr string) {
	ctx := be.open(t)
	startRunners(t, ctx, 2)
	a, err := iocontext.ListenUDP(ctx, network, addr)
	if err != nil {
		if network == "udp6" {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Fatal(err)
	}
	defer a.Close()
	b, err := iocontext.ListenUDP(ctx, network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := receive(t, a)
	sendTo(t, b, "ping", a.LocalAddr())
	r := recv(t, got, "datagram")
	if r.err != nil || r.data != "ping" || r.from.String() != b.LocalAddr().String() {
		t.Fatalf("received %+v; want ping from %v", r, b.LocalAddr())
	}
	// A zero-length datagram is a datagram, not an end of stream.
	got = receive(t, a)
	sendTo(t, b, "", a.LocalAddr())
	if r := recv(t, got, "empty datagram"); r.err != nil || r.n != 0 {
		t.Fatalf("empty datagram: %+v", r)
	}
	// Connected: Send/Receive talk to the peer only.
	c, err := iocontext.DialUDP(ctx, network, a.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got = receive(t, a)
	sent := make(chan error, 1)
	c.AsyncSend([]byte("hello"), func(_ int, err error) { sent <- err })
	if err := recv(t, sent, "send"); err != nil {
		t.Fatal(err)
	}
	r = recv(t, got, "connected datagram")
	reply := make(chan dgram, 1)
	buf := make([]byte, 16)
	c.AsyncReceive(buf, func(n int, err error) { reply <- dgram{n: n, err: err, data: string(buf[:n])} })
	sendTo(t, a, "world", r.from)
	if rr := recv(t, reply, "reply"); rr.err != nil || rr.data != "world" {
		t.Fatalf("reply %+v", rr)
	}
}

func TestUDPOpsContract(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) { udpOpsContract(t, be) })
}

// udpOpsContract: the ops items that apply to datagrams (NeverInlineCompletion,
// OneReadOneWrite, CancelAbortsPending, CloseAbortsPending, OpsAfterCloseFail).
func udpOpsContract(t *testing.T, be backend) {
	ctx := be.open(t)
	startRunners(t, ctx, 2)
	a, err := iocontext.ListenUDP(ctx, "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Never inline, one receive at a time, Cancel aborts.
	inside := true
	first := make(chan dgram, 1)
	a.AsyncReceiveFrom(make([]byte, 8), func(n int, from net.Addr, err error) {
		if inside {
			t.Error("handler ran inside AsyncReceiveFrom")
		}
		first <- dgram{n: n, err: err}
	})
	inside = false
	if r := recv(t, receive(t, a), "second receive"); !errors.Is(r.err, iocontext.ErrBusy) {
		t.Fatalf("second concurrent receive: %v; want ErrBusy", r.err)
	}
	a.Cancel()
	if r := recv(t, first, "cancelled receive"); !errors.Is(r.err, iocontext.ErrAborted) {
		t.Fatalf("cancelled receive: %v", r.err)
	}
	// Close aborts with ErrAborted and net.ErrClosed; later ops fail with net.ErrClosed.
	pending := receive(t, a)
	a.Close()
	if r := recv(t, pending, "receive at Close"); !errors.Is(r.err, iocontext.ErrAborted) || !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("receive pending at Close: %v", r.err)
	}
	if r := recv(t, receive(t, a), "receive after Close"); !errors.Is(r.err, net.ErrClosed) {
		t.Fatalf("receive after Close: %v", r.err)
	}
	if err := a.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestUnixgram(t *testing.T) {
	ctx := newContext(t)
	runInBackground(t, ctx, 2)
	path := filepath.Join(sockDir(t), "dg.sock")
	srv, err := iocontext.ListenUnixgram(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := iocontext.DialUnixgram(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	got := receive(t, srv)
	sent := make(chan error, 1)
	cli.AsyncSend([]byte("over unix"), func(_ int, err error) { sent <- err })
	if err := recv(t, sent, "send"); err != nil {
		t.Fatal(err)
	}
	if r := recv(t, got, "unix datagram"); r.err != nil || r.data != "over unix" {
		t.Fatalf("%+v", r)
	}
	cli.Close()
	srv.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("socket file left behind: %v", err)
	}
}

func TestUDPMulticastMembership(t *testing.T) {
	ctx := newContext(t)
	runInBackground(t, ctx, 1)
	d, err := iocontext.ListenUDP(ctx, "udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface named lo: %v", err)
	}
	group := netip.MustParseAddr("239.1.2.3")
	if err := d.JoinGroup(lo, group); err != nil {
		t.Skipf("the kernel refuses multicast membership on lo here: %v", err)
	}
	if err := d.LeaveGroup(lo, group); err != nil {
		t.Fatalf("LeaveGroup after a successful JoinGroup: %v", err)
	}
	if err := d.LeaveGroup(lo, group); err == nil {
		t.Fatal("leaving a group not joined succeeded")
	}
}
