package extract_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// fuzzLimits bound the media fuzz targets' work per input.
var fuzzLimits = extract.Limits{MaxOutputBytes: 1 << 20, MaxOutputDuration: time.Hour}

// fuzzDeadline is how long one extraction of a fuzz input may take
// (reliability.md: 2 s), times 4 for a loaded machine. The context gets
// longer, so that a hang shows as a late, canceled extraction instead of a
// stuck fuzzer.
const fuzzDeadline = 4 * 2 * time.Second

// limitedWriter fails a write that would take it past max bytes, so the
// output bound is checked where the bytes are written.
type limitedWriter struct {
	n, max int64
}

var errPastLimit = errors.New("output written past the limit")

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.max {
		return 0, errPastLimit
	}
	w.n += int64(len(p))
	return len(p), nil
}

// checkFuzzExtraction extracts src and fails on a hang, output beyond the
// limit, or an error that is not one of extract's sentinels.
func checkFuzzExtraction(t *testing.T, src []byte, format extract.Format) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*fuzzDeadline)
	defer cancel()
	out := &limitedWriter{max: fuzzLimits.MaxOutputBytes}
	start := time.Now()
	_, err := extract.Extract(ctx, out, bytes.NewReader(src), &extract.Options{Format: format, Limits: fuzzLimits})
	took := time.Since(start)
	require.NotErrorIs(t, err, errPastLimit, "output over %d bytes", fuzzLimits.MaxOutputBytes)
	require.NotErrorIs(t, err, extract.ErrCanceled, "did not finish within %v", 3*fuzzDeadline)
	require.Less(t, took, fuzzDeadline, "slow")
	if err != nil {
		require.True(t, errorsIsAny(err, extract.ErrNoAudio, extract.ErrUnrecognizedInput, extract.ErrInvalidInput,
			extract.ErrUnsupportedInput, extract.ErrTooManyStreams, extract.ErrOutputLimit, extract.ErrUnsupportedOption),
			"untyped error: %v", err)
	}
}

// FuzzWAVHeaderPatch (reliability.md F-11) overwrites one field of a valid
// WAV header (1, 2 or 4 bytes anywhere in its 44) with any value, with any
// amount of sample data behind it: the extraction returns in time with a
// typed error or a result, never writes past the output limit and never
// crashes (SIGFPE on a zero rate or block size would kill the fuzzer).
// It covers B7 (huge claimed sizes) and B8 (absurd rates and channel
// counts) systematically.
func FuzzWAVHeaderPatch(f *testing.F) {
	const hdr = 44
	for _, s := range []struct {
		off   uint8
		width uint8
		v     uint32
	}{
		{24, 4, 0}, {24, 4, 7}, {24, 4, 384000}, {24, 4, math.MaxInt32}, {24, 4, math.MaxUint32}, // sample rate
		{22, 2, 0}, {22, 2, 64}, {22, 2, 1023}, {22, 2, math.MaxUint16}, // channels
		{40, 4, math.MaxUint32}, {40, 4, 0}, {4, 4, math.MaxUint32}, {4, 4, 0}, // data and RIFF sizes
		{34, 2, 0}, {34, 2, 7}, {34, 2, 64}, {32, 2, 0}, {32, 2, math.MaxUint16}, {28, 4, 0}, // bits, block align, byte rate
		{20, 2, 3}, {20, 2, 0xFFFE}, {20, 2, 0}, {16, 4, math.MaxUint32}, {16, 4, 0}, // format tag, fmt size
		{0, 4, 0x46464952}, {36, 4, 0}, {12, 4, 0}, // chunk ids
	} {
		f.Add(s.off, s.width, s.v, uint16(8000), false)
		f.Add(s.off, s.width, s.v, uint16(0), true)
	}
	f.Fuzz(func(t *testing.T, off, width uint8, v uint32, pcmBytes uint16, mp3 bool) {
		rate, channels := uint32(8000), uint32(1)
		pcm := make([]byte, int(pcmBytes))
		for i := 0; i+1 < len(pcm); i += 2 {
			s := int16(8000 * math.Sin(2*math.Pi*440*float64(i/2)/float64(rate)))
			binary.LittleEndian.PutUint16(pcm[i:], uint16(s))
		}
		wav := append(testmedia.WAVHeader(rate, channels, uint32(len(pcm))), pcm...)
		w := []int{1, 2, 4}[int(width)%3]
		at := int(off) % (hdr - w + 1)
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		copy(wav[at:at+w], b[:w])
		format := extract.WAV
		if mp3 {
			format = extract.MP3
		}
		checkFuzzExtraction(t, wav, format)
	})
}

// TestUnspecifiedLayoutConverted: a WAV without a channel mask has an
// unspecified channel layout; converting it (8-bit to 16-bit, or to
// another rate) once failed with FFmpeg's "Output changed" from the
// resampler. Found by FuzzWAVHeaderPatch (testdata/fuzz).
func TestUnspecifiedLayoutConverted(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name       string
		bits       byte
		rate, want int
	}{{"8-bit to 16-bit", 8, 0, 8000}, {"16-bit to 16 kHz", 16, 16000, 16000}, {"8-bit to 22050 Hz", 8, 22050, 22050}} {
		wav := append(testmedia.WAVHeader(8000, 1, 8000), make([]byte, 8000)...)
		wav[34] = c.bits
		var out bytes.Buffer
		res, err := extract.Extract(context.Background(), &out, bytes.NewReader(wav), &extract.Options{Format: extract.WAV, SampleRate: c.rate})
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, res.SampleRate, c.name)
		require.Equal(t, time.Duration(8000*8/int(c.bits))*time.Second/8000, res.Duration, c.name)
	}
	// Channels of unknown positions beyond the standard layouts are dealt
	// out to MP3's two (see TestEveryChannelLayout), up to FFmpeg's
	// resampler's 64; more is a typed refusal (Limits.MaxChannels), not a
	// resampler error.
	wav := append(testmedia.WAVHeader(8000, 64, 64*2*100), make([]byte, 64*2*100)...)
	res, err := extract.Extract(context.Background(), io.Discard, bytes.NewReader(wav), &extract.Options{Format: extract.MP3})
	require.NoError(t, err)
	require.Equal(t, 2, res.Channels)
	wav = append(testmedia.WAVHeader(8000, 65, 65*2*100), make([]byte, 65*2*100)...)
	_, err = extract.Extract(context.Background(), io.Discard, bytes.NewReader(wav), &extract.Options{Format: extract.MP3})
	require.ErrorIs(t, err, extract.ErrUnsupportedInput)
}
