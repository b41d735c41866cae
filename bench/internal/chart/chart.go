// Package chart draws horizontal bar charts into PNG images with the standard library
// and the fixed 7×13 bitmap font of golang.org/x/image/font/basicfont: no cgo and no
// external tools.
//
// A chart is a title, a few lines of text (the machine, date and commit of the run),
// and a grid of panels: one per configuration, each with one labelled bar per
// framework, scaled to its own largest value and with the value printed beside the
// bar. A framework whose run failed gets its error in place of a bar.
package chart

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"unicode/utf8"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Bar is one framework's figure in a panel.
type Bar struct {
	Label  string
	Value  float64
	Text   string // printed after the bar (e.g. the formatted value)
	Err    string // when set, no bar is drawn: "failed: Err" in its place
	Accent bool   // drawn in the accent colour (coio's own servers)
}

// Panel is one configuration: a title and its bars, top to bottom.
type Panel struct {
	Title string
	Bars  []Bar
}

// Chart is a whole image.
type Chart struct {
	Title   string
	Lines   []string // under the title
	Panels  []Panel
	Columns int // panels per row (default 2, or 1 for a single panel)
}

// Layout, in pixels. The font's glyphs are 7 wide and 13 high (ascent 11).
const (
	charW     = 7
	lineH     = 16
	margin    = 16
	gap       = 24 // between panels
	panelW    = 560
	barH      = 12
	rowH      = 18
	valueCols = 18 // characters kept for the value text after the longest bar
)

var (
	white   = color.RGBA{255, 255, 255, 255}
	ink     = color.RGBA{33, 33, 33, 255}
	grey    = color.RGBA{110, 110, 110, 255}
	rule    = color.RGBA{200, 200, 200, 255}
	peer    = color.RGBA{68, 114, 196, 255}
	accent  = color.RGBA{232, 113, 10, 255}
	failure = color.RGBA{192, 0, 0, 255}
)

var face = basicfont.Face7x13

// Image draws the chart.
func (c *Chart) Image() *image.RGBA {
	cols := c.Columns
	if cols <= 0 {
		cols = 2
	}
	cols = max(1, min(cols, len(c.Panels)))

	labelW := 0
	for _, p := range c.Panels {
		for _, b := range p.Bars {
			labelW = max(labelW, utf8.RuneCountInString(b.Label))
		}
	}
	labelW = labelW*charW + 8

	headerH := margin + lineH + 4 + len(c.Lines)*lineH + 8
	rows := (len(c.Panels) + cols - 1) / cols
	rowHeights := make([]int, rows)
	for i, p := range c.Panels {
		rowHeights[i/cols] = max(rowHeights[i/cols], panelHeight(p))
	}
	height := headerH + margin
	for _, h := range rowHeights {
		height += h + gap
	}
	width := 2*margin + cols*panelW + (cols-1)*gap
	for _, l := range append([]string{c.Title}, c.Lines...) {
		width = max(width, 2*margin+utf8.RuneCountInString(l)*charW)
	}

	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	y := margin + 11
	text(img, margin, y, c.Title, ink)
	y += lineH + 4
	for _, l := range c.Lines {
		text(img, margin, y, l, grey)
		y += lineH
	}

	top := headerH
	for r := 0; r < rows; r++ {
		for k := 0; k < cols; k++ {
			i := r*cols + k
			if i >= len(c.Panels) {
				break
			}
			drawPanel(img, margin+k*(panelW+gap), top, labelW, c.Panels[i])
		}
		top += rowHeights[r] + gap
	}
	return img
}

// WritePNG encodes the chart as PNG.
func (c *Chart) WritePNG(w io.Writer) error { return png.Encode(w, c.Image()) }

func panelHeight(p Panel) int { return lineH + 6 + len(p.Bars)*rowH + 4 }

// drawPanel draws a panel with its top-left corner at (x, y).
func drawPanel(img *image.RGBA, x, y, labelW int, p Panel) {
	text(img, x, y+11, clip(p.Title, panelW/charW), ink)
	y += lineH + 6
	x0 := x + labelW
	barMax := panelW - labelW - valueCols*charW
	top := 0.0
	for _, b := range p.Bars {
		if b.Err == "" && b.Value > top {
			top = b.Value
		}
	}
	fill(img, image.Rect(x0-1, y-2, x0, y+len(p.Bars)*rowH), rule)
	for i, b := range p.Bars {
		ry := y + i*rowH
		label := b.Label
		text(img, x0-8-utf8.RuneCountInString(label)*charW, ry+11, label, ink)
		if b.Err != "" {
			text(img, x0+6, ry+11, clip("failed: "+b.Err, (panelW-labelW-6)/charW), failure)
			continue
		}
		w := 0
		if top > 0 && b.Value > 0 {
			w = max(1, int(float64(barMax)*b.Value/top+0.5))
		}
		col := peer
		if b.Accent {
			col = accent
		}
		fill(img, image.Rect(x0, ry+1, x0+w, ry+1+barH), col)
		text(img, x0+w+5, ry+11, clip(b.Text, valueCols-1), ink)
	}
}

// text draws s with its baseline at y.
func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.Color) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

// clip shortens s to at most n characters, marking the cut with "...".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n <= 3 {
		return string(r[:max(n, 0)])
	}
	return string(r[:n-3]) + "..."
}
