// Command benchchart draws the PNG charts of a benchmatrix run from its JSON lines:
// per scenario, throughput and p99 latency (and, for echo, server CPU per message;
// for idle connections, memory), one panel per configuration and one bar per
// framework, each chart naming the machine, the date and the coio commit.
//
//	benchchart -in bench/results/matrix-20261125-140000/results.jsonl -out /tmp/charts
//
// It uses the standard library's image/png and the basicfont bitmap font of
// golang.org/x/image: no cgo, no external tool. benchmatrix draws the same charts
// itself at the end of a run; this command redraws them.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/coionet/coio/bench/internal/results"
)

func main() {
	in := flag.String("in", "", "results.jsonl of a benchmatrix run (default: standard input)")
	out := flag.String("out", "", "directory for the PNG files (default: the directory of -in, or .)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchchart: ")

	r := os.Stdin
	if *in != "" {
		f, err := os.Open(*in)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		r = f
		if *out == "" {
			*out = filepath.Dir(*in)
		}
	}
	if *out == "" {
		*out = "."
	}
	rows, err := results.Read(r)
	if err != nil {
		log.Fatal(err)
	}
	if !results.IsMatrix(rows) {
		log.Fatal("no benchmatrix rows in the input (they carry a \"scenario\" field)")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	paths, err := results.WriteCharts(*out, rows)
	for _, p := range paths {
		fmt.Println(p)
	}
	if err != nil {
		log.Fatal(err)
	}
}
