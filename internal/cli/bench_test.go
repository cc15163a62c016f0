package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// TestBenchQuick runs the real benchmark in quick mode and checks the
// table's shape (never its numbers: the machine is shared).
func TestBenchQuick(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plot := filepath.Join(dir, "bench.svg")
	vars := map[string]string{"AUDEX_FFMPEG": testmedia.FFmpeg(t)}
	r := run(t, context.Background(), nil, vars, "bench", "--quick", "--cache", filepath.Join(dir, "cache"), "--plot", plot, "--audex", audexBinary(t))
	require.Equal(t, ExitOK, r.code, r.stderr)

	lines := strings.Split(r.stdout, "\n")
	require.Greater(t, len(lines), 5)
	assert.Regexp(t, `^audex bench: \w+/\w+, \d+ CPUs.*, quick mode$`, lines[0])
	assert.Regexp(t, `^baseline: ffmpeg \S+ \(.*ffmpeg\), one process per job$`, lines[1])
	assert.Regexp(t, `^input: mov, 0:10, aac 48000 Hz 2 ch \(generated\) `, lines[2])

	var header string
	var rows [][]string
	cells := regexp.MustCompile(`\s{2,}`)
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "SPEED-UP") { // the notes under the table
			break
		}
		switch {
		case strings.HasPrefix(l, "BENCHMARK"):
			header = l
		case header != "" && l != "":
			rows = append(rows, cells.Split(l, -1))
		}
	}
	assert.Equal(t, []string{"BENCHMARK", "UNIT", "AUDEX", "FFMPEG", "SPEED-UP", "CPU-S/JOB"}, cells.Split(header, -1))
	var names []string
	for _, row := range rows {
		require.Len(t, row, 6, "%q", row)
		names = append(names, row[0])
		assert.Contains(t, []string{"jobs/s", "x realtime", "ms/job"}, row[1])
		for _, v := range row[2:4] {
			assert.Regexp(t, `^[0-9]+(\.[0-9]+)?$`, v, "%q", row)
		}
		assert.Regexp(t, `^[0-9]+\.[0-9]{2}x$`, row[4])
		assert.Regexp(t, `^[0-9]+(\.[0-9]+)? / [0-9]+(\.[0-9]+)?$`, row[5], "CPU time per job, audex / ffmpeg")
	}
	assert.Equal(t, []string{
		"2 s clip -> wav", "2 s clip -> mp3",
		"2 s clip -> wav, a process per job",
		"whole file -> wav", "whole file -> mp3", "whole file -> m4a",
		"whole file -> mp3, one encoder", "whole file -> m4a, one encoder",
		"stream copy -> m4a",
		"2 s clip at 0:00 -> mp3", "2 s clip at 0:07 -> mp3",
		"2 s clip -> mp3, 1 worker", "2 s clip -> mp3, 2 workers",
	}, names)

	assert.Contains(t, r.stdout, "\nQuick mode: short measurements, so these figures are indicative only; run without --quick for figures to compare or quote.\n")

	svg, err := os.ReadFile(plot)
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
	assert.Contains(t, string(svg), "workers")
	assert.Contains(t, string(svg), ">clip/proc</text>")
}

// The plot is SVG only; another extension is a usage error before any work.
func TestBenchPlotFormat(t *testing.T) {
	t.Parallel()
	r := run(t, context.Background(), nil, nil, "bench", "--quick", "--plot", "bench.png")
	assert.Equal(t, ExitUsage, r.code)
	assert.Contains(t, r.stderr, `--plot "bench.png": want a .svg file`)
}

// BenchmarkClipProcess is the 2 s wav clip run as one process per job, as a
// shell loop runs it: the audex program (start-up, package initialisation,
// probing, output) against the ffmpeg program, taking turns job by job.
//
//	x_vs_ffmpeg    ffmpeg's wall time over audex's
//	cpu_vs_ffmpeg  audex's CPU time (user + system) over ffmpeg's
//	ms/job         audex's wall time per job
func BenchmarkClipProcess(b *testing.B) {
	src := testmedia.Video(b, testmedia.Spec{Container: "mp4", Seconds: 180, VideoSize: "1280x720"})
	audex, ff, dir := audexBinary(b), testmedia.FFmpeg(b), b.TempDir()
	sides := [2][]string{
		{audex, "extract", src, "--duration", "2", "--rate", "48000", "--channels", "2", "-o", filepath.Join(dir, "audex.wav")},
		{ff, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-t", "2", "-i", src,
			"-vn", "-sn", "-dn", "-c:a", "pcm_s16le", "-ar", "48000", "-ac", "2", "-f", "wav", filepath.Join(dir, "ffmpeg.wav")},
	}
	var wall, cpu [2]time.Duration
	runOnce := func(i int) {
		cmd := exec.Command(sides[i][0], sides[i][1:]...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", cmd, err, out)
		}
		wall[i] += time.Since(start)
		u := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu[i] += time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	runOnce(0) // warm-up: page cache
	runOnce(1)
	wall, cpu = [2]time.Duration{}, [2]time.Duration{}
	b.ResetTimer()
	for n := range b.N {
		// Alternate which side goes first, so that neither always follows
		// the other's writes.
		runOnce(n % 2)
		runOnce(1 - n%2)
	}
	b.StopTimer()
	b.ReportMetric(wall[1].Seconds()/wall[0].Seconds(), "x_vs_ffmpeg")
	b.ReportMetric(cpu[0].Seconds()/cpu[1].Seconds(), "cpu_vs_ffmpeg")
	b.ReportMetric(wall[0].Seconds()*1000/float64(b.N), "ms/job")
}

// Without --ffmpeg or $AUDEX_FFMPEG, bench takes the ffmpeg of audex's own
// pinned build from the cache (make test has built it) and says so.
func TestBenchBaselineFromCache(t *testing.T) {
	t.Parallel()
	r := run(t, context.Background(), nil, nil, "bench", "--quick", "--input", filepath.Join(t.TempDir(), "missing.mp4"))
	assert.Equal(t, ExitFailure, r.code)
	assert.Regexp(t, `bench: baseline /\S+/bin/ffmpeg \(audex's pinned FFmpeg build\)`, r.stderr)
}

// An ffmpeg that fails is named in the error, with the way out.
func TestBenchFFmpegHint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fake := filepath.Join(dir, "ffmpeg")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\necho 'Unknown encoder libopenh264' >&2\nexit 1\n"), 0o755))
	r := run(t, context.Background(), nil, nil, "bench", "--quick", "--ffmpeg", fake, "--cache", filepath.Join(dir, "cache"))
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.stderr, "bench: baseline "+fake+" (--ffmpeg)")
	assert.Contains(t, r.stderr, "choose another with --ffmpeg")
}
