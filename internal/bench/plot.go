package bench

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The plot is drawn as SVG by hand: a plotting library's fonts and
// registries were initialised in every audex process, bench or not.

const (
	audexColor  = "#1f77b4"
	ffmpegColor = "#ff7f0e"
	gridColor   = "#e0e0e0"
	fontFamily  = "Liberation Sans, Helvetica, Arial, sans-serif"
)

// ErrPlotFormat: Plot draws SVG only.
var ErrPlotFormat = errors.New("want a .svg file")

// Plot draws the report to path (.svg): throughput against the number of
// concurrent workers, and, with a baseline, audex's speed-up over ffmpeg
// for whole files per output format, stream copy and a clip run as a
// process per job.
func (r *Report) Plot(path string) error {
	if !strings.EqualFold(filepath.Ext(path), ".svg") {
		return fmt.Errorf("bench: plot %s: %w", path, ErrPlotFormat)
	}
	if err := os.WriteFile(path, r.SVG(), 0o644); err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	return nil
}

// Panel size in SVG user units (points).
const panelW, panelH = 360.0, 288.0

// SVG draws the report's plot.
func (r *Report) SVG() []byte {
	panels := 1
	if r.FFmpeg != "" {
		panels = 2
	}
	var b bytes.Buffer
	w := panelW * float64(panels)
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%gpt" height="%gpt" viewBox="0 0 %g %g" font-family="%s">
<rect width="100%%" height="100%%" fill="white"/>
`, w, panelH, w, panelH, fontFamily)
	r.concurrencyPanel(&b, 0)
	if panels == 2 {
		r.speedupPanel(&b, panelW)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// frame is a panel's plotting area and its data ranges.
type frame struct {
	x0, y0, w, h       float64 // the plotting area, y0 at the top
	xmin, xmax, ymax   float64
	b                  *bytes.Buffer
	yTicks             []float64
	xLabel, yLabel, tt string
}

func newFrame(b *bytes.Buffer, left float64, title, xLabel, yLabel string, xmin, xmax, ymax float64) *frame {
	ticks := niceTicks(ymax)
	return &frame{
		x0: left + 52, y0: 30, w: panelW - 52 - 16, h: panelH - 30 - 66,
		xmin: xmin, xmax: xmax, ymax: ticks[len(ticks)-1], b: b, yTicks: ticks,
		xLabel: xLabel, yLabel: yLabel, tt: title,
	}
}

func (f *frame) px(x float64) float64 {
	if f.xmax == f.xmin {
		return f.x0 + f.w/2
	}
	return f.x0 + (x-f.xmin)/(f.xmax-f.xmin)*f.w
}

func (f *frame) py(y float64) float64 { return f.y0 + f.h - y/f.ymax*f.h }

// axes draws the title, the grid, the y axis with its ticks and the labels.
func (f *frame) axes() {
	b := f.b
	fmt.Fprintf(b, `<text x="%.1f" y="18" font-size="12" text-anchor="middle">%s</text>`+"\n", f.x0+f.w/2, html.EscapeString(f.tt))
	for _, t := range f.yTicks {
		y := f.py(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="0.5"/>`+"\n", f.x0, y, f.x0+f.w, y, gridColor)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="end">%s</text>`+"\n", f.x0-4, y+3.5, tickLabel(t))
	}
	fmt.Fprintf(b, `<path d="M%.1f %.1fV%.1fH%.1f" fill="none" stroke="black" stroke-width="1"/>`+"\n", f.x0, f.y0, f.y0+f.h, f.x0+f.w)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`+"\n", f.x0+f.w/2, f.y0+f.h+58, html.EscapeString(f.xLabel))
	cy := f.y0 + f.h/2
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		f.x0-38, cy, f.x0-38, cy, html.EscapeString(f.yLabel))
}

// xTick marks x with its label; slanted labels make room for many.
func (f *frame) xTick(x float64, label string, slant bool) {
	X, Y := f.px(x), f.y0+f.h
	fmt.Fprintf(f.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black" stroke-width="1"/>`+"\n", X, Y, X, Y+4)
	if slant {
		fmt.Fprintf(f.b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="end" transform="rotate(-35 %.1f %.1f)">%s</text>`+"\n",
			X+3, Y+12, X+3, Y+12, html.EscapeString(label))
		return
	}
	fmt.Fprintf(f.b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>`+"\n", X, Y+16, html.EscapeString(label))
}

type point struct{ x, y float64 }

func (r *Report) concurrencyPanel(b *bytes.Buffer, left float64) {
	var a, ff []point
	for _, row := range r.Rows {
		if row.Group != GroupConcurrency {
			continue
		}
		a = append(a, point{float64(row.Workers), row.Audex.Value})
		if row.FFmpeg != nil {
			ff = append(ff, point{float64(row.Workers), row.FFmpeg.Value})
		}
	}
	xmin, xmax, ymax := 1.0, 1.0, 0.0
	for _, p := range append(a[:len(a):len(a)], ff...) {
		xmin, xmax, ymax = min(xmin, p.x), max(xmax, p.x), max(ymax, p.y)
	}
	f := newFrame(b, left, "Throughput vs concurrent workers (2 s clip -> mp3)", "workers", "jobs/s", xmin, xmax, ymax*1.25)
	f.axes()
	for _, p := range a {
		f.xTick(p.x, strconv.FormatFloat(p.x, 'g', -1, 64), false)
	}
	line := func(ps []point, color string) {
		if len(ps) == 0 {
			return
		}
		var d strings.Builder
		for i, p := range ps {
			fmt.Fprintf(&d, "%c%.1f %.1f", "ML"[min(i, 1)], f.px(p.x), f.py(p.y))
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", d.String(), color)
		for _, p := range ps {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", f.px(p.x), f.py(p.y), color)
		}
	}
	line(a, audexColor)
	line(ff, ffmpegColor)
	legend(b, f.x0+8, f.y0+6, []string{"audex", "ffmpeg"}[:1+min(len(ff), 1)], []string{audexColor, ffmpegColor})
}

func legend(b *bytes.Buffer, x, y float64, names, colors []string) {
	for i, n := range names {
		yy := y + float64(i)*14
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/><circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n",
			x, yy+5, x+20, yy+5, colors[i], x+10, yy+5, colors[i])
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="10">%s</text>`+"\n", x+25, yy+8.5, html.EscapeString(n))
	}
}

// speedupLabel is a bar's name under the speed-up panel, "" for rows that
// have no bar.
func speedupLabel(row Row) string {
	switch row.Group {
	case GroupFull:
		return string(row.Format)
	case GroupCopy:
		return string(row.Format) + " copy"
	case GroupProcess:
		return "clip/proc"
	}
	return ""
}

func (r *Report) speedupPanel(b *bytes.Buffer, left float64) {
	var vals []float64
	var names []string
	for _, row := range r.Rows {
		if name := speedupLabel(row); name != "" && row.Speedup > 0 {
			vals = append(vals, row.Speedup)
			names = append(names, name)
		}
	}
	ymax := 1.0
	for _, v := range vals {
		ymax = max(ymax, v)
	}
	f := newFrame(b, left, "audex speed-up over ffmpeg", "whole file per format; clip/proc: a process per job", "x faster (1 = same)",
		-0.5, float64(len(vals))-0.5, ymax*1.1)
	f.axes()
	if len(vals) == 0 {
		return
	}
	barW := min(18, f.w/float64(len(vals))*0.7)
	for i, v := range vals {
		x := f.px(float64(i))
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %.2fx</title></rect>`+"\n",
			x-barW/2, f.py(v), barW, f.py(0)-f.py(v), audexColor, html.EscapeString(names[i]), v)
		f.xTick(float64(i), names[i], len(vals) > 6)
	}
	y := f.py(1)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="4 3"/>`+"\n", f.x0, y, f.x0+f.w, y, ffmpegColor)
}

// niceTicks are 0 and steps of 1, 2 or 5 times a power of ten up to at
// least max, about five of them.
func niceTicks(top float64) []float64 {
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		top = 1
	}
	raw := top / 5
	exp := math.Floor(math.Log10(raw))
	mult := 10
	for _, m := range []int{1, 2, 5} {
		if float64(m)*math.Pow(10, exp) >= raw {
			mult = m
			break
		}
	}
	// A tick is i*mult times 10^exp, computed so that 3 x 0.2 is 0.6.
	at := func(i int) float64 {
		if exp < 0 {
			return float64(i*mult) / math.Pow(10, -exp)
		}
		return float64(i*mult) * math.Pow(10, exp)
	}
	var ts []float64
	for i := 0; ; i++ {
		ts = append(ts, at(i))
		if at(i) >= top*(1-1e-9) {
			return ts
		}
	}
}

func tickLabel(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'g', -1, 64)
}
