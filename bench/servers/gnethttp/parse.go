package main

import (
	"bytes"
	"strconv"
)

const body = "Hello, World!"

// maxHead bounds a request head; a longer one gets 431 and the connection closes.
const maxHead = 8 << 10

var (
	okResponse = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	badRequest   = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	headTooLarge = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	crlfcrlf     = []byte("\r\n\r\n")
)

// respond answers the complete requests at the start of in: it appends one response
// per request to out and returns out, how many bytes of in those requests took, and
// whether the connection is to be closed once out is written (the client asked for
// it, or the request was one this responder does not take). An incomplete request at
// the end of in is left for a later call.
func respond(in, out []byte) (_ []byte, used int, closeConn bool) {
	for used < len(in) {
		rest := in[used:]
		end := bytes.Index(rest, crlfcrlf)
		if end < 0 {
			if len(rest) > maxHead {
				return append(out, headTooLarge...), len(in), true
			}
			return out, used, false
		}
		if end+4 > maxHead {
			return append(out, headTooLarge...), len(in), true
		}
		req, ok := parseHead(rest[:end])
		if !ok {
			return append(out, badRequest...), len(in), true
		}
		n := end + 4 + req.contentLength
		if len(rest) < n {
			return out, used, false // the body is still on its way
		}
		used += n
		out = append(out, okResponse...)
		if req.close {
			return out, used, true
		}
	}
	return out, used, false
}

// head is what respond needs of a request head.
type head struct {
	contentLength int
	close         bool
}

// parseHead reads the request line and the headers that matter (Content-Length,
// Transfer-Encoding, Connection) from a request head without its final CRLFCRLF.
func parseHead(b []byte) (head, bool) {
	var h head
	line, rest, _ := bytes.Cut(b, []byte("\r\n"))
	// METHOD SP TARGET SP HTTP/1.x
	method, line, ok1 := bytes.Cut(line, []byte(" "))
	target, version, ok2 := bytes.Cut(line, []byte(" "))
	if !ok1 || !ok2 || len(method) == 0 || len(target) == 0 || len(version) != 8 || !bytes.HasPrefix(version, []byte("HTTP/1.")) {
		return h, false
	}
	keepAlive := version[7] == '1' // HTTP/1.1 keeps the connection by default, 1.0 does not
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return h, false
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || n > 1<<20 {
				return h, false
			}
			h.contentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return h, false // chunked bodies are not taken
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keepAlive = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keepAlive = true
			}
		}
	}
	h.close = !keepAlive
	return h, true
}
