package bench

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

var (
	audexColor  = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	ffmpegColor = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

// Plot draws the report to path (.svg or .png): throughput against the number
// of concurrent workers, and, with a baseline, audex's speed-up over ffmpeg
// per output format for whole files.
func (r *Report) Plot(path string) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".svg" && ext != ".png" {
		return fmt.Errorf("bench: plot %s: want a .svg or .png file", path)
	}
	plots := []*plot.Plot{}
	p, err := r.concurrencyPlot()
	if err != nil {
		return err
	}
	plots = append(plots, p)
	if r.FFmpeg != "" {
		if p, err = r.speedupPlot(); err != nil {
			return err
		}
		plots = append(plots, p)
	}

	w, h := vg.Length(len(plots))*5*vg.Inch, 4*vg.Inch
	var c vg.CanvasWriterTo
	if ext == ".svg" {
		c = vgsvg.New(w, h)
	} else {
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144))}
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(24), PadTop: vg.Points(8),
		PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, draw.New(c))
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: plot: %w", err)
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: plot: %w", err)
	}
	return f.Close()
}

func (r *Report) concurrencyPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Throughput vs concurrent workers (2 s clip -> mp3)"
	p.X.Label.Text = "workers"
	p.Y.Label.Text = "jobs/s"
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = true, true
	var a, f plotter.XYs
	for _, row := range r.Rows {
		if row.Group != GroupConcurrency {
			continue
		}
		a = append(a, plotter.XY{X: float64(row.Workers), Y: row.Audex.Value})
		if row.FFmpeg != nil {
			f = append(f, plotter.XY{X: float64(row.Workers), Y: row.FFmpeg.Value})
		}
	}
	add := func(name string, xys plotter.XYs, c color.Color) error {
		if len(xys) == 0 {
			return nil
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("bench: plot: %w", err)
		}
		l.Color, s.Color = c, c
		l.Width = vg.Points(2)
		p.Add(l, s)
		p.Legend.Add(name, l, s)
		return nil
	}
	if err := add("audex", a, audexColor); err != nil {
		return nil, err
	}
	if err := add("ffmpeg", f, ffmpegColor); err != nil {
		return nil, err
	}
	var ticks []plot.Tick
	for _, xy := range a {
		ticks = append(ticks, plot.Tick{Value: xy.X, Label: fmt.Sprint(xy.X)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Add(plotter.NewGrid())
	p.Y.Max *= 1.25 // room for the legend
	return p, nil
}

func (r *Report) speedupPlot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "audex speed-up over ffmpeg, whole file"
	p.Y.Label.Text = "x faster (1 = same)"
	p.Y.Min = 0
	var vals plotter.Values
	var names []string
	for _, row := range r.Rows {
		if (row.Group == GroupFull || row.Group == GroupCopy) && row.Speedup > 0 {
			vals = append(vals, row.Speedup)
			name := string(row.Format)
			if row.Group == GroupCopy {
				name += " copy"
			}
			names = append(names, name)
		}
	}
	if len(vals) == 0 {
		return p, nil
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(18))
	if err != nil {
		return nil, fmt.Errorf("bench: plot: %w", err)
	}
	bars.Color = audexColor
	bars.LineStyle.Width = 0
	p.Add(bars)
	one := plotter.NewFunction(func(float64) float64 { return 1 })
	one.Color = ffmpegColor
	one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	p.NominalX(names...)
	p.Add(plotter.NewGrid())
	p.Y.Max = max(p.Y.Max, 1) * 1.1
	return p, nil
}
