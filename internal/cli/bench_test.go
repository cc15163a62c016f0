package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
	r := run(t, context.Background(), nil, vars, "bench", "--quick", "--cache", filepath.Join(dir, "cache"), "--plot", plot)
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
	assert.Equal(t, []string{"BENCHMARK", "UNIT", "AUDEX", "FFMPEG", "SPEED-UP"}, cells.Split(header, -1))
	var names []string
	for _, row := range rows {
		require.Len(t, row, 5, "%q", row)
		names = append(names, row[0])
		assert.Contains(t, []string{"jobs/s", "x realtime", "ms/job"}, row[1])
		for _, v := range row[2:4] {
			assert.Regexp(t, `^[0-9]+(\.[0-9]+)?$`, v, "%q", row)
		}
		assert.Regexp(t, `^[0-9]+\.[0-9]{2}x$`, row[4])
	}
	assert.Equal(t, []string{
		"2 s clip -> wav", "2 s clip -> mp3",
		"whole file -> wav", "whole file -> mp3", "whole file -> m4a",
		"stream copy -> m4a",
		"2 s clip at 0:00 -> mp3", "2 s clip at 0:07 -> mp3",
		"2 s clip -> mp3, 1 worker", "2 s clip -> mp3, 2 workers",
	}, names)

	assert.Contains(t, r.stdout, "\nQuick mode: short measurements, so these figures are indicative only; run without --quick for figures to compare or quote.\n")

	svg, err := os.ReadFile(plot)
	require.NoError(t, err)
	assert.Contains(t, string(svg), "<svg")
	assert.Contains(t, string(svg), "workers")
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
