package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRespond(t *testing.T) {
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	ok := string(okResponse)
	cases := []struct {
		name, in  string
		out       string
		used      int
		closeConn bool
	}{
		{"one", get, ok, len(get), false},
		{"pipelined", get + get + get, ok + ok + ok, 3 * len(get), false},
		{"partial head", get[:10], "", 0, false},
		{"one and a partial", get + get[:10], ok, len(get), false},
		{"body", "POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\nhello" + get, ok + ok, 43 + len(get), false},
		{"partial body", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel", "", 0, false},
		{"close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n" + get, ok, 37, true},
		{"http/1.0", "GET / HTTP/1.0\r\n\r\n", ok, 18, true},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ok, 42, false},
		{"malformed", "GARBAGE\r\n\r\n", string(badRequest), 11, true},
		{"chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", string(badRequest), 47, true},
		{"bad length", "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", string(badRequest), 38, true},
		{"too large", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHead), string(headTooLarge), 19 + maxHead, true},
	}
	for _, c := range cases {
		out, used, closeConn := respond([]byte(c.in), nil)
		if string(out) != c.out || used != c.used || closeConn != c.closeConn {
			t.Errorf("%s: got %q, %d, %v; want %q, %d, %v", c.name, out, used, closeConn, c.out, c.used, c.closeConn)
		}
	}
}

func TestRespondDoesNotAllocate(t *testing.T) {
	in := []byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n", 16))
	out := make([]byte, 0, 16*len(okResponse))
	if n := testing.AllocsPerRun(100, func() { out, _, _ = respond(in, out[:0]) }); n != 0 {
		t.Errorf("respond allocates %v times per call", n)
	}
	if !bytes.Equal(out[:len(okResponse)], okResponse) {
		t.Error("wrong response")
	}
}
