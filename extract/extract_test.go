package extract_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

var inputs = []string{"mp4", "mov", "mkv", "webm", "flv", "avi", "3gp", "ts"}

// TestContainersByFormats extracts from every input container into every
// output format and checks what a decoder plays: length, rate, channels.
func TestContainersByFormats(t *testing.T) {
	t.Parallel()
	for _, c := range inputs {
		src := testmedia.Video(t, testmedia.Spec{Container: c, Seconds: 3})
		for _, f := range extract.Formats() {
			t.Run(c+"/"+f.String(), func(t *testing.T) {
				t.Parallel()
				out := filepath.Join(t.TempDir(), "out"+f.Extension())
				res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{
					Start: 500 * time.Millisecond, Duration: time.Second,
				})
				require.NoError(t, err)
				assert.Equal(t, f, res.Format, "format inferred from the extension")
				a := testmedia.Decode(t, out)
				assert.Equal(t, res.SampleRate, a.Rate)
				assert.Equal(t, res.Channels, a.Channels)
				assert.InDelta(t, 1.0, a.Seconds(), 0.05, "decoded duration")
				assert.Greater(t, res.Bytes, int64(0))
				st, err := os.Stat(out)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o644), st.Mode().Perm(), "an ordinary file, not the temp file's 0600")
			})
		}
	}
}

// TestSurroundIntoEveryFormat: a 5.1 source goes into mono- and
// stereo-only codecs by remixing, and keeps 5.1 where the codec can.
func TestSurroundIntoEveryFormat(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 2, Channels: 6})
	want := map[extract.Format]int{
		extract.MP3: 2, extract.WAV: 6, extract.AAC: 6, extract.OGG: 6, extract.FLAC: 6,
		extract.WMA: 2, extract.AC3: 6, extract.AMR: 1, extract.M4A: 6, extract.OPUS: 6,
	}
	for f, ch := range want {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out"+f.Extension())
			res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{Duration: time.Second})
			require.NoError(t, err)
			assert.Equal(t, ch, res.Channels)
			a := testmedia.Decode(t, out)
			assert.Equal(t, ch, a.Channels)
			assert.InDelta(t, 1.0, a.Seconds(), 0.05)
			// The remix must carry the signal, not silence.
			var energy float64
			for _, v := range a.Mono() {
				energy += v * v
			}
			assert.Greater(t, energy/float64(a.Frames()), 0.01)
		})
	}
	t.Run("explicit channels beyond the codec", func(t *testing.T) {
		t.Parallel()
		_, err := extract.ExtractFile(context.Background(), filepath.Join(t.TempDir(), "x.amr"), src, &extract.Options{Channels: 6})
		assert.ErrorIs(t, err, extract.ErrUnsupportedOption)
		_, err = extract.ExtractFile(context.Background(), filepath.Join(t.TempDir(), "x.amr"), src, &extract.Options{SampleRate: 44100})
		assert.ErrorIs(t, err, extract.ErrUnsupportedOption)
	})
	t.Run("explicit rate and channels", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "x.wav")
		res, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{Channels: 1, SampleRate: 22050, Duration: time.Second})
		require.NoError(t, err)
		a := testmedia.Decode(t, out)
		assert.Equal(t, 22050, a.Rate)
		assert.Equal(t, 1, a.Channels)
		assert.Equal(t, 22050, a.Frames())
		assert.Equal(t, int64(22050), res.Samples)
	})
}

// onlyReader hides every interface but io.Reader.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(b []byte) (int, error) { return o.r.Read(b) }

// onlyWriter hides every interface but io.Writer.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(b []byte) (int, error) { return o.w.Write(b) }

// TestStreams: non-seekable reader (an MP4 with its index at the end, as
// ffmpeg writes by default) into non-seekable writers, including formats
// whose header is patched at the end.
func TestStreams(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 3})
	for _, f := range []extract.Format{extract.WAV, extract.MP3, extract.M4A, extract.AAC, extract.OGG} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			in, err := os.Open(src)
			require.NoError(t, err)
			defer in.Close()
			var buf bytes.Buffer
			res, err := extract.Extract(context.Background(), onlyWriter{&buf}, onlyReader{in}, &extract.Options{
				Format: f, Start: time.Second, Duration: 1500 * time.Millisecond,
			})
			require.NoError(t, err)
			assert.Equal(t, int64(buf.Len()), res.Bytes)
			out := filepath.Join(t.TempDir(), "out"+f.Extension())
			require.NoError(t, os.WriteFile(out, buf.Bytes(), 0o644))
			a := testmedia.Decode(t, out)
			assert.InDelta(t, 1.5, a.Seconds(), 0.03)
			if f == extract.WAV {
				assert.Equal(t, 72000, a.Frames(), "wav header patched with the real size")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 2})
	noAudio := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true})
	cases := []struct {
		name string
		src  string
		opts extract.Options
		want error
	}{
		{"empty", write("empty.mp4", nil), extract.Options{}, extract.ErrUnrecognizedInput},
		{"text", write("text.mp4", []byte("this is not a video, just some text\n")), extract.Options{}, extract.ErrUnrecognizedInput},
		{"no audio", noAudio, extract.Options{}, extract.ErrNoAudio},
		{"start beyond end", video, extract.Options{Start: time.Hour, Duration: time.Second}, extract.ErrStartBeyondEnd},
		{"track not found", video, extract.Options{Track: 3}, extract.ErrTrackNotFound},
		{"language not found", video, extract.Options{Language: "fra"}, extract.ErrTrackNotFound},
		{"bad format", video, extract.Options{Format: "xyz"}, extract.ErrUnsupportedFormat},
		{"negative start", video, extract.Options{Start: -time.Second}, extract.ErrUnsupportedOption},
		{"copy impossible", video, extract.Options{Format: extract.MP3, Copy: extract.CopyAlways}, extract.ErrUnsupportedOption},
		{"output limit", video, extract.Options{Limits: extract.Limits{MaxOutputDuration: time.Second}}, extract.ErrOutputLimit},
		{"byte limit", video, extract.Options{Format: extract.WAV, Limits: extract.Limits{MaxOutputBytes: 10000}}, extract.ErrOutputLimit},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.mp3")
			_, err := extract.ExtractFile(context.Background(), out, c.src, &c.opts)
			require.Error(t, err)
			assert.ErrorIs(t, err, c.want)
			entries, _ := os.ReadDir(filepath.Dir(out))
			assert.Empty(t, entries, "no output or partial file left behind")
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := extract.ExtractFile(context.Background(), filepath.Join(t.TempDir(), "o.mp3"), filepath.Join(dir, "nope.mp4"), nil)
		assert.ErrorIs(t, err, os.ErrNotExist)
	})
}

// TestCancel: cancellation mid-file returns promptly with ErrCanceled and the
// context's error, and leaves no file.
func TestCancel(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 120, NoVideo: true, AudioCodec: "flac", Signal: "sine"})
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	var canceledAt time.Time
	dir := t.TempDir()
	_, err := extract.ExtractFile(ctx, filepath.Join(dir, "out.mp3"), src, &extract.Options{
		Progress: func(p extract.Progress) {
			if p.Done > 5*time.Second {
				once.Do(func() { canceledAt = time.Now(); cancel() })
			}
		},
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, extract.ErrCanceled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(canceledAt), 2*time.Second, "returns promptly after cancel")
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)

	_, err = extract.ExtractFile(ctx, filepath.Join(dir, "out.mp3"), src, nil)
	assert.ErrorIs(t, err, extract.ErrCanceled, "an already-canceled context fails at once")
}

func TestProgress(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 6})
	var got []extract.Progress
	res, err := extract.ExtractFile(context.Background(), filepath.Join(t.TempDir(), "o.wav"), src, &extract.Options{
		Start: time.Second, Duration: 4 * time.Second,
		Progress: func(p extract.Progress) { got = append(got, p) },
	})
	require.NoError(t, err)
	require.NotEmpty(t, got)
	for i := 1; i < len(got); i++ {
		assert.GreaterOrEqual(t, got[i].Done, got[i-1].Done, "monotonic")
	}
	last := got[len(got)-1]
	assert.Equal(t, res.Duration, last.Done)
	assert.InDelta(t, 1.0, last.Fraction(), 1e-9)
	assert.Greater(t, len(got), 10, "reported along the way, not only at the end")
}

// TestAudioStartsLate: the audio begins 0.5 s after the video; a cut from 0
// keeps A/V sync by starting with the silence a player gives there.
func TestAudioStartsLate(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 4, AudioDelay: 0.5, AudioCodec: "flac"})
	info, err := extract.ProbeFile(context.Background(), src, nil)
	require.NoError(t, err)
	require.Len(t, info.AudioTracks, 1)
	assert.InDelta(t, 0.5, info.AudioTracks[0].Start.Seconds(), 0.01)

	for _, start := range []float64{0, 0.25, 1.3} {
		t.Run(fmt.Sprint(start), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "o.flac")
			_, err := extract.ExtractFile(context.Background(), out, src, &extract.Options{Start: seconds(start), Duration: 2 * time.Second})
			require.NoError(t, err)
			a := testmedia.Decode(t, out)
			require.Equal(t, 96000, a.Frames())
			lag := testmedia.Lag(a.Mono(), func(i int) float64 {
				t := start + float64(i)/48000 - 0.5
				if t < 0 {
					return 0
				}
				return testmedia.Signal(t)
			}, 480, 96000)
			assert.InDelta(t, 0, lag, 1.0)
		})
	}
}

func TestCopy(t *testing.T) {
	t.Parallel()
	aac := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 3})
	mp3 := testmedia.Video(t, testmedia.Spec{Container: "avi", Seconds: 3})
	// Matroska dates AAC's priming packet before zero and FFmpeg plays it:
	// the m4a copy's edit list keeps it, as the timeline has it.
	mkv := testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 3})
	for _, c := range []struct {
		src    string
		format extract.Format
		copy   extract.CopyMode
		copied bool
	}{
		{aac, extract.M4A, extract.CopyAuto, true},
		{aac, extract.M4A, extract.CopyNever, false},
		{aac, extract.AAC, extract.CopyAuto, false},
		{mp3, extract.MP3, extract.CopyAuto, true},
		{mkv, extract.M4A, extract.CopyAuto, true},
	} {
		t.Run(fmt.Sprintf("%s/%s/%s", filepath.Ext(c.src), c.format, c.copy), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "o"+c.format.Extension())
			res, err := extract.ExtractFile(context.Background(), out, c.src, &extract.Options{Copy: c.copy})
			require.NoError(t, err)
			assert.Equal(t, c.copied, res.Copied)
			src := testmedia.Decode(t, c.src)
			got := testmedia.Decode(t, out)
			if c.copy == extract.CopyAuto && c.format != extract.AAC {
				assert.Equal(t, src.Frames(), got.Frames(), "plays exactly the source")
			} else {
				assert.InDelta(t, src.Seconds(), got.Seconds(), 0.05)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 3})
	f, err := os.Open(src)
	require.NoError(t, err)
	defer f.Close()
	info, err := extract.Probe(context.Background(), onlyReader{f}, nil)
	require.NoError(t, err)
	assert.Contains(t, info.Container, "mp4")
	assert.Equal(t, 2, info.Streams)
	assert.InDelta(t, 3.0, info.Duration.Seconds(), 0.05)
	require.Len(t, info.AudioTracks, 1)
	tr := info.AudioTracks[0]
	assert.Equal(t, 1, tr.Track)
	assert.Equal(t, "aac", tr.Codec)
	assert.Equal(t, "LC", tr.Profile)
	assert.Equal(t, 48000, tr.SampleRate)
	assert.Equal(t, 2, tr.Channels)
	assert.Equal(t, "stereo", tr.ChannelLayout)
	assert.Equal(t, 1, info.BestTrack)

	_, err = extract.ProbeFile(context.Background(), testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true}), nil)
	assert.NoError(t, err, "probing a video without audio is not an error")
}

// TestTracks: multi-track input, selection by number and by language.
func TestTracks(t *testing.T) {
	t.Parallel()
	src := testmedia.Make(t, "tracks.mkv",
		"-f", "lavfi", "-i", "sine=f=440:d=2:r=48000",
		"-f", "lavfi", "-i", "sine=f=1000:d=2:r=44100",
		"-map", "0", "-map", "1", "-c:a", "flac",
		"-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=deu")
	info, err := extract.ProbeFile(context.Background(), src, nil)
	require.NoError(t, err)
	require.Len(t, info.AudioTracks, 2)
	assert.Equal(t, "eng", info.AudioTracks[0].Language)
	assert.Equal(t, "deu", info.AudioTracks[1].Language)
	for _, o := range []extract.Options{{Track: 2}, {Language: "deu"}, {Language: "de"}} {
		res, err := extract.ExtractFile(context.Background(), filepath.Join(t.TempDir(), "o.flac"), src, &o)
		require.NoError(t, err)
		assert.Equal(t, 44100, res.SampleRate, "%+v picks the second track", o)
		assert.Equal(t, 2, res.Input.Track)
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 3})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := extract.Formats()[i%len(extract.Formats())]
			var buf bytes.Buffer
			_, err := extract.Extract(context.Background(), &buf, bytes.NewReader(mustRead(t, src)), &extract.Options{Format: f, Start: time.Second, Duration: time.Second})
			if err == nil && buf.Len() == 0 {
				err = errors.New("empty output")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}

// recordHandler keeps the records a slog.Logger receives.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// TestLogAttribution: FFmpeg's lines about an extraction reach that
// extraction's Logger, and the error it returns carries FFmpeg's reason.
func TestLogAttribution(t *testing.T) {
	t.Parallel()
	b := mustRead(t, testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 2}))
	moov := bytes.LastIndex(b, []byte("moov"))
	require.Positive(t, moov)
	cut := filepath.Join(t.TempDir(), "cut.mp4")
	require.NoError(t, os.WriteFile(cut, b[:moov-4], 0o644))
	h := &recordHandler{}
	_, err := extract.ExtractFile(context.Background(), filepath.Join(t.TempDir(), "o.mp3"), cut, &extract.Options{Logger: slog.New(h)})
	require.ErrorIs(t, err, extract.ErrInvalidInput)
	assert.Contains(t, err.Error(), "moov atom not found", "FFmpeg's reason is in the error")
	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotEmpty(t, h.recs, "FFmpeg's lines reach the extraction's logger")
	var found bool
	for _, r := range h.recs {
		if strings.Contains(r.Message, "moov atom not found") {
			found = true
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "ffmpeg" {
					assert.Contains(t, a.Value.String(), "mov", "the FFmpeg class that logged it")
				}
				return true
			})
		}
	}
	assert.True(t, found)
}

// TestVideoChangesNothing: the audio of a file with H.264 video comes out
// exactly as the same audio without the video. (audex reads the first video
// packets for their start times; going back to the start afterwards by
// seeking skipped an MP4's AAC priming packet, so the first frame decoded
// without its overlap, and cut 16 samples from a Matroska file's audio.)
// Stream copies are compared for MP4 and MOV; a copy from Matroska into m4a
// leaves out the priming packet Matroska dates before zero, as its Result
// reports.
func TestVideoChangesNothing(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		container, audioOnly, muxer string
		copy                        bool
	}{{"mp4", "m4a", "ipod", true}, {"mov", "mov", "mov", true}, {"mkv", "mka", "matroska", false}, {"flv", "flv", "flv", false}, {"ts", "ts", "mpegts", false}} {
		// A signal from the first sample on (the time-coded one starts with
		// a gap, which hides a first frame decoded without its overlap).
		av := testmedia.Video(t, testmedia.Spec{Container: c.container, Seconds: 3, Signal: "sine"})
		aonly := testmedia.Make(t, "audio-only."+c.audioOnly, "-i", av, "-map", "0:a", "-c", "copy", "-f", c.muxer)
		opts := []extract.Options{{Format: extract.WAV}}
		if c.copy {
			opts = append(opts, extract.Options{Format: extract.M4A, Copy: extract.CopyAlways})
		}
		for _, o := range opts {
			_, want, err := extractTo(t, aonly, &o)
			require.NoError(t, err)
			_, got, err := extractTo(t, av, &o)
			require.NoError(t, err)
			require.Equal(t, want.Frames(), got.Frames(), "%s to %s", c.container, o.Format)
			diff := 0
			for i := range want.Samples {
				if want.Samples[i] != got.Samples[i] {
					diff++
				}
			}
			assert.Zero(t, diff, "%s to %s: samples that differ from the audio-only file's", c.container, o.Format)
		}
	}
}
