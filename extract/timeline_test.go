package extract_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// continuousLag cuts [start, start+dur) of src into WAV (the source's rate:
// no resampling) and places it on FFmpeg's continuous decode of src, the
// timeline's definition: how many samples the cut lags behind the decode's
// sample at start (0: it is that sample), and the largest difference
// between their samples after the first 10 ms (16-bit WAV: 1/32768 is
// rounding).
func continuousLag(t *testing.T, src string, cont *testmedia.Audio, trackStart time.Duration, start, dur float64) (lag, diff float64) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "cut.wav")
	res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{
		Start: seconds(start), Duration: seconds(dur), Copy: extract.CopyNever,
	})
	require.NoError(t, err)
	got := testmedia.Decode(t, out)
	require.Equal(t, cont.Rate, got.Rate)
	require.Equal(t, res.Samples, int64(got.Frames()))
	ref := cont.Mono()
	rate := float64(cont.Rate)
	off := int(math.Round((start - trackStart.Seconds()) * rate))
	lag = testmedia.Lag(got.Mono(), func(i int) float64 {
		if j := off + i; j >= 0 && j < len(ref) {
			return ref[j]
		}
		return 0
	}, 64, got.Frames())
	ch := got.Channels
	for i := got.Rate / 100 * ch; i < len(got.Samples); i++ {
		if j := off*ch + i; j >= 0 && j < len(cont.Samples) {
			diff = max(diff, math.Abs(float64(got.Samples[i]-cont.Samples[j])))
		}
	}
	return lag, diff
}

// TestMillisecondTimestamps: FLV always, and Matroska by default, date
// packets in whole milliseconds, which MP3 frames at 44.1 kHz (26.122 ms)
// and AAC frames (23.220 ms) are not. A cut lands on a packet after a seek;
// its time is snapped to the frame grid anchored at the stream's first
// packet, so at every start the cut is the continuous decode's samples to
// within one sample (was: up to +0.79 ms off).
func TestMillisecondTimestamps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		testmedia.Spec
		// tol bounds the samples' difference from the continuous decode:
		// 16-bit rounding for MP3; AAC's noise substitution draws on the
		// decoder's random state, which decoding from a seek restarts.
		tol float64
	}{
		{testmedia.Spec{Container: "flv", AudioCodec: "libmp3lame", Rate: 44100, Seconds: 12}, 2.0 / 32768},
		{testmedia.Spec{Container: "mkv", AudioCodec: "aac", Rate: 44100, Seconds: 12}, 0.1},
	} {
		t.Run(c.Container+"/"+c.AudioCodec, func(t *testing.T) {
			t.Parallel()
			src := testmedia.Video(t, c.Spec)
			info, err := extract.ProbeFile(context.Background(), src, nil)
			require.NoError(t, err)
			cont := testmedia.Decode(t, src)
			var worst float64
			for i := range 24 {
				// Fractional starts spread over the file, past the seek
				// threshold.
				start := 0.61 + float64(i)*0.4373 + float64(i%7)*0.0013
				lag, diff := continuousLag(t, src, cont, info.AudioTracks[0].Start, start, 0.25)
				t.Logf("start %.4f s: %+.2f samples (%+.3f ms), samples within %.1f/32768", start, lag, lag/float64(cont.Rate)*1000, diff*32768)
				assert.InDelta(t, 0, lag, 1.0, "start %.4f s: cut vs continuous decode", start)
				assert.Less(t, diff, c.tol, "start %.4f s: the continuous decode's samples", start)
				worst = max(worst, math.Abs(lag))
			}
			t.Logf("%s: worst %s", c.Container, fmt.Sprintf("%.2f samples", worst))
		})
	}
}

// TestOneTimelineWhateverTheStart: for every codec whose decoder has a
// delay or drops samples at the start (Opus's pre-skip, AAC's and MP3's
// priming, Vorbis's first block), a cut at any start (0, either side of
// where seeking begins, mid-file, near the end) is FFmpeg's continuous
// decode of the same file from that sample, and the whole file is exactly
// the continuous decode.
func TestOneTimelineWhateverTheStart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		testmedia.Spec
		tol float64 // see TestMillisecondTimestamps; Opus converges to float precision
	}{
		{"webm-opus", testmedia.Spec{Container: "webm", Seconds: 8}, 0.001},
		{"mkv-opus", testmedia.Spec{Container: "mkv", AudioCodec: "libopus", Seconds: 8}, 0.001},
		{"ogg-opus", testmedia.Spec{Container: "opus", Seconds: 8}, 0.001},
		{"mp4-aac", testmedia.Spec{Container: "mp4", Seconds: 8}, 0.1},
		{"avi-mp3", testmedia.Spec{Container: "avi", Seconds: 8}, 2.0 / 32768},
		{"ogg-vorbis", testmedia.Spec{Container: "ogg", Seconds: 8}, 2.0 / 32768},
		{"mkv-vorbis", testmedia.Spec{Container: "mkv", AudioCodec: "libvorbis", Seconds: 8}, 2.0 / 32768},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src := testmedia.Video(t, c.Spec)
			info, err := extract.ProbeFile(context.Background(), src, nil)
			require.NoError(t, err)
			cont := testmedia.Decode(t, src)
			// The fixtures' timeline starts at 0 with the video and the
			// signal: the continuous decode's first sample is at its first
			// frame's time (3 ms for Vorbis in Matroska, whose first packet
			// decodes to nothing; 0 after Opus's pre-skip).
			trackStart := seconds(cont.StartPTS)
			if c.AudioCodec == "libopus" || c.Container == "webm" || c.Container == "opus" {
				assert.Equal(t, trackStart, info.AudioTracks[0].Start, "Probe dates the Opus track at its first played sample")
			}

			whole := filepath.Join(t.TempDir(), "whole.wav")
			res, err := extract.ExtractFile(context.Background(), whole, src, &extract.Options{Start: trackStart, Copy: extract.CopyNever})
			require.NoError(t, err)
			got := testmedia.Decode(t, whole)
			t.Logf("%s: whole track %d samples, continuous decode %d; track starts at %v", c.name, got.Frames(), cont.Frames(), trackStart)
			assert.Equal(t, cont.Frames(), got.Frames(), "the whole track is the continuous decode's length")
			assert.Equal(t, res.Samples, int64(got.Frames()))

			for _, start := range []float64{0, 0.05, 0.2999, 0.3001, 0.32, 0.33, 0.41, 3.2109, 5.4321, c.Seconds - 0.6} {
				lag, diff := continuousLag(t, src, cont, trackStart, start, 0.25)
				t.Logf("%s start %.4f s: %+.2f samples, samples within %.4f", c.name, start, lag, diff)
				assert.InDelta(t, 0, lag, 1.0, "start %.4f s: cut vs continuous decode", start)
				assert.Less(t, diff, c.tol, "start %.4f s: the continuous decode's samples", start)
			}
		})
	}
}
