package extract_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// toneHz is the frequency of input channel i in the layout fixtures: each
// channel carries its own tone, so where it went can be measured.
func toneHz(i int) float64 { return 300 + 150*float64(i) }

// layoutFixture is 1.5 s of 48 kHz PCM in container (mov carries the layout,
// mkv does not: its channels' positions are unknown), channel i a tone at
// toneHz(i).
func layoutFixture(t *testing.T, container, layout string, n int) string {
	exprs := make([]string, n)
	for i := range exprs {
		exprs[i] = fmt.Sprintf("0.3*sin(2*PI*%g*t)", toneHz(i))
	}
	name := strings.NewReplacer("(", "_", ")", "_", "+", "_").Replace(layout)
	return testmedia.Make(t, "layout-"+name+"."+container, "-f", "lavfi", "-i",
		fmt.Sprintf("aevalsrc=%s:s=48000:d=1.5:c=%s", strings.Join(exprs, "|"), layout), "-c:a", "pcm_s16le")
}

// unknownWAV is the same as layoutFixture for n channels of unknown
// positions, in a WAV without a channel mask (written here: ffmpeg names no
// layout for counts like 10).
func unknownWAV(t *testing.T, n int) string {
	const rate, frames = 48000, 72000
	data := make([]byte, frames*n*2)
	for f := range frames {
		for c := range n {
			v := 0.3 * math.Sin(2*math.Pi*toneHz(c)*float64(f)/rate)
			binary.LittleEndian.PutUint16(data[(f*n+c)*2:], uint16(int16(v*32767)))
		}
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("unknown-%d.wav", n))
	require.NoError(t, os.WriteFile(path, append(testmedia.WAVHeader(rate, uint32(n), uint32(len(data))), data...), 0o644))
	return path
}

// toneAmplitude is the amplitude of the tone at hz in channel c of a,
// measured (Goertzel) over whole periods after the first 0.1 s.
func toneAmplitude(a *testmedia.Audio, c int, hz float64) float64 {
	from := a.Rate / 10
	n := a.Frames() - from
	w := 2 * math.Pi * hz / float64(a.Rate)
	var re, im float64
	for i := range n {
		v := float64(a.Samples[(from+i)*a.Channels+c])
		re += v * math.Cos(w*float64(i))
		im -= v * math.Sin(w*float64(i))
	}
	return 2 * math.Hypot(re, im) / float64(n)
}

// TestEveryChannelLayout: the unusual layouts (3.0, 4.0, 5.0(side), 6.1,
// 7.1(wide), 16 channels), layouts in a custom order, asymmetric ones,
// ones with no front channel and channels of unknown positions go into
// every output format: remixed to what each encoder takes, every channel's
// signal in the output (the LFE aside, which a downmix leaves out), left
// still left. FFmpeg's resampler refuses many of these by itself (its
// limit, never the input's fault); audex gives it an explicit matrix.
func TestEveryChannelLayout(t *testing.T) {
	t.Parallel()
	maxCh := map[extract.Format]int{
		extract.MP3: 2, extract.WAV: 8, extract.AAC: 8, extract.OGG: 8, extract.FLAC: 8,
		extract.WMA: 2, extract.AC3: 6, extract.AMR: 1, extract.M4A: 8, extract.OPUS: 8,
	}
	type layoutCase struct {
		name, src string
		n, fl, fr int // channel count, input indices of the left and right fronts (-1: none)
		lfe       int // input index of the LFE (-1: none)
	}
	var cases []layoutCase
	for _, l := range []struct {
		layout string
		n, lfe int
	}{
		{"3.0", 3, -1}, {"4.0", 4, -1}, {"5.0(side)", 5, -1}, {"6.1", 7, 3}, {"7.1", 8, 3},
		{"7.1(wide)", 8, 3}, {"hexadecagonal", 16, -1},
	} {
		for _, c := range []string{"mov", "mkv"} {
			cases = append(cases, layoutCase{l.layout + " in " + c, layoutFixture(t, c, l.layout, l.n), l.n, 0, 1, l.lfe})
		}
	}
	cases = append(cases,
		layoutCase{"custom order FR+FL", layoutFixture(t, "mov", "FR+FL", 2), 2, 1, 0, -1},
		layoutCase{"custom order FC+FL+FR+LFE", layoutFixture(t, "mov", "FC+FL+FR+LFE", 4), 4, 1, 2, 3},
		layoutCase{"asymmetric FL+FR+SL", layoutFixture(t, "mov", "FL+FR+SL", 3), 3, 0, 1, -1},
		layoutCase{"no front BL+BR", layoutFixture(t, "mov", "BL+BR", 2), 2, -1, -1, -1},
		layoutCase{"10 channels of unknown positions", unknownWAV(t, 10), 10, 0, 1, -1},
	)
	for _, c := range cases {
		for _, f := range extract.Formats() {
			t.Run(c.name+"/"+f.String(), func(t *testing.T) {
				t.Parallel()
				out := filepath.Join(t.TempDir(), "out"+f.Extension())
				res, err := extract.ExtractFile(context.Background(), out, c.src, &extract.Options{Format: f, Duration: time.Second})
				require.NoError(t, err)
				want := min(c.n, maxCh[f])
				assert.Equal(t, want, res.Channels, "channels (%s)", res.ChannelLayout)
				a := testmedia.Decode(t, out)
				require.Equal(t, res.Channels, a.Channels)
				assert.InDelta(t, 1.0, a.Seconds(), 0.05)
				for i := range c.n {
					if i == c.lfe {
						continue
					}
					best := 0.0
					for oc := range a.Channels {
						best = max(best, toneAmplitude(a, oc, toneHz(i)))
					}
					assert.Greater(t, best, 0.008, "input channel %d's signal in the output (%s)", i, res.ChannelLayout)
				}
				if c.fl >= 0 && a.Channels >= 2 {
					l, r := toneAmplitude(a, 0, toneHz(c.fl)), toneAmplitude(a, 1, toneHz(c.fl))
					assert.Greater(t, l, 2*r, "the front left is on the left (%s)", res.ChannelLayout)
					l, r = toneAmplitude(a, 0, toneHz(c.fr)), toneAmplitude(a, 1, toneHz(c.fr))
					assert.Greater(t, r, 2*l, "the front right is on the right (%s)", res.ChannelLayout)
				}
				t.Logf("%s -> %s: %s", c.name, f, res.ChannelLayout)
			})
		}
	}
}
