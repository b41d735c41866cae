// Command tls-echo is a TLS echo server written as sequential code: each connection is
// a coroutine that wraps its coio stream in a net.Conn view (y.Conn) and hands it to
// crypto/tls, unmodified — no goroutine per connection, the runners of one Context
// share them all.
//
//	go run ./examples/tls-echo -addr 127.0.0.1:7443
//	openssl s_client -quiet -connect 127.0.0.1:7443   # type a line, get it back
//
// Without -cert and -key it makes a self-signed certificate for 127.0.0.1 and ::1 at
// start-up. A connection idle for -idle is closed (a read deadline). Ctrl-C stops it.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/coionet/coio/coroutine"
	"github.com/coionet/coio/iocontext"
)

func serve(y *coroutine.Yield, conn *iocontext.TCPConn, cfg *tls.Config, idle time.Duration) {
	tc := tls.Server(y.Conn(conn), cfg)
	defer tc.Close()
	buf := make([]byte, 4096)
	for {
		tc.SetReadDeadline(time.Now().Add(idle))
		n, err := tc.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, iocontext.ErrAborted) {
				log.Printf("tls-echo: %v: %v", conn.RemoteAddr(), err)
			}
			return
		}
		if _, err := tc.Write(buf[:n]); err != nil {
			return
		}
	}
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "coio tls-echo"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:7443", "address to listen on")
	runners := flag.Int("runners", runtime.GOMAXPROCS(0), "goroutines running the Context")
	certFile := flag.String("cert", "", "PEM certificate (default: a self-signed one)")
	keyFile := flag.String("key", "", "PEM private key for -cert")
	idle := flag.Duration("idle", time.Minute, "close a connection idle this long")
	flag.Parse()
	log.SetFlags(0)

	var cert tls.Certificate
	var err error
	if *certFile != "" {
		cert, err = tls.LoadX509KeyPair(*certFile, *keyFile)
	} else {
		cert, err = selfSigned()
	}
	if err != nil {
		log.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	ctx, err := iocontext.New()
	if err != nil {
		log.Fatal(err)
	}
	ln, err := iocontext.ListenTCP(ctx, "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	coroutine.Spawn(ctx, func(y *coroutine.Yield) {
		for {
			conn, err := y.Accept(ln)
			switch {
			case err == nil:
				coroutine.Spawn(ctx, func(y *coroutine.Yield) { serve(y, conn, cfg, *idle) })
			case errors.Is(err, iocontext.ErrAborted):
				return
			default:
				log.Printf("tls-echo: accept: %v", err)
			}
		}
	})
	fmt.Printf("tls-echo: listening on %v (backend %s); try: openssl s_client -quiet -connect %v\n",
		ln.Addr(), ctx.Backend().Kind, ln.Addr())

	sigs, err := iocontext.NewSignalSet(ctx, os.Interrupt, syscall.SIGTERM)
	if err != nil {
		log.Fatal(err)
	}
	sigs.AsyncWait(func(_ os.Signal, err error) {
		if err == nil {
			ctx.Stop()
		}
	})
	var wg sync.WaitGroup
	for range *runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx.Run()
		}()
	}
	wg.Wait()
	if err := ctx.Close(); err != nil { // aborts every connection's read: coroutines return
		log.Fatal(err)
	}
	fmt.Println("tls-echo: stopped")
}
