package extract_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// steps makes a video whose audio (a 440 Hz sine) is 0.8 loud for its
// first half and 0.2 for its second, and whose second audio track is 0.5
// loud throughout.
func steps(t testing.TB, container string, seconds float64) string {
	half := seconds / 2
	return testmedia.Make(t, fmt.Sprintf("steps-%g.%s", seconds, container),
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=64x48:rate=10:duration=%g", seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=if(lt(t\\,%g)\\,0.8\\,0.2)*sin(2*PI*440*t):s=48000:d=%g", half, seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=0.5*sin(2*PI*440*t):s=48000:d=%g", seconds),
		"-map", "0", "-map", "1", "-map", "2",
		"-c:v", "libopenh264", "-b:v", "50k", "-c:a", "flac")
}

// levels makes an audio file whose level rises by 0.1 every minute (0.1 in
// the first minute, 0.2 in the second, ...): long enough to be sampled.
func levels(t testing.TB, minutes int) string {
	return testmedia.Make(t, fmt.Sprintf("levels-%d.mp4", minutes),
		"-f", "lavfi", "-i", fmt.Sprintf("aevalsrc=0.1*(1+floor(t/60))*sin(2*PI*440*t):s=16000:d=%d", minutes*60),
		"-c:a", "flac")
}

// within asserts the peaks of columns [c0, c1) are ±level.
func within(t *testing.T, p *extract.Waveform, c0, c1 int, level float64, what string) {
	t.Helper()
	for c := c0; c < c1; c++ {
		assert.InDelta(t, level, p.Max[c], 0.03, "%s: max of column %d", what, c)
		assert.InDelta(t, -level, p.Min[c], 0.03, "%s: min of column %d", what, c)
	}
}

func TestPeaks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := steps(t, "mkv", 4)

	t.Run("whole", func(t *testing.T) {
		t.Parallel()
		opens := testmedia.CountDecoderOpens()
		p, err := extract.PeaksFile(ctx, src, 40, nil)
		require.NoError(t, err)
		assert.Equal(t, opens.Video, testmedia.CountDecoderOpens().Video, "no video decoder opened")
		require.Len(t, p.Min, 40)
		require.Len(t, p.Max, 40)
		assert.False(t, p.Sampled, "4 s are decoded whole")
		assert.Equal(t, time.Duration(0), p.From)
		assert.InDelta(t, 4, p.To.Seconds(), 0.05)
		assert.Equal(t, 1, p.Track.Track)
		// 0.1 s columns: 0.8 up to 2 s, 0.2 after (the column at the step
		// holds both).
		within(t, p, 0, 19, 0.8, "loud half")
		within(t, p, 21, 39, 0.2, "quiet half")
	})

	t.Run("zoom", func(t *testing.T) {
		t.Parallel()
		p, err := extract.PeaksFile(ctx, src, 100, &extract.PeaksOptions{From: 1500 * time.Millisecond, To: 2500 * time.Millisecond})
		require.NoError(t, err)
		assert.False(t, p.Sampled)
		assert.Equal(t, 1500*time.Millisecond, p.From)
		assert.Equal(t, 2500*time.Millisecond, p.To)
		// 10 ms columns: the step at 2 s is column 50, to within one.
		within(t, p, 0, 49, 0.8, "before the step")
		within(t, p, 51, 100, 0.2, "after the step")
	})

	t.Run("track", func(t *testing.T) {
		t.Parallel()
		p, err := extract.PeaksFile(ctx, src, 10, &extract.PeaksOptions{Track: 2})
		require.NoError(t, err)
		assert.Equal(t, 2, p.Track.Track)
		within(t, p, 0, 10, 0.5, "track 2")
	})

	t.Run("reader", func(t *testing.T) {
		t.Parallel()
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		// Not a seeker: spooled, as Extract does.
		p, err := extract.Peaks(ctx, io.MultiReader(bytes.NewReader(b)), 40, nil)
		require.NoError(t, err)
		within(t, p, 0, 19, 0.8, "loud half")
	})

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		_, err := extract.PeaksFile(ctx, src, 0, nil)
		assert.ErrorIs(t, err, extract.ErrUnsupportedOption)
		_, err = extract.PeaksFile(ctx, src, extract.MaxPeaksColumns+1, nil)
		assert.ErrorIs(t, err, extract.ErrUnsupportedOption)
		_, err = extract.PeaksFile(ctx, src, 10, &extract.PeaksOptions{From: 2 * time.Second, To: time.Second})
		assert.ErrorIs(t, err, extract.ErrUnsupportedOption)
		_, err = extract.PeaksFile(ctx, src, 10, &extract.PeaksOptions{From: 5 * time.Second})
		assert.ErrorIs(t, err, extract.ErrStartBeyondEnd)
		_, err = extract.PeaksFile(ctx, src, 10, &extract.PeaksOptions{Track: 3})
		assert.ErrorIs(t, err, extract.ErrTrackNotFound)
		_, err = extract.Peaks(ctx, nil, 10, nil)
		assert.ErrorIs(t, err, extract.ErrUnsupportedOption)
		silent := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true})
		_, err = extract.PeaksFile(ctx, silent, 10, nil)
		assert.ErrorIs(t, err, extract.ErrNoAudio)
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		_, err = extract.PeaksFile(canceled, src, 10, nil)
		assert.ErrorIs(t, err, extract.ErrCanceled)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// TestPeaksSampled: a range longer than a few minutes is sampled, one
// window per column, and each column still shows its own part's level.
func TestPeaksSampled(t *testing.T) {
	t.Parallel()
	src := levels(t, 8)
	p, err := extract.PeaksFile(context.Background(), src, 80, nil)
	require.NoError(t, err)
	assert.True(t, p.Sampled)
	assert.InDelta(t, 480, p.To.Seconds(), 0.1)
	for c := range 80 {
		if c%10 == 0 || c%10 == 9 {
			continue // a window near a step may straddle it
		}
		level := 0.1 * float64(1+c/10)
		assert.InDelta(t, level, p.Max[c], 0.03, "column %d (minute %d)", c, c/10)
	}

	// A zoom into one minute of it is decoded whole.
	z, err := extract.PeaksFile(context.Background(), src, 60, &extract.PeaksOptions{From: 3 * time.Minute, To: 4 * time.Minute})
	require.NoError(t, err)
	assert.False(t, z.Sampled)
	within(t, z, 1, 59, 0.4, "minute 3")
}

// BenchmarkPeaks measures the waveform of the playground (1000 columns, and
// the HTTP API's most, 4096) of a 3-minute 720p upload and of a one-hour
// file. The budget: 300 ms and 2 s.
func BenchmarkPeaks(b *testing.B) {
	for _, c := range []struct {
		name string
		src  func(*testing.B) string
		n    int
	}{
		{"3min/1000", threeMinutes, 1000},
		{"3min/4096", threeMinutes, 4096},
		{"1h/1000", oneHour, 1000},
		{"1h/4096", oneHour, 4096},
	} {
		b.Run(c.name, func(b *testing.B) {
			src := c.src(b)
			p, err := extract.PeaksFile(context.Background(), src, c.n, nil)
			if err != nil {
				b.Fatal(err)
			}
			sampled := 0.0
			if p.Sampled {
				sampled = 1
			}
			b.ResetTimer()
			for range b.N {
				if _, err := extract.PeaksFile(context.Background(), src, c.n, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
			b.ReportMetric(sampled, "sampled")
		})
	}
}

// A waveform of 40 columns of the whole input: the smallest and largest
// sample of each, from the audio alone.
func ExamplePeaksFile() {
	w, err := extract.PeaksFile(context.Background(), "testdata/sample.mp4", 40, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(w.Min), len(w.Max), w.Track.Track, w.Sampled, w.From, w.To.Round(time.Second))
	// Output: 40 40 1 false 0s 3s
}
