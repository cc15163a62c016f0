package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints the report as an aligned text table.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	cpu := fmt.Sprintf("%d CPUs", m.CPUs)
	if m.CPUModel != "" {
		cpu += " (" + m.CPUModel + ")"
	}
	fmt.Fprintf(w, "audex bench: %s/%s, %s, %s", m.OS, m.Arch, cpu, m.GoVersion)
	if r.Quick {
		fmt.Fprint(w, ", quick mode")
	}
	fmt.Fprintln(w)
	if r.FFmpeg != "" {
		fmt.Fprintf(w, "baseline: ffmpeg %s (%s), one process per job\n", r.FFmpegVersion, r.FFmpeg)
	} else {
		fmt.Fprintln(w, "baseline: none (no ffmpeg program)")
	}
	fmt.Fprintf(w, "input: %s\n", mediaLine(r.Input))
	if r.LongInput.Path != r.Input.Path {
		fmt.Fprintf(w, "long input (seek rows): %s\n", mediaLine(r.LongInput))
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "BENCHMARK\tUNIT\tAUDEX\tFFMPEG\tSPEED-UP\t")
	group := ""
	for _, row := range r.Rows {
		if row.Group != group && group != "" {
			fmt.Fprintln(tw, "\t\t\t\t\t")
		}
		group = row.Group
		ff, speed := "-", "-"
		if row.FFmpeg != nil {
			ff = number(row.FFmpeg.Value)
		}
		if row.Speedup > 0 {
			speed = fmt.Sprintf("%.2fx", row.Speedup)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", row.Name, row.Unit, number(row.Audex.Value), ff, speed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nSPEED-UP is how many times faster audex is than ffmpeg (for ms/job: ffmpeg's time over audex's).")
	return nil
}

func mediaLine(m Media) string {
	s := m.Description
	if m.Generated {
		s += " (generated)"
	}
	return s + " " + m.Path
}

// number prints with three significant digits or so.
func number(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	}
}
