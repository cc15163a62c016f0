package bench

import (
	"fmt"
	"io"
	"strings"
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

	// Names and units left-aligned, numbers right-aligned.
	table := [][]string{{"BENCHMARK", "UNIT", "AUDEX", "FFMPEG", "SPEED-UP", "CPU-S/JOB"}}
	var groups []string
	for _, row := range r.Rows {
		ff, speed := "-", "-"
		if row.FFmpeg != nil {
			ff = number(row.FFmpeg.Value)
		}
		if row.Speedup > 0 {
			speed = fmt.Sprintf("%.2fx", row.Speedup)
		}
		cpu := "-"
		if row.Audex.CPUSeconds > 0 {
			cpu = number(row.Audex.CPUSeconds / float64(row.Audex.Runs))
			if row.FFmpeg != nil && row.FFmpeg.CPUSeconds > 0 {
				cpu += " / " + number(row.FFmpeg.CPUSeconds/float64(row.FFmpeg.Runs))
			}
		}
		table = append(table, []string{row.Name, row.Unit, number(row.Audex.Value), ff, speed, cpu})
		groups = append(groups, row.Group)
	}
	width := make([]int, len(table[0]))
	for _, cells := range table {
		for i, c := range cells {
			width[i] = max(width[i], len(c))
		}
	}
	for n, cells := range table {
		if n > 1 && groups[n-1] != groups[n-2] {
			fmt.Fprintln(w)
		}
		var line strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len(c))
			if i < 2 {
				line.WriteString(c + pad + "  ")
			} else {
				line.WriteString("  " + pad + c)
			}
		}
		if _, err := fmt.Fprintln(w, strings.TrimRight(line.String(), " ")); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nSPEED-UP is how many times faster audex is than ffmpeg (for ms/job: ffmpeg's time over audex's).")
	fmt.Fprintln(w, "CPU-S/JOB is the CPU time of one job, audex / ffmpeg, in seconds.")
	if r.FFmpeg != "" {
		fmt.Fprintln(w, "ffmpeg spreads each job over several threads; audex runs a job on two (decode and encode overlap),")
		fmt.Fprintln(w, "and encodes an output of 30 s or more in segments on GOMAXPROCS encoders (mp3, aac, m4a, ac3, wma, flac).")
	}
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
