package chart

import (
	"bytes"
	"image/png"
	"testing"
)

func TestWritePNG(t *testing.T) {
	c := &Chart{
		Title: "echo throughput (msgs/s, higher is better)",
		Lines: []string{"AMD EPYC, 2 cores, Linux 6.18; 2026-11-25; commit ab2a3ea"},
		Panels: []Panel{
			{Title: "64 B, 100 conns, depth 1", Bars: []Bar{
				{Label: "coio", Value: 120000, Text: "120,000", Accent: true},
				{Label: "asio", Value: 130000, Text: "130,000"},
				{Label: "coio-uring", Err: "proactor: backend iouring is not implemented yet, and a long tail of text that cannot fit", Accent: true},
				{Label: "zero", Value: 0, Text: "0"},
			}},
			{Title: "4 KiB, 1,000 conns, depth 16", Bars: []Bar{{Label: "gonet", Value: 1, Text: "1"}}},
			{Title: "a third panel, alone on its row", Bars: nil},
		},
	}
	var buf bytes.Buffer
	if err := c.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 2*margin+2*panelW+gap || b.Dy() < 200 {
		t.Errorf("image is %v", b)
	}
	// The accent bar must be there: some pixel of the accent colour.
	found := false
	for y := b.Min.Y; y < b.Max.Y && !found; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r>>8 == uint32(accent.R) && g>>8 == uint32(accent.G) && bb>>8 == uint32(accent.B) {
				found = true
				break
			}
		}
	}
	if !found {
		t.Error("no accent-coloured bar drawn")
	}
}

func TestEmptyChart(t *testing.T) {
	var buf bytes.Buffer
	if err := (&Chart{Title: "nothing"}).WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"hello", 10, "hello"}, {"hello world", 8, "hello..."}, {"hello", 2, "he"}, {"µs µs", 4, "µ..."}} {
		if got := clip(c.in, c.n); got != c.want {
			t.Errorf("clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
