package extract_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// TestRequestEdges: a duration shorter than MinDuration (which could hold
// no output sample) is refused before any work as the caller's option,
// not found at run time as "no decodable audio"; MinDuration itself gives
// exactly its samples. What FFmpeg lacks is unsupported input, never
// corrupt input.
func TestRequestEdges(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 2})
	for _, d := range []time.Duration{100 * time.Nanosecond, time.Microsecond, 999 * time.Microsecond} {
		_, err := extract.ExtractFile(context.Background(), filepath.Join(t.TempDir(), "o.wav"), src, &extract.Options{Start: time.Second, Duration: d})
		assert.ErrorIs(t, err, extract.ErrUnsupportedOption, "%v", d)
		assert.ErrorContains(t, err, "minimum", "%v", d)
	}
	for _, f := range []extract.Format{extract.WAV, extract.MP3, extract.FLAC} {
		out := filepath.Join(t.TempDir(), "o"+f.Extension())
		res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{Start: time.Second, Duration: extract.MinDuration})
		require.NoError(t, err, f)
		assert.Equal(t, int64(48), res.Samples, f)
		assert.Equal(t, 48, testmedia.Decode(t, out).Frames(), "%s: decoded length", f)
	}
	t.Run("codec FFmpeg cannot decode", func(t *testing.T) {
		t.Parallel()
		wav := append(testmedia.WAVHeader(8000, 1, 16000), make([]byte, 16000)...)
		wav[20] = 0x42 // format tag 0x0042: G.723.1, whose decoder this build leaves out
		_, err := extract.Extract(context.Background(), &bytes.Buffer{}, bytes.NewReader(wav), nil)
		assert.ErrorIs(t, err, extract.ErrUnsupportedInput)
		assert.NotErrorIs(t, err, extract.ErrInvalidInput)
	})
}
