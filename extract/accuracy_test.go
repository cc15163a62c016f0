package extract_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// exactLength: formats whose container tells the decoder the exact length
// and FFmpeg's decoder honours it. M4A signals it too (edit list and last
// packet duration, checked through Probe) but FFmpeg's decoder plays the
// last frame whole. The others may run past the request by less than one
// codec frame.
var exactLength = map[extract.Format]bool{
	extract.MP3: true, extract.WAV: true, extract.OGG: true, extract.FLAC: true, extract.OPUS: true,
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// TestSampleAccuracy cuts a time-coded H.264/AAC video at fractional starts
// into every output format, decodes each result as a player would, and
// places it on the source timeline by cross-correlation with the analytic
// signal: the first sample must be the source sample at Start (within one
// output sample) and the length exactly Duration (or less than one frame
// over where the container cannot signal padding).
func TestSampleAccuracy(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 12})
	cuts := []struct{ start, dur float64 }{
		{0, 1.5},
		{3.3701, 2.5},
		{8.123457, 1.9},
	}
	for _, f := range extract.Formats() {
		for _, c := range cuts {
			t.Run(fmt.Sprintf("%s/%g+%g", f, c.start, c.dur), func(t *testing.T) {
				t.Parallel()
				out := filepath.Join(t.TempDir(), "out"+f.Extension())
				res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{
					Format: f, Start: seconds(c.start), Duration: seconds(c.dur),
				})
				require.NoError(t, err)
				a := testmedia.Decode(t, out)
				require.Equal(t, res.SampleRate, a.Rate)
				require.Equal(t, res.Channels, a.Channels)
				rate := float64(a.Rate)
				want := int(c.dur*rate + 0.5)
				got := a.Frames()
				if exactLength[f] {
					assert.Equal(t, want, got, "decoded length in samples")
				} else {
					assert.GreaterOrEqual(t, got, want, "decoded length in samples")
					assert.Less(t, got, want+2048, "decoded length in samples")
				}
				if f == extract.M4A {
					assert.Equal(t, int64(want), res.Samples)
					info, err := extract.ProbeFile(context.Background(), out, nil)
					require.NoError(t, err)
					assert.Equal(t, seconds(c.dur).Round(time.Millisecond), info.AudioTracks[0].Duration.Round(time.Millisecond), "container duration")
				} else {
					assert.Equal(t, int64(got), res.Samples, "Result.Samples is what a decoder plays")
				}
				lag := testmedia.Lag(a.Mono(), func(i int) float64 {
					return testmedia.Signal(c.start + float64(i)/rate)
				}, int(rate/50), want)
				t.Logf("%s start=%g: lag %.2f samples (%.3f ms), length %d/%d", f, c.start, lag, lag/rate*1000, got, want)
				assert.InDelta(t, 0, lag, 1.0, "first sample must be the source sample at Start")
			})
		}
	}
}
