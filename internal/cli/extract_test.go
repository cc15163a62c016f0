package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// assertSeconds asserts a decoded duration to the millisecond.
func assertSeconds(t *testing.T, want float64, a *testmedia.Audio) {
	t.Helper()
	assert.InDelta(t, want, a.Seconds(), 0.001, "decoded %d frames at %d Hz", a.Frames(), a.Rate)
}

func TestExtract(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	// "To the end" means all the audio a decoder plays, AAC's last frame
	// included, which is a little more than the 4 s asked of ffmpeg.
	srcSeconds := testmedia.Decode(t, src).Seconds()
	ctx := context.Background()

	t.Run("cut to a named file, flags after the input", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "clip.wav")
		r := run(t, ctx, nil, nil, "extract", src, "-o", out, "--start", "0:01.25", "--duration", "1.5")
		require.Equal(t, ExitOK, r.code, r.stderr)
		assert.Empty(t, r.stderr)
		assert.True(t, strings.HasPrefix(r.stdout, out+": wav (pcm_s16le) 48000 Hz stereo, 00:00:01.5 from 00:00:01.25"), r.stdout)
		a := testmedia.Decode(t, out)
		assertSeconds(t, 1.5, a)
		assert.Equal(t, 48000, a.Rate)
	})

	t.Run("default output name beside the input", func(t *testing.T) {
		t.Parallel()
		in := testmedia.Copy(t, src)
		r := run(t, ctx, nil, nil, "extract", in, "--start", "3")
		require.Equal(t, ExitOK, r.code, r.stderr)
		want := strings.TrimSuffix(in, filepath.Ext(in)) + ".mp3"
		assert.True(t, strings.HasPrefix(r.stdout, want+": mp3"), r.stdout)
		assertSeconds(t, srcSeconds-3, testmedia.Decode(t, want))
	})

	t.Run("json, --to, options", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "x.mp3")
		r := run(t, ctx, nil, nil, "extract", "--json", "-o", out, "--start", "1", "--to", "3.5",
			"--rate", "22050", "--channels", "1", "--bitrate", "48k", src)
		require.Equal(t, ExitOK, r.code, r.stderr)
		var res resultSeconds
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), r.stdout)
		assert.Equal(t, "mp3", res.Format)
		assert.Equal(t, 2.5, res.Duration, "seconds, as the HTTP API gives them")
		assert.Equal(t, 1.0, res.Start)
		assert.Equal(t, int64(2.5*22050), res.Samples)
		assert.Equal(t, 22050, res.SampleRate)
		assert.Equal(t, 1, res.Channels)
		assert.Equal(t, int64(48000), res.Bitrate)
		assert.Equal(t, 1, res.Input.Track)
		assert.Equal(t, 0.0, res.Input.Start)
		assert.InDelta(t, srcSeconds, res.Input.Duration, 0.05)
		a := testmedia.Decode(t, out)
		assertSeconds(t, 2.5, a)
		assert.Equal(t, 1, a.Channels)
	})

	t.Run("stream copy", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "x.m4a")
		r := run(t, ctx, nil, nil, "extract", src, "-o", out, "--copy", "always", "--json")
		require.Equal(t, ExitOK, r.code, r.stderr)
		var res resultSeconds
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
		assert.True(t, res.Copied)
		assertSeconds(t, srcSeconds, testmedia.Decode(t, out))
	})

	t.Run("stdin to stdout", func(t *testing.T) {
		t.Parallel()
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		r := run(t, ctx, bytes.NewReader(b), nil, "extract", "-", "--format", "flac", "--duration", "2")
		require.Equal(t, ExitOK, r.code, r.stderr)
		assert.True(t, strings.HasPrefix(r.stdout, "fLaC"))
		out := filepath.Join(t.TempDir(), "x.flac")
		require.NoError(t, os.WriteFile(out, []byte(r.stdout), 0o644))
		assertSeconds(t, 2, testmedia.Decode(t, out))
	})

	t.Run("stdin to a file", func(t *testing.T) {
		t.Parallel()
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		dir := t.TempDir()
		out := filepath.Join(dir, "x.mp3")
		r := run(t, ctx, bytes.NewReader(b), nil, "extract", "-", "-o", out, "--start", "2")
		require.Equal(t, ExitOK, r.code, r.stderr)
		assertSeconds(t, srcSeconds-2, testmedia.Decode(t, out))
		assert.Equal(t, []string{"x.mp3"}, dirNames(t, dir), "no temporary files left")
	})
}

func TestExtractFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})

	t.Run("no audio", func(t *testing.T) {
		t.Parallel()
		in := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true})
		dir := t.TempDir()
		r := run(t, ctx, nil, nil, "extract", in, "-o", filepath.Join(dir, "x.mp3"))
		assert.Equal(t, ExitFailure, r.code)
		assert.Equal(t, "audex: "+in+": no audio stream\n", r.stderr)
		assert.Empty(t, dirNames(t, dir))
	})
	t.Run("missing input", func(t *testing.T) {
		t.Parallel()
		in := filepath.Join(t.TempDir(), "nope.mp4")
		r := run(t, ctx, nil, nil, "extract", in, "-o", filepath.Join(t.TempDir(), "x.mp3"))
		assert.Equal(t, ExitFailure, r.code)
		assert.Equal(t, "audex: "+in+": no such file or directory\n", r.stderr)
	})
	t.Run("not media", func(t *testing.T) {
		t.Parallel()
		in := filepath.Join(t.TempDir(), "text.mp4")
		require.NoError(t, os.WriteFile(in, []byte(strings.Repeat("hello, world\n", 200)), 0o644))
		r := run(t, ctx, nil, nil, "extract", in)
		assert.Equal(t, ExitFailure, r.code)
		assert.True(t, strings.HasPrefix(r.stderr, "audex: "+in+": "), r.stderr)
		assert.Contains(t, r.stderr, extract.ErrUnrecognizedInput.Error())
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"))
	})
	t.Run("start beyond the end says where the audio ends", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for _, copyMode := range []string{"never", "always"} {
			r := run(t, ctx, nil, nil, "extract", src, "-o", filepath.Join(dir, "x.m4a"), "--start", "10", "--copy", copyMode)
			assert.Equal(t, ExitFailure, r.code)
			assert.Contains(t, r.stderr, extract.ErrStartBeyondEnd.Error())
			assert.Regexp(t, `start 10s, the audio ends at 4(\.\d+)?s\n$`, r.stderr, "--copy %s", copyMode)
		}
		assert.Empty(t, dirNames(t, dir))
	})
	t.Run("track not found", func(t *testing.T) {
		t.Parallel()
		r := run(t, ctx, nil, nil, "extract", src, "-o", filepath.Join(t.TempDir(), "x.wav"), "--track", "2")
		assert.Equal(t, ExitFailure, r.code)
		assert.Contains(t, r.stderr, extract.ErrTrackNotFound.Error())
		assert.Contains(t, r.stderr, "(input has 1 audio track)\n", "singular")
	})
	t.Run("missing output directory", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "gone")
		out := filepath.Join(dir, "x.mp3")
		for _, in := range []string{src, "-"} {
			b, err := os.ReadFile(src)
			require.NoError(t, err)
			r := run(t, ctx, bytes.NewReader(b), nil, "extract", in, "-o", out)
			assert.Equal(t, ExitFailure, r.code)
			assert.Equal(t, "audex: "+out+": the directory "+dir+" does not exist\n", r.stderr, "the path asked for, no temporary name")
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		r := run(t, cctx, nil, nil, "extract", src, "-o", filepath.Join(dir, "x.mp3"))
		assert.Equal(t, ExitInterrupted, r.code)
		assert.Equal(t, "audex: interrupted\n", r.stderr)
		assert.Empty(t, dirNames(t, dir), "no partial output")
	})
}

// A pipe that stalls must not hold up an interrupt.
func TestExtractInterruptStalledStdin(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	defer pr.Close()
	defer pw.Close()
	go pw.Write(b[:len(b)/2]) // then the pipe stays open, silent

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- run(t, ctx, pr, nil, "extract", "-", "-o", filepath.Join(dir, "x.wav")) }()
	select {
	case r := <-done:
		t.Fatalf("finished without the whole input: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	select {
	case r := <-done:
		assert.Equal(t, ExitInterrupted, r.code, r.stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("interrupt did not stop a read blocked on stdin")
	}
	assert.Empty(t, dirNames(t, dir))
}

func TestProbe(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 3, Extra: []string{"-metadata:s:a:0", "language=eng"}})
	ctx := context.Background()

	r := run(t, ctx, nil, nil, "probe", src)
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3, r.stdout)
	assert.True(t, strings.HasPrefix(lines[0], src+": matroska,webm (Matroska / WebM), 00:00:03"), lines[0])
	assert.Equal(t, []string{"TRACK", "STREAM", "CODEC", "RATE", "CHANNELS", "BITRATE", "LANG", "START", "DURATION", "TITLE"}, strings.Fields(lines[1]))
	f := strings.Fields(lines[2])
	assert.Equal(t, []string{"*1", "1", "aac", "(LC)", "48000", "Hz", "stereo"}, f[:7])
	assert.Contains(t, f, "eng")

	assert.Contains(t, lines[0], ", 2 streams")

	r = run(t, ctx, nil, nil, "probe", "--json", src)
	require.Equal(t, ExitOK, r.code, r.stderr)
	var info probeSeconds
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	require.Len(t, info.AudioTracks, 1)
	assert.Equal(t, "eng", info.AudioTracks[0].Language)
	assert.Equal(t, 1, info.BestTrack)
	assert.InDelta(t, 3, info.Duration, 0.05, "seconds")
	assert.InDelta(t, 3, info.AudioTracks[0].Duration, 0.05, "seconds")

	b, err := os.ReadFile(src)
	require.NoError(t, err)
	r = run(t, ctx, bytes.NewReader(b), nil, "probe", "-")
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, "-: matroska"), r.stdout)

	r = run(t, ctx, strings.NewReader(""), nil, "probe", "-")
	assert.Equal(t, ExitFailure, r.code)
	assert.True(t, strings.HasPrefix(r.stderr, "audex: -: "), r.stderr)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// resultSeconds and probeSeconds read the --json output of extract and
// probe, times as plain seconds.
type resultSeconds struct {
	Format     string  `json:"format"`
	SampleRate int     `json:"sample_rate"`
	Channels   int     `json:"channels"`
	Bitrate    int64   `json:"bitrate"`
	Start      float64 `json:"start"`
	Duration   float64 `json:"duration"`
	Samples    int64   `json:"samples"`
	Copied     bool    `json:"copied"`
	Truncated  bool    `json:"truncated"`
	Input      track   `json:"input"`
}

type probeSeconds struct {
	Duration    float64 `json:"duration"`
	Streams     int     `json:"streams"`
	AudioTracks []track `json:"audio_tracks"`
	BestTrack   int     `json:"best_track"`
}

type track struct {
	Track    int     `json:"track"`
	Codec    string  `json:"codec"`
	Language string  `json:"language"`
	Start    float64 `json:"start"`
	Duration float64 `json:"duration"`
}

// A 2.5 s clip is 2.5 in the JSON of extract and of probe, not 2500000000.
func TestJSONSeconds(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "clip.wav")
	r := run(t, ctx, nil, nil, "extract", src, "-o", out, "--start", "0.5", "--duration", "2.5", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.Equal(t, 2.5, res["duration"])
	assert.Equal(t, 0.5, res["start"])
	assert.Equal(t, float64(2.5*48000), res["samples"])

	r = run(t, ctx, nil, nil, "probe", out, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	assert.Equal(t, 2.5, info["duration"])
	tracks := info["audio_tracks"].([]any)
	require.Len(t, tracks, 1)
	tr := tracks[0].(map[string]any)
	assert.Equal(t, 2.5, tr["duration"])
	assert.Equal(t, 0.0, tr["start"])
}

// A file cut short gives the audio it holds, and a warning on stderr with
// or without --json.
func TestExtractTruncatedWarns(t *testing.T) {
	t.Parallel()
	faststart := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4, Extra: []string{"-movflags", "+faststart"}})
	b, err := os.ReadFile(faststart)
	require.NoError(t, err)
	in := filepath.Join(t.TempDir(), "cut.mp4")
	require.NoError(t, os.WriteFile(in, b[:len(b)/2], 0o644))
	ctx := context.Background()

	out := filepath.Join(t.TempDir(), "cut.wav")
	r := run(t, ctx, nil, nil, "extract", in, "-o", out)
	require.Equal(t, ExitOK, r.code, r.stderr)
	a := testmedia.Decode(t, out)
	assert.Less(t, a.Seconds(), 3.0, "the audio before the cut")
	assert.Regexp(t, `^audex: warning: `+regexp.QuoteMeta(in)+` ends early \(cut short or damaged\): the output holds the 00:00:0\d\.\d+ of audio up to that point\n$`, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, out+": wav"), r.stdout)

	r = run(t, ctx, nil, nil, "extract", in, "-o", out, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var res resultSeconds
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	assert.True(t, res.Truncated)
	assert.InDelta(t, a.Seconds(), res.Duration, 0.001)
	assert.Contains(t, r.stderr, "audex: warning: "+in+" ends early")

	whole := filepath.Join(t.TempDir(), "whole.wav")
	r = run(t, ctx, nil, nil, "extract", faststart, "-o", whole)
	require.Equal(t, ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr, "no warning for a whole file")
}

// probe and extract agree on what counts as an audio track: random bytes
// that FFmpeg takes for an MP3 header list none, and extract finds none.
func TestProbeAndExtractAgreeOnAudio(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	recognized := 0
	for seed := uint64(1); seed <= 4; seed++ {
		r := rand.New(rand.NewPCG(seed, seed))
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "random.mp4")
		require.NoError(t, os.WriteFile(in, b, 0o644))

		p := run(t, ctx, nil, nil, "probe", in, "--json")
		x := run(t, ctx, nil, nil, "extract", in, "-o", filepath.Join(dir, "x.mp3"))
		assert.Equal(t, ExitFailure, x.code, "seed %d: %s", seed, x.stdout)
		if p.code != ExitOK {
			// Not taken for media at all: both say so alike.
			assert.Contains(t, p.stderr, extract.ErrUnrecognizedInput.Error(), "seed %d", seed)
			assert.Contains(t, x.stderr, extract.ErrUnrecognizedInput.Error(), "seed %d", seed)
			continue
		}
		recognized++
		var info probeSeconds
		require.NoError(t, json.Unmarshal([]byte(p.stdout), &info))
		assert.Empty(t, info.AudioTracks, "seed %d: probe lists a track extract cannot select", seed)
		assert.Zero(t, info.BestTrack)
		assert.Equal(t, "audex: "+in+": "+extract.ErrNoAudio.Error()+"\n", x.stderr, "seed %d", seed)
		text := run(t, ctx, nil, nil, "probe", in)
		assert.True(t, strings.HasSuffix(text.stdout, ", 1 stream\nno audio tracks\n"), "seed %d: %s", seed, text.stdout)
	}
	require.Positive(t, recognized, "no seed was taken for media: the case under test did not arise")
}

// --lang takes a language's ISO 639-2/B code (Matroska's), its /T code and
// its ISO 639-1 code alike.
func TestLanguageCodes(t *testing.T) {
	t.Parallel()
	mkv := testmedia.Make(t, "eng-fre.mkv",
		"-f", "lavfi", "-i", "sine=f=440:r=48000:d=2", "-f", "lavfi", "-i", "sine=f=880:r=48000:d=3",
		"-map", "0:a", "-map", "1:a", "-c:a", "flac",
		"-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre")
	ctx := context.Background()
	r := run(t, ctx, nil, nil, "probe", mkv, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var info probeSeconds
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	require.Len(t, info.AudioTracks, 2)
	require.Equal(t, "fre", info.AudioTracks[1].Language, "Matroska's bibliographic code")

	for _, lang := range []string{"fra", "fre", "fr", "FR"} {
		out := filepath.Join(t.TempDir(), "fr.wav")
		r := run(t, ctx, nil, nil, "extract", mkv, "-o", out, "--lang", lang, "--json")
		require.Equal(t, ExitOK, r.code, "--lang %s: %s", lang, r.stderr)
		var res resultSeconds
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
		assert.Equal(t, 2, res.Input.Track, "--lang %s", lang)
		assertSeconds(t, 3, testmedia.Decode(t, out))
	}
	for _, lang := range []string{"eng", "en"} {
		r := run(t, ctx, nil, nil, "extract", mkv, "-o", filepath.Join(t.TempDir(), "en.wav"), "--lang", lang, "--json")
		require.Equal(t, ExitOK, r.code, r.stderr)
		var res resultSeconds
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
		assert.Equal(t, 1, res.Input.Track, "--lang %s", lang)
	}
	for _, lang := range []string{"ger", "deu", "de"} {
		r := run(t, ctx, nil, nil, "extract", mkv, "-o", filepath.Join(t.TempDir(), "de.wav"), "--lang", lang)
		assert.Equal(t, ExitFailure, r.code)
		assert.Contains(t, r.stderr, extract.ErrTrackNotFound.Error(), "--lang %s", lang)
	}
}

func TestPlural(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "0 streams", plural(0, "stream"))
	assert.Equal(t, "1 stream", plural(1, "stream"))
	assert.Equal(t, "2 decode errors", plural(2, "decode error"))
}
