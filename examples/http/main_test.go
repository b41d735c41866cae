package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coionet/coio/internal/testctx"

	"github.com/coionet/coio/internal/exampletest"
)

func TestMain(m *testing.M) { testctx.VerifyMain(m) }

// TestHTTPProgram builds the program and, in each mode, answers Go's HTTP client, a
// pipelined pair of raw requests (the second with Connection: close) and a malformed
// request, then stops on SIGINT.
func TestHTTPProgram(t *testing.T) {
	bin := exampletest.Build(t, "http")
	for _, mode := range []string{"nethttp", "callback"} {
		t.Run(mode, func(t *testing.T) {
			p := exampletest.Run(t, bin, "http", "-addr", "127.0.0.1:0", "-mode", mode)
			addr := p.Addr
			client := &http.Client{Timeout: 10 * time.Second}
			for range 3 { // keep-alive: the same connection serves them
				resp, err := client.Get("http://" + addr + "/x")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "Hello, World!" {
					t.Fatalf("GET: %d %q", resp.StatusCode, b)
				}
			}
			client.CloseIdleConnections()
			raw := func(req string) string {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write([]byte(req))
				b, _ := io.ReadAll(c) // the server closes after the last response
				return string(b)
			}
			pipelined := raw("GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
			if n := strings.Count(pipelined, "HTTP/1.1 200 OK"); n != 2 {
				t.Fatalf("pipelined requests got %d responses: %q", n, pipelined)
			}
			if bad := raw("NONSENSE\r\n\r\n"); !strings.HasPrefix(bad, "HTTP/1.1 400") {
				t.Fatalf("malformed request got %q; want 400", bad)
			}
			p.Stop()
		})
	}
}
