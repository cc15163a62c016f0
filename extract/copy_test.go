package extract_test

import (
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// copyAgainstContinuous cuts [start, start+dur) of src by copying into
// format and compares what FFmpeg decodes from the copy with its continuous
// decode of src from start (cont, whose first sample is at trackStart on
// the timeline): the lag of the copy's first sample in samples, the largest
// sample difference after the first 10 ms, and the decoded length.
func copyAgainstContinuous(t *testing.T, src string, f extract.Format, cont *testmedia.Audio, trackStart time.Duration, start, dur float64) (res *extract.Result, lag, diff float64, n int, out string) {
	t.Helper()
	out = filepath.Join(t.TempDir(), "copy"+f.Extension())
	res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{
		Format: f, Start: seconds(start), Duration: seconds(dur), Copy: extract.CopyAlways,
	})
	require.NoError(t, err)
	require.True(t, res.Copied)
	got := testmedia.Decode(t, out)
	require.Equal(t, cont.Rate, got.Rate)
	ref := cont.Mono()
	off := int(math.Round((start - trackStart.Seconds()) * float64(cont.Rate)))
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
	return res, lag, diff, got.Frames(), out
}

// decodeMPG123 decodes an MP3 with mpg123, a second decoder that honours
// the LAME tag's delay and padding (gapless), or skips the test where it
// is not installed (make test installs it: make decoders).
func decodeMPG123(t *testing.T, path string) *testmedia.Audio {
	t.Helper()
	bin, err := exec.LookPath("mpg123")
	if err != nil {
		t.Skip("mpg123 not installed (make test installs it): no second decoder")
	}
	wav := filepath.Join(t.TempDir(), "mpg123.wav")
	out, err := exec.Command(bin, "-q", "--gapless", "-w", wav, path).CombinedOutput()
	require.NoError(t, err, "mpg123: %s", out)
	return testmedia.Decode(t, wav)
}

// TestExactCopy: copied cuts are exact through the container's own
// signalling: m4a's edit list (media time and segment duration), mp3's
// LAME tag (encoder delay and padding), Ogg Opus's pre-skip and final
// granule position. Each pair is cut at fractional
// starts near the start, mid-file and near the end, from MP4 with its
// index at the end, fragmented MP4, MOV, Matroska and FLV (milliseconds)
// and from AVI, FLV, Matroska and a LAME-tagged MP3; what FFmpeg decodes
// from the copy is its continuous decode of the source from the start, to
// the sample, and (mp3, opus) exactly as long; mpg123 and opusdec decode
// the copies the same (TestExactCopySecondDecoder). FFmpeg plays an m4a's last frame whole (its demuxer does not end
// the track at the edit list's end), so there the container's duration is
// checked.
func TestExactCopy(t *testing.T) {
	t.Parallel()
	lame := testmedia.Make(t, "lame-timecode.mp3", "-f", "lavfi", "-i",
		"aevalsrc="+testmedia.SignalExpr+"|"+testmedia.SignalExpr+":s=44100:d=8", "-c:a", "libmp3lame")
	for _, c := range []struct {
		name string
		src  string
		f    extract.Format
		tol  float64 // sample difference: AAC's noise substitution restarts (see TestMillisecondTimestamps); Opus converges to within 0.002 after 300 ms
	}{
		{"mp4 (index at the end) to m4a", testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 8}), extract.M4A, 0.1},
		{"fragmented mp4 to m4a", testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 8.5,
			Extra: []string{"-movflags", "frag_keyframe+empty_moov"}}), extract.M4A, 0.1},
		{"mov to m4a", testmedia.Video(t, testmedia.Spec{Container: "mov", Seconds: 8}), extract.M4A, 0.1},
		{"mkv (44.1 kHz, ms) to m4a", testmedia.Video(t, testmedia.Spec{Container: "mkv", Rate: 44100, Seconds: 8}), extract.M4A, 0.1},
		{"flv (44.1 kHz, ms) to m4a", testmedia.Video(t, testmedia.Spec{Container: "flv", Seconds: 8}), extract.M4A, 0.1},
		{"avi to mp3", testmedia.Video(t, testmedia.Spec{Container: "avi", Seconds: 8}), extract.MP3, 2.0 / 32768},
		{"flv (44.1 kHz, ms) to mp3", testmedia.Video(t, testmedia.Spec{Container: "flv", AudioCodec: "libmp3lame", Rate: 44100, Seconds: 8}), extract.MP3, 2.0 / 32768},
		{"mkv to mp3", testmedia.Video(t, testmedia.Spec{Container: "mkv", AudioCodec: "libmp3lame", Seconds: 8}), extract.MP3, 2.0 / 32768},
		{"LAME-tagged mp3 to mp3", lame, extract.MP3, 2.0 / 32768},
		{"webm to opus", testmedia.Video(t, testmedia.Spec{Container: "webm", Seconds: 8}), extract.OPUS, 0.005},
		{"mkv (opus) to opus", testmedia.Video(t, testmedia.Spec{Container: "mkv", AudioCodec: "libopus", Seconds: 8}), extract.OPUS, 0.005},
		{"ogg opus to opus", testmedia.Video(t, testmedia.Spec{Container: "opus", Seconds: 8}), extract.OPUS, 0.005},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			info, err := extract.ProbeFile(context.Background(), c.src, nil)
			require.NoError(t, err)
			cont := testmedia.Decode(t, c.src)
			rate := float64(cont.Rate)
			for _, cut := range []struct{ start, dur float64 }{{0.0123, 0.5}, {0.3001, 1.25}, {3.3701, 2.5}, {7.2003, 0.5}} {
				res, lag, diff, n, out := copyAgainstContinuous(t, c.src, c.f, cont, info.AudioTracks[0].Start, cut.start, cut.dur)
				want := int(math.Round(cut.dur * rate))
				t.Logf("%s at %.4f s for %g s: start %+.2f samples, length %+d samples (decoded %d, want %d), samples within %.5f",
					c.name, cut.start, cut.dur, lag, n-want, n, want, diff)
				assert.InDelta(t, 0, lag, 1.0, "%.4f s: the copy's first sample is the source's at start", cut.start)
				assert.Less(t, diff, c.tol, "%.4f s: the continuous decode's samples", cut.start)
				assert.Equal(t, int64(want), res.Samples, "%.4f s: Result.Samples", cut.start)
				if c.f == extract.M4A {
					assert.GreaterOrEqual(t, n, want)
					assert.Less(t, n, want+1024, "FFmpeg plays the last frame whole")
					copied, err := extract.ProbeFile(context.Background(), out, nil)
					require.NoError(t, err)
					assert.Equal(t, seconds(cut.dur).Round(time.Millisecond), copied.AudioTracks[0].Duration.Round(time.Millisecond),
						"%.4f s: the edit list's segment is the duration", cut.start)
				} else {
					assert.Equal(t, want, n, "%.4f s: decoded length", cut.start)
				}
			}
		})
	}
}

// TestExactCopySecondDecoder: mpg123 plays the mp3 copies as FFmpeg does:
// the LAME tag's delay and padding honoured, to the sample.
func TestExactCopySecondDecoder(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "flv", AudioCodec: "libmp3lame", Rate: 44100, Seconds: 8})
	for _, cut := range []struct{ start, dur float64 }{{0.0123, 0.5}, {3.3701, 2.5}, {7.2003, 0.5}} {
		out := filepath.Join(t.TempDir(), "copy.mp3")
		res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{
			Start: seconds(cut.start), Duration: seconds(cut.dur), Copy: extract.CopyAlways,
		})
		require.NoError(t, err)
		ff := testmedia.Decode(t, out)
		mp := decodeMPG123(t, out)
		require.Equal(t, int(res.Samples), ff.Frames())
		assert.Equal(t, ff.Frames(), mp.Frames(), "%.4f s: mpg123's length", cut.start)
		ref := ff.Mono()
		lag := testmedia.Lag(mp.Mono(), func(i int) float64 {
			if i >= 0 && i < len(ref) {
				return ref[i]
			}
			return 0
		}, 64, mp.Frames())
		assert.InDelta(t, 0, lag, 0.5, "%.4f s: mpg123's first sample", cut.start)
		t.Logf("mpg123 at %.4f s: %d samples (FFmpeg %d), lag %+.2f", cut.start, mp.Frames(), ff.Frames(), lag)
	}
}

// decodeOpusdec decodes an Ogg Opus file with opusdec (opus-tools), a
// second decoder that honours pre-skip and the end granule, or skips the
// test where it is not installed (make test installs it).
func decodeOpusdec(t *testing.T, path string) *testmedia.Audio {
	t.Helper()
	bin, err := exec.LookPath("opusdec")
	if err != nil {
		t.Skip("opusdec not installed (make test installs it): no second decoder")
	}
	wav := filepath.Join(t.TempDir(), "opusdec.wav")
	out, err := exec.Command(bin, "--quiet", "--rate", "48000", "--float", path, wav).CombinedOutput()
	require.NoError(t, err, "opusdec: %s", out)
	return testmedia.Decode(t, wav)
}

// TestExactCopySecondDecoderOpus: opusdec plays the .opus copies as FFmpeg
// does: pre-skip and end granule honoured, to the sample.
func TestExactCopySecondDecoderOpus(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "webm", Seconds: 8})
	for _, cut := range []struct{ start, dur float64 }{{0.0123, 0.5}, {3.3701, 2.5}, {7.2003, 0.5}} {
		out := filepath.Join(t.TempDir(), "copy.opus")
		res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{
			Start: seconds(cut.start), Duration: seconds(cut.dur), Copy: extract.CopyAlways,
		})
		require.NoError(t, err)
		ff := testmedia.Decode(t, out)
		od := decodeOpusdec(t, out)
		require.Equal(t, int(res.Samples), ff.Frames())
		assert.Equal(t, ff.Frames(), od.Frames(), "%.4f s: opusdec's length", cut.start)
		ref := ff.Mono()
		lag := testmedia.Lag(od.Mono(), func(i int) float64 {
			if i >= 0 && i < len(ref) {
				return ref[i]
			}
			return 0
		}, 64, od.Frames())
		assert.InDelta(t, 0, lag, 0.5, "%.4f s: opusdec's first sample", cut.start)
		t.Logf("opusdec at %.4f s: %d samples (FFmpeg %d), lag %+.2f", cut.start, od.Frames(), ff.Frames(), lag)
	}
}

// TestCopyAlwaysExactOrRefused: copy=always copies exactly or fails with
// ErrUnsupportedOption saying why; copy=auto then re-encodes, exactly.
func TestCopyAlwaysExactOrRefused(t *testing.T) {
	t.Parallel()
	aac := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 3})
	mp3 := testmedia.Video(t, testmedia.Spec{Container: "avi", Seconds: 3})
	for _, c := range []struct {
		name string
		src  string
		o    extract.Options
		why  string
	}{
		{"ADTS cannot signal a cut", aac, extract.Options{Format: extract.AAC, Start: seconds(1.01), Duration: time.Second}, "cannot signal where a cut starts"},
		{"ADTS cannot carry MP4's priming", aac, extract.Options{Format: extract.AAC}, "encoder delay"},
		{"AAC is not MP3", aac, extract.Options{Format: extract.MP3, Duration: time.Second}, "mp3 holds mp3"},
		{"the LAME tag cannot skip less than 529 samples", mp3, extract.Options{Format: extract.MP3, Start: seconds(0.005), Duration: time.Second}, "less than the LAME tag can express"},
		{"an unsignalled MP3 cut from its first sample", mp3, extract.Options{Format: extract.MP3, Duration: time.Second}, "529 samples"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := c.o
			o.Copy = extract.CopyAlways
			_, err := extract.ExtractFile(context.Background(), filepath.Join(t.TempDir(), "o"+o.Format.Extension()), c.src, &o)
			require.ErrorIs(t, err, extract.ErrUnsupportedOption)
			assert.ErrorContains(t, err, c.why)
			o.Copy = extract.CopyAuto
			out := filepath.Join(t.TempDir(), "o"+o.Format.Extension())
			res, err := extract.ExtractFile(context.Background(), out, c.src, &o)
			require.NoError(t, err)
			assert.False(t, res.Copied, "copy=auto re-encodes")
		})
	}
}
