package extract_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// Hostile inputs (reliability.md B1-B14) at the library level: every one
// ends in success with the audio actually present, or in a typed error, and
// never leaves a file behind.

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

func extractTo(t *testing.T, src string, o *extract.Options) (*extract.Result, *testmedia.Audio, error) {
	t.Helper()
	dir := t.TempDir()
	f := extract.WAV
	if o != nil && o.Format != "" {
		f = o.Format
	}
	out := filepath.Join(dir, "out"+f.Extension())
	res, err := extract.ExtractFile(context.Background(), out, src, o)
	if err != nil {
		entries, _ := os.ReadDir(dir)
		assert.Empty(t, entries, "no partial output")
		return nil, nil, err
	}
	return res, testmedia.Decode(t, out), nil
}

func TestHostileInputs(t *testing.T) {
	t.Parallel()
	faststart := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4, Extra: []string{"-movflags", "+faststart"}})
	moovAtEnd := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	fsBytes, endBytes := mustRead(t, faststart), mustRead(t, moovAtEnd)

	t.Run("B1 random bytes", func(t *testing.T) {
		t.Parallel()
		r := rand.New(rand.NewPCG(1, 2))
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		_, _, err := extractTo(t, writeFile(t, "x.mp4", b), nil)
		require.Error(t, err)
		assert.True(t, errorsIsAny(err, extract.ErrUnrecognizedInput, extract.ErrInvalidInput, extract.ErrNoAudio), "typed: %v", err)
	})

	t.Run("B2 truncated", func(t *testing.T) {
		t.Parallel()
		for _, frac := range []float64{0.1, 0.5, 0.9} {
			src := writeFile(t, "cut.mp4", fsBytes[:int(float64(len(fsBytes))*frac)])
			var first string
			for range 3 { // the same outcome every time
				res, a, err := extractTo(t, src, nil)
				outcome := "ok"
				if err != nil {
					outcome = err.Error()
					assert.True(t, errorsIsAny(err, extract.ErrInvalidInput, extract.ErrNoAudio), "typed: %v", err)
				} else {
					assert.LessOrEqual(t, a.Seconds(), 4*frac+0.1, "no more audio than the file holds")
					assert.True(t, res.Truncated, "the early end is reported")
					assert.Equal(t, int64(a.Frames()), res.Samples)
				}
				if first == "" {
					first = outcome
				}
				assert.Equal(t, first, outcome)
			}
		}
	})

	t.Run("B3 index at end", func(t *testing.T) {
		t.Parallel()
		r1, a1, err := extractTo(t, faststart, nil)
		require.NoError(t, err)
		r2, a2, err := extractTo(t, moovAtEnd, nil)
		require.NoError(t, err)
		assert.False(t, r1.Truncated || r2.Truncated, "whole files are not reported truncated")
		assert.Equal(t, a1.Samples, a2.Samples, "identical PCM")
		// The same file with its trailing index cut off.
		moov := bytes.LastIndex(endBytes, []byte("moov"))
		require.Positive(t, moov)
		_, _, err = extractTo(t, writeFile(t, "cut.mp4", endBytes[:moov+64]), nil)
		assert.ErrorIs(t, err, extract.ErrInvalidInput, "%v", err)
	})

	t.Run("B4 no audio", func(t *testing.T) {
		t.Parallel()
		_, _, err := extractTo(t, testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true}), nil)
		assert.ErrorIs(t, err, extract.ErrNoAudio)
		// The build has no video decoder to open (and the codec whitelist
		// would refuse one): nothing in this process ever asks for one.
		assert.Zero(t, testmedia.VideoDecoders(), "video decoders linked")
		opens := testmedia.CountDecoderOpens()
		assert.Zero(t, opens.Video+opens.VideoRefused, "video decoder openings asked for")
	})

	t.Run("B5 mismatched extension", func(t *testing.T) {
		t.Parallel()
		wav := testmedia.Make(t, "b5.wav", "-f", "lavfi", "-i", "sine=d=1:r=44100")
		_, a, err := extractTo(t, writeFile(t, "really-a-wav.mp4", mustRead(t, wav)), nil)
		require.NoError(t, err)
		assert.Equal(t, 44100, a.Frames())
		mkv := testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 1, AudioCodec: "flac"})
		_, a, err = extractTo(t, writeFile(t, "really-a-mkv.mov", mustRead(t, mkv)), nil)
		require.NoError(t, err)
		assert.Equal(t, 48000, a.Frames())
	})

	t.Run("B6 playlists and scripts", func(t *testing.T) {
		t.Parallel()
		sentinel := writeFile(t, "secret.wav", mustRead(t, testmedia.Make(t, "b6.wav", "-f", "lavfi", "-i", "sine=d=1")))
		for name, body := range map[string]string{
			"hls.mp4":    "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://" + sentinel + "\n#EXTINF:10,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n",
			"concat.mp4": "ffconcat version 1.0\nfile '" + sentinel + "'\n",
			"sdp.mp4":    "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 9 RTP/AVP 0\n",
		} {
			_, _, err := extractTo(t, writeFile(t, name, []byte(body)), nil)
			assert.True(t, errorsIsAny(err, extract.ErrUnrecognizedInput, extract.ErrUnsupportedInput), "%s: %v", name, err)
		}
	})

	t.Run("B7 huge claimed size", func(t *testing.T) {
		t.Parallel()
		pcm := make([]byte, 44100*2) // 1 s mono of silence
		src := writeFile(t, "huge.wav", append(testmedia.WAVHeader(44100, 1, 0xFFFFFFFF), pcm...))
		res, a, err := extractTo(t, src, nil)
		require.NoError(t, err)
		assert.Equal(t, 44100, a.Frames())
		assert.Equal(t, time.Second, res.Duration)
	})

	t.Run("B8 absurd audio parameters", func(t *testing.T) {
		t.Parallel()
		pcm := make([]byte, 4096)
		for _, c := range []struct {
			rate, ch uint32
			ok       bool
		}{
			{0, 1, false}, {7, 1, true}, {384000, 1, true}, {1<<31 - 1, 1, false},
			{44100, 0, false}, {44100, 64, true}, {44100, 1023, false},
		} {
			src := writeFile(t, "p.wav", append(testmedia.WAVHeader(c.rate, c.ch, uint32(len(pcm))), pcm...))
			_, _, err := extractTo(t, src, &extract.Options{Format: extract.WAV})
			if c.ok {
				assert.NoError(t, err, "rate %d channels %d", c.rate, c.ch)
			} else {
				assert.True(t, errorsIsAny(err, extract.ErrUnsupportedInput, extract.ErrInvalidInput, extract.ErrUnrecognizedInput), "rate %d channels %d: %v", c.rate, c.ch, err)
			}
		}
	})

	t.Run("B9 many streams", func(t *testing.T) {
		t.Parallel()
		maps := func(n int) []string {
			a := []string{"-f", "lavfi", "-i", "sine=d=0.5:r=8000"}
			for range n {
				a = append(a, "-map", "0:a")
			}
			return append(a, "-c:a", "pcm_s16le")
		}
		res, a, err := extractTo(t, testmedia.Make(t, "s100.mkv", maps(100)...), nil)
		require.NoError(t, err)
		assert.Equal(t, 1, res.Input.Track)
		assert.Equal(t, 4000, a.Frames())
		// ffmpeg cannot write 1,001 streams (its muxer has the same cap), so
		// the cap is lowered instead: the demuxer refuses stream 51.
		_, _, err = extractTo(t, testmedia.Make(t, "s100.mkv", maps(100)...), &extract.Options{Limits: extract.Limits{MaxStreams: 50}})
		assert.ErrorIs(t, err, extract.ErrTooManyStreams)
	})

	t.Run("B10 decompression bomb", func(t *testing.T) {
		t.Parallel()
		bomb := testmedia.Make(t, "bomb.flac", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "120")
		_, _, err := extractTo(t, bomb, &extract.Options{Limits: extract.Limits{MaxOutputDuration: 30 * time.Second}})
		assert.ErrorIs(t, err, extract.ErrOutputLimit)
	})

	t.Run("B13 corrupted packets", func(t *testing.T) {
		t.Parallel()
		b := bytes.Clone(fsBytes)
		mdat := bytes.Index(b, []byte("mdat"))
		require.Positive(t, mdat)
		r := rand.New(rand.NewPCG(3, 4))
		for i := mdat + 8; i < len(b); i++ {
			if r.IntN(100) == 0 {
				b[i] ^= byte(1 + r.IntN(255))
			}
		}
		res, a, err := extractTo(t, writeFile(t, "flipped.mp4", b), nil)
		if err != nil {
			assert.ErrorIs(t, err, extract.ErrInvalidInput)
			return
		}
		assert.InDelta(t, 4.0, a.Seconds(), 0.2, "duration kept, errors concealed")
		assert.Positive(t, res.DecodeErrors, "decode errors reported")
	})

	t.Run("B14 encrypted", func(t *testing.T) {
		t.Parallel()
		enc := testmedia.Make(t, "cenc.mp4", "-f", "lavfi", "-i", "sine=d=2", "-c:a", "aac",
			"-encryption_scheme", "cenc-aes-ctr", "-encryption_key", "76a6c65c5ea762046bd749a2e632ccbb",
			"-encryption_kid", "a7e61c373e219033c21091fa607bf3b8")
		for _, o := range []extract.Options{{}, {Format: extract.M4A}} {
			_, _, err := extractTo(t, enc, &o)
			assert.ErrorIs(t, err, extract.ErrEncrypted)
			assert.ErrorIs(t, err, extract.ErrUnsupportedInput)
		}
	})
}

func errorsIsAny(err error, targets ...error) bool {
	if err == nil {
		return false
	}
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
