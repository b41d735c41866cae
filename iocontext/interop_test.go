package iocontext_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/coionet/coio/internal/testcert"
	"github.com/coionet/coio/iocontext"
	"golang.org/x/net/nettest"
)

// TestInterop_BlockingConnNettest runs x/net's net.Conn conformance suite against the
// blocking adapter, on every backend, over TCP and Unix sockets.
func TestInterop_BlockingConnNettest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		for _, network := range []string{"tcp4", "unix"} {
			t.Run(network, func(t *testing.T) {
				ctx := be.open(t)
				startRunners(t, ctx, 2)
				nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
					addr := "127.0.0.1:0"
					if network == "unix" {
						addr = filepath.Join(sockDir(t), fmt.Sprintf("n%d.sock", time.Now().UnixNano()))
					}
					ln, err := iocontext.Listen(ctx, network, addr)
					if err != nil {
						return nil, nil, nil, err
					}
					defer ln.Close()
					accepted := make(chan net.Conn, 1)
					aerr := make(chan error, 1)
					go func() {
						c, err := ln.Accept()
						accepted <- c
						aerr <- err
					}()
					c1, err = iocontext.Dial(ctx, network, ln.Addr().String())
					if err != nil {
						return nil, nil, nil, err
					}
					c2 = <-accepted
					if err := <-aerr; err != nil {
						c1.Close()
						return nil, nil, nil, err
					}
					return c1, c2, func() { c1.Close(); c2.Close() }, nil
				})
			})
		}
	})
}

// TestInterop_ListenerServesHTTP serves net/http over coio's listener: HTTP/2 over TLS
// (negotiated by ALPN) and HTTP/1.1, to Go's client, then shuts down gracefully.
func TestInterop_ListenerServesHTTP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		startRunners(t, ctx, 2)
		ln, err := iocontext.Listen(ctx, "tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cert := testcert.New(t)
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "hello %s over %s", r.URL.Path[1:], r.Proto)
			}),
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}},
			ReadHeaderTimeout: 5 * time.Second,
		}
		served := make(chan error, 1)
		go func() { served <- srv.ServeTLS(ln, "", "") }()
		url := "https://" + ln.Addr().String() + "/"

		h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			ForceAttemptHTTP2: true,
		}}
		h1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
			TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // no h2
		}}
		for _, tc := range []struct {
			client *http.Client
			major  int
			want   string
		}{{h2, 2, "hello coio over HTTP/2.0"}, {h1, 1, "hello coio over HTTP/1.1"}} {
			for range 5 {
				resp, err := tc.client.Get(url + "coio")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != tc.major || string(body) != tc.want {
					t.Fatalf("got %s %q; want HTTP/%d %q", resp.Proto, body, tc.major, tc.want)
				}
			}
		}
		h1.CloseIdleConnections()
		h2.CloseIdleConnections()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Fatalf("graceful Shutdown: %v", err)
		}
		if err := <-served; err != http.ErrServerClosed {
			t.Fatalf("ServeTLS returned %v; want http.ErrServerClosed", err)
		}
	})
}

// TestConnReadSubmittedAfterContextClose: a blocking Read whose op is submitted after
// the Context's Close has run its last handler returns net.ErrClosed instead of waiting
// for a handler that nothing will run (found by nettest's ConcurrentMethods: its reader
// lost the race with the test's Close between its try and its submit). On every
// backend.
func TestConnReadSubmittedAfterContextClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		ctx := be.open(t)
		r := startRunners(t, ctx, 2)
		ln := transports[0].peerListener(t)
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := ln.Accept()
			accepted <- c
		}()
		c, err := iocontext.Dial(ctx, "tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer := recv(t, accepted, "the peer's accept")
		defer peer.Close()
		iocontext.SetConnReadHook(func() {
			r.stop()
			ctx.Close()
		})
		defer iocontext.SetConnReadHook(nil)
		done := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 8))
			done <- err
		}()
		if err := recv(t, done, "the Read submitted after Close"); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read submitted after the Context's Close = %v; want net.ErrClosed", err)
		}
	})
}
