package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

// probeWithPeaks reads probe --peaks --json.
type probeWithPeaks struct {
	Duration float64 `json:"duration"`
	Peaks    *struct {
		Track   int       `json:"track"`
		From    float64   `json:"from"`
		To      float64   `json:"to"`
		Columns int       `json:"columns"`
		Sampled bool      `json:"sampled"`
		Min     []float64 `json:"min"`
		Max     []float64 `json:"max"`
	} `json:"peaks"`
}

// TestProbePeaks: probe --peaks N gives N columns in seconds in the JSON,
// for a sub-range with --from/--to, and a one-line drawing in text.
func TestProbePeaks(t *testing.T) {
	t.Parallel()
	// "sine" is 0.5*sin(2*PI*440*t): every column peaks at ±0.5.
	src := testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 3, Signal: "sine"})
	ctx := context.Background()

	r := run(t, ctx, nil, nil, "probe", src, "--peaks", "30", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var got probeWithPeaks
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.NotNil(t, got.Peaks, r.stdout)
	p := got.Peaks
	assert.Equal(t, 1, p.Track)
	assert.Equal(t, 30, p.Columns)
	assert.False(t, p.Sampled)
	assert.Equal(t, 0.0, p.From)
	assert.InDelta(t, 3, p.To, 0.05, "seconds")
	require.Len(t, p.Max, 30)
	require.Len(t, p.Min, 30)
	for c := 1; c < 29; c++ {
		assert.InDelta(t, 0.5, p.Max[c], 0.05, "column %d", c)
		assert.InDelta(t, -0.5, p.Min[c], 0.05, "column %d", c)
	}

	r = run(t, ctx, nil, nil, "probe", src, "--peaks", "10", "--from", "1", "--to", "1.5", "--track", "1", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	got = probeWithPeaks{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Equal(t, 1.0, got.Peaks.From)
	assert.Equal(t, 1.5, got.Peaks.To)
	assert.Len(t, got.Peaks.Max, 10)

	// Without --peaks the JSON has no peaks.
	r = run(t, ctx, nil, nil, "probe", src, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "peaks")

	// Text: a line that says what it is, and the drawing.
	r = run(t, ctx, nil, nil, "probe", src, "--peaks", "20")
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	assert.Regexp(t, `^waveform of track 1, 00:00:00 to 00:00:03\.0\d\d, 20 columns, every sample:$`, lines[len(lines)-2])
	assert.Equal(t, 20, len([]rune(lines[len(lines)-1])), lines[len(lines)-1])

	// Standard input is read twice: kept in a temporary file.
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	r = run(t, ctx, bytes.NewReader(b), nil, "probe", "-", "--peaks", "5", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	got = probeWithPeaks{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	assert.Len(t, got.Peaks.Max, 5)

	// Usage and failures.
	for _, args := range [][]string{
		{"probe", src, "--from", "1"},
		{"probe", src, "--peaks", "0"},
		{"probe", src, "--peaks", "70000"},
		{"probe", src, "--peaks", "10", "--from", "2", "--to", "1"},
	} {
		r = run(t, ctx, nil, nil, args...)
		assert.Equal(t, ExitUsage, r.code, "%q: %s", args, r.stderr)
	}
	r = run(t, ctx, nil, nil, "probe", src, "--peaks", "10", "--from", "9")
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.stderr, "start beyond end")
	// The same failure from standard input (read twice) is not lost.
	r = run(t, ctx, bytes.NewReader(b), nil, "probe", "-", "--peaks", "10", "--from", "9")
	assert.Equal(t, ExitFailure, r.code, r.stdout)
	assert.Contains(t, r.stderr, "start beyond end")
	r = run(t, ctx, nil, nil, "probe", src, "--peaks", "10", "--track", "2")
	assert.Equal(t, ExitFailure, r.code)
	assert.Contains(t, r.stderr, "track not found")
}
