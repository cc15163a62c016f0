package extract_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// segmentSeconds is the segment length the package's tests run with.
const segmentSeconds = 12

// TestMain cuts outputs of at least segmentSeconds into segments of that
// length (the library's are 30 s), so that a short source has several
// splices. AUDEX_TEST_SEGMENTS=<duration> makes them shorter still, to run
// any test of the package on stitched segments, e.g. the sample-accuracy
// tests' 1.5 s clips:
//
//	AUDEX_TEST_SEGMENTS=0.3s internal/ffmpeg/with-env go test -run 'TestSampleAccuracy|TestRequestEdges' ./extract
func TestMain(m *testing.M) {
	d := segmentSeconds * time.Second
	if v := os.Getenv("AUDEX_TEST_SEGMENTS"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			panic("AUDEX_TEST_SEGMENTS: " + err.Error())
		}
	}
	extract.SetSegments(d, d)
	os.Exit(m.Run())
}

// musicLike is 48 s of stereo 44.1 kHz PCM in WAV that stresses what a
// splice could break: notes of three harmonics changing every quarter
// second with a decaying envelope (attacks for window switching), a
// walking bass and a little noise, the channels apart.
func musicLike(t testing.TB) string {
	const note = "220*pow(2\\,mod(floor(t*4)*7\\,24)/12)"
	const voice = "0.3*exp(-3*mod(t\\,0.25))*(sin(2*PI*" + note + "*t)+0.5*sin(4*PI*" + note + "*t)+0.25*sin(6*PI*" + note + "*t))" +
		"+0.2*sin(2*PI*55*pow(2\\,mod(floor(t)\\,5)/12)*t)+0.01*(random(0)-0.5)"
	return testmedia.Make(t, "music.wav", "-f", "lavfi", "-i",
		"aevalsrc=exprs="+voice+"|"+strings.ReplaceAll(voice, "*t)", "*t+0.3)")+":s=44100:d=48",
		"-c:a", "pcm_s16le")
}

// TestSegmentSplices encodes a 48 s source in 12 s segments on two
// encoders at once (three splices) and checks the stitched stream against
// the source and against one encoder's: every frame decodes (FFmpeg's
// decoder, and faad or flac where Debian has one), the length is what one
// encoder gives, the frames around every splice are as close to the
// source as the file's median frame, within 1 dB (or, where the music
// there is harder for the codec, as one encoder's same frame), with no
// error step larger than the codec's own, and the overall SNR is within
// 0.3 dB of one encoder's. FLAC is bit-exact and byte-identical to one
// encoder's output.
func TestSegmentSplices(t *testing.T) {
	if os.Getenv("AUDEX_TEST_SEGMENTS") != "" {
		t.Skip("measures splices of segmentSeconds, with the codecs' own pre-roll")
	}
	t.Parallel()
	src := musicLike(t)
	ref := testmedia.Decode(t, src)
	for _, f := range []extract.Format{extract.MP3, extract.M4A, extract.AAC, extract.AC3, extract.WMA, extract.FLAC} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			encode := func(name string, parallelism int) (string, *extract.Result) {
				out := filepath.Join(dir, name+f.Extension())
				res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{
					Format: f, Bitrate: bitrateFor(f), Parallelism: parallelism,
				})
				require.NoError(t, err)
				return out, res
			}
			one, oneRes := encode("one", 1)
			par, parRes := encode("par", 2)
			decodesCleanly(t, par, f)
			a, b := testmedia.Decode(t, one), testmedia.Decode(t, par)
			require.Equal(t, ref.Channels, b.Channels)
			assert.Equal(t, a.Frames(), b.Frames(), "decoded length as one encoder's")
			assert.Equal(t, oneRes.Samples, parRes.Samples)
			want := ref.Frames()
			switch f {
			case extract.FLAC, extract.MP3:
				assert.Equal(t, want, b.Frames())
			case extract.M4A:
				assert.Equal(t, int64(want), parRes.Samples)
			default: // the container cannot signal padding: less than a frame over
				assert.GreaterOrEqual(t, b.Frames(), want)
				assert.Less(t, b.Frames(), want+2048)
			}
			oneBytes, err := os.ReadFile(one)
			require.NoError(t, err)
			parBytes, err := os.ReadFile(par)
			require.NoError(t, err)
			if f == extract.FLAC {
				assert.True(t, slices.Equal(ref.Samples, b.Samples[:len(ref.Samples)]), "FLAC is bit-exact")
			}
			if f == extract.FLAC || f == extract.WMA {
				// Neither encoder keeps state beyond a frame's overlap.
				assert.True(t, bytes.Equal(oneBytes, parBytes), "stitched %s is one encoder's byte for byte", f)
				return
			}

			const frame = 1024
			snrA, snrB := frameSNRs(ref, a, frame), frameSNRs(ref, b, frame)
			median := medianOf(snrB)
			segment := int(math.Ceil(segmentSeconds*44100/float64(frameSizeOf(f)))) * frameSizeOf(f)
			var splices []int
			for at := segment; at < want; at += segment {
				splices = append(splices, at)
			}
			// How much two encodes of the same music differ frame by frame
			// away from the splices: AAC's rate control takes its own path
			// in each segment.
			var diffs []float64
			for i := range snrB {
				if !slices.ContainsFunc(splices, func(at int) bool { return abs(i*frame-at) < 2*44100 }) {
					diffs = append(diffs, snrA[i]-snrB[i])
				}
			}
			spread := max(percentile(diffs, 0.95), 0)
			ownStep := maxStep(ref, a, 0, want)
			worst, deficit := math.Inf(1), 0.0
			for _, at := range splices {
				// The splice is at encoder input sample at; where the
				// container cannot signal priming the input is shifted
				// by up to two frames: look that far either side.
				lo, hi := max(at-4096, 0), min(at+4096, want)
				var sumA, sumB float64
				for i := lo / frame; i < hi/frame; i++ {
					worst, deficit = min(worst, snrB[i]), max(deficit, snrA[i]-snrB[i])
					sumA, sumB = sumA+snrA[i], sumB+snrB[i]
					assert.GreaterOrEqual(t, snrB[i], min(median, snrA[i])-1-spread,
						"frame %d (%.3f s) at the splice at %.3f s: SNR %.1f dB, the median %.1f dB, one encoder %.1f dB, their spread %.1f dB",
						i, float64(i*frame)/44100, float64(at)/44100, snrB[i], median, snrA[i], spread)
				}
				assert.GreaterOrEqual(t, sumB, sumA-float64(hi/frame-lo/frame), "the splice at %.3f s is within 1 dB of one encoder on average", float64(at)/44100)
				step := maxStep(ref, b, lo, hi)
				assert.LessOrEqual(t, step, ownStep, "error step at the splice at %.3f s", float64(at)/44100)
			}
			overallA, overallB := snr(ref, a, 0, want), snr(ref, b, 0, want)
			t.Logf("%s: overall SNR %.2f dB (one encoder %.2f dB); frames: median %.2f dB (one encoder %.2f dB), worst at a splice %.2f dB, at most %.2f dB below one encoder's same frame at a splice (%.2f dB elsewhere, 95th percentile)",
				f, overallB, overallA, median, medianOf(snrA), worst, deficit, spread)
			assert.InDelta(t, overallA, overallB, 0.3, "overall SNR against one encoder's")
		})
	}
}

func bitrateFor(f extract.Format) int {
	switch f {
	case extract.FLAC:
		return 0
	case extract.WMA:
		return 128000
	case extract.AC3:
		return 192000
	}
	return 128000
}

func frameSizeOf(f extract.Format) int {
	switch f {
	case extract.AC3:
		return 1536
	case extract.WMA:
		return 2048
	case extract.FLAC:
		return 4608
	case extract.MP3:
		return 1152
	}
	return 1024
}

// decodesCleanly decodes every frame of path with FFmpeg's decoder,
// stopping at the first error, and with Debian's second decoder for the
// format where there is one.
func decodesCleanly(t *testing.T, path string, f extract.Format) {
	t.Helper()
	cmd := exec.Command(testmedia.FFmpeg(t), "-v", "error", "-xerror", "-nostdin", "-i", path, "-f", "null", "-")
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "ffmpeg: %s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "ffmpeg's decoder")
	var second []string
	switch f {
	case extract.FLAC:
		second = []string{"flac", "-t", "-s", path} // checks every CRC and the MD5
	case extract.AAC, extract.M4A:
		second = []string{"faad", "-q", "-o", os.DevNull, path}
	case extract.MP3:
		second = []string{"mpg123", "-q", "-t", path}
	default:
		return
	}
	if _, err := exec.LookPath(second[0]); err != nil {
		t.Logf("%s not installed (make decoders): second decoder skipped", second[0])
		return
	}
	out, err = exec.Command(second[0], second[1:]...).CombinedOutput()
	assert.NoError(t, err, "%s: %s", second[0], out)
	assert.NotContains(t, strings.ToLower(string(out)), "error", "%s", second[0])
}

// frameSNRs is the SNR in dB of each n-sample frame of got against ref.
func frameSNRs(ref, got *testmedia.Audio, n int) []float64 {
	frames := min(ref.Frames(), got.Frames()) / n
	out := make([]float64, frames)
	for i := range out {
		out[i] = snr(ref, got, i*n, (i+1)*n)
	}
	return out
}

func snr(ref, got *testmedia.Audio, from, to int) float64 {
	var s, e float64
	for i := from * ref.Channels; i < to*ref.Channels; i++ {
		d := float64(got.Samples[i]) - float64(ref.Samples[i])
		s += float64(ref.Samples[i]) * float64(ref.Samples[i])
		e += d * d
	}
	return 10 * math.Log10(s/max(e, 1e-20))
}

// maxStep is the largest jump of the error between neighbouring samples of
// a channel in [from, to).
func maxStep(ref, got *testmedia.Audio, from, to int) float64 {
	ch := ref.Channels
	var m float64
	for i := max(from, 1); i < to; i++ {
		for c := range ch {
			e1 := float64(got.Samples[i*ch+c]) - float64(ref.Samples[i*ch+c])
			e0 := float64(got.Samples[(i-1)*ch+c]) - float64(ref.Samples[(i-1)*ch+c])
			m = max(m, math.Abs(e1-e0))
		}
	}
	return m
}

func medianOf(v []float64) float64 { return percentile(v, 0.5) }

func percentile(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

func abs(x int) int { return max(x, -x) }
