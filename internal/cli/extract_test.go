package cli

import (
	"bytes"
	"context"
	"encoding/json"
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
		var res extract.Result
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &res), r.stdout)
		assert.Equal(t, extract.MP3, res.Format)
		assert.Equal(t, 2500*time.Millisecond, res.Duration)
		assert.Equal(t, time.Second, res.Start)
		assert.Equal(t, 22050, res.SampleRate)
		assert.Equal(t, 1, res.Channels)
		assert.Equal(t, int64(48000), res.Bitrate)
		a := testmedia.Decode(t, out)
		assertSeconds(t, 2.5, a)
		assert.Equal(t, 1, a.Channels)
	})

	t.Run("stream copy", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "x.m4a")
		r := run(t, ctx, nil, nil, "extract", src, "-o", out, "--copy", "always", "--json")
		require.Equal(t, ExitOK, r.code, r.stderr)
		var res extract.Result
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
	t.Run("start beyond the end", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		r := run(t, ctx, nil, nil, "extract", src, "-o", filepath.Join(dir, "x.wav"), "--start", "10")
		assert.Equal(t, ExitFailure, r.code)
		assert.Contains(t, r.stderr, extract.ErrStartBeyondEnd.Error())
		assert.Empty(t, dirNames(t, dir))
	})
	t.Run("track not found", func(t *testing.T) {
		t.Parallel()
		r := run(t, ctx, nil, nil, "extract", src, "-o", filepath.Join(t.TempDir(), "x.wav"), "--track", "2")
		assert.Equal(t, ExitFailure, r.code)
		assert.Contains(t, r.stderr, extract.ErrTrackNotFound.Error())
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

	r = run(t, ctx, nil, nil, "probe", "--json", src)
	require.Equal(t, ExitOK, r.code, r.stderr)
	var info extract.Info
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	require.Len(t, info.AudioTracks, 1)
	assert.Equal(t, "eng", info.AudioTracks[0].Language)
	assert.Equal(t, 1, info.BestTrack)
	assert.InDelta(t, 3, info.Duration.Seconds(), 0.05)

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
