// Command http serves "Hello, World!" over HTTP/1.1 in one of two ways:
//
//   - -mode nethttp (the default): Go's net/http, unmodified, on coio's net.Listener
//     (iocontext.Listen), so every handler, middleware and http.Server feature works.
//
//   - -mode callback: coio's callback API with a small hand-written keep-alive parser
//     for plaintext responses (pipelining, Content-Length bodies, Connection: close,
//     HTTP/1.0), the shape of a server that wants no goroutine per connection.
//
//     go run ./examples/http -addr 127.0.0.1:8080 -mode callback
//     curl -i http://127.0.0.1:8080/
//     wrk -t1 -c100 -d5s http://127.0.0.1:8080/
//
// Ctrl-C or SIGTERM stops it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/coionet/coio/iocontext"
)

const body = "Hello, World!"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	mode := flag.String("mode", "nethttp", "nethttp (net/http on coio's listener) or callback (hand-written parser)")
	runners := flag.Int("runners", runtime.GOMAXPROCS(0), "goroutines running the Context")
	flag.Parse()
	log.SetFlags(0)

	ctx, err := iocontext.New()
	if err != nil {
		log.Fatal(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)

	var wg sync.WaitGroup
	guard := iocontext.NewWorkGuard(ctx) // net/http's blocking calls are not Context work
	for range *runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx.Run()
		}()
	}

	switch *mode {
	case "nethttp":
		ln, err := iocontext.Listen(ctx, "tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Write([]byte(body))
			}),
			ReadHeaderTimeout: 10 * time.Second,
		}
		fmt.Printf("http: net/http listening on %v (backend %s); try: curl http://%v/\n", ln.Addr(), ctx.Backend().Kind, ln.Addr())
		go func() {
			<-stop
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	case "callback":
		ln, err := iocontext.ListenTCP(ctx, "tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		// AsyncAcceptEach takes the connections already waiting before it accepts
		// again: each accept's handler waits its turn behind every other handler.
		ln.AsyncAcceptEach(func(c *iocontext.TCPConn, err error) {
			switch {
			case err == nil:
				newConn(c).read()
			case errors.Is(err, net.ErrClosed), errors.Is(err, iocontext.ErrAborted):
				// the listener was closed: the loop has ended
			default:
				log.Printf("http: accept: %v", err) // e.g. out of descriptors: the loop goes on
			}
		})
		fmt.Printf("http: callback server listening on %v (backend %s); try: curl http://%v/\n", ln.Addr(), ctx.Backend().Kind, ln.Addr())
		<-stop
		ln.Close()
	default:
		log.Fatalf("http: unknown -mode %q (nethttp or callback)", *mode)
	}
	guard.Reset()
	ctx.Stop()
	wg.Wait()
	ctx.Close()
	fmt.Println("http: stopped")
}

// maxHeader bounds a request head; a longer one gets 431 and the connection closes.
const maxHeader = 8 << 10

var (
	okResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	badRequest     = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	headerTooLarge = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

// conn is one keep-alive connection of the callback server: it reads what is there,
// answers every complete request in it (pipelined requests get their responses in
// one write), and reads again. Its handlers are made once.
type conn struct {
	c       *iocontext.TCPConn
	in      []byte // bytes read and not yet parsed
	buf     []byte // read space
	out     []byte // responses to write
	skip    int    // body bytes of the current request still to discard
	closing bool   // close once out is written
	onRead  func(int, error)
	onWrite func(int, error)
}

func newConn(c *iocontext.TCPConn) *conn {
	k := &conn{c: c, buf: make([]byte, 4096)}
	k.onRead = k.readDone
	k.onWrite = k.writeDone
	return k
}

func (k *conn) read() { k.c.AsyncReadSome(k.buf, k.onRead) }

func (k *conn) readDone(n int, err error) {
	if err != nil {
		k.c.Close()
		return
	}
	k.in = append(k.in, k.buf[:n]...)
	k.parse()
	if len(k.out) > 0 {
		k.c.AsyncWrite(k.out, k.onWrite)
		return
	}
	if k.closing {
		k.c.Close()
		return
	}
	k.read()
}

func (k *conn) writeDone(_ int, err error) {
	k.out = k.out[:0]
	if err != nil || k.closing {
		k.c.Close()
		return
	}
	k.read()
}

// parse answers every complete request in k.in.
func (k *conn) parse() {
	for !k.closing {
		if k.skip > 0 {
			n := min(k.skip, len(k.in))
			k.in = k.in[n:]
			k.skip -= n
			if k.skip > 0 {
				return
			}
		}
		end := bytes.Index(k.in, []byte("\r\n\r\n"))
		if end < 0 {
			if len(k.in) > maxHeader {
				k.out = append(k.out, headerTooLarge...)
				k.closing = true
			}
			if len(k.in) == 0 {
				k.in = k.in[:0:0] // drop the consumed backing array
			}
			return
		}
		head := k.in[:end]
		k.in = k.in[end+4:]
		keepAlive, length, ok := parseHead(head)
		if !ok {
			k.out = append(k.out, badRequest...)
			k.closing = true
			return
		}
		k.out = append(k.out, okResponse...)
		k.skip = length
		if !keepAlive {
			k.closing = true
		}
	}
}

// parseHead checks the request line and finds the headers that matter here.
func parseHead(head []byte) (keepAlive bool, length int, ok bool) {
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	parts := bytes.Split(line, []byte(" "))
	if len(parts) != 3 || len(parts[0]) == 0 || len(parts[1]) == 0 || parts[1][0] != '/' && parts[1][0] != '*' {
		return false, 0, false
	}
	switch string(parts[2]) {
	case "HTTP/1.1":
		keepAlive = true
	case "HTTP/1.0":
		keepAlive = false
	default:
		return false, 0, false
	}
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, found := bytes.Cut(h, []byte(":"))
		if !found {
			return false, 0, false
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keepAlive = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keepAlive = true
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return false, 0, false
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return false, 0, false // chunked bodies are beyond this example
		}
	}
	return keepAlive, length, true
}
