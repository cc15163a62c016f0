package extract_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
)

// snapshot describes every entry of dir: name, inode, kind and, for regular
// files, a hash of the content; for symlinks, the target. Two equal
// snapshots mean nothing in dir was created, removed, replaced or changed.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	s := map[string]string{}
	for _, e := range es {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		desc := fmt.Sprintf("ino %d %s", fi.Sys().(*syscall.Stat_t).Ino, fi.Mode())
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			h := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(h[:])
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			require.NoError(t, err)
			desc += " -> " + target
		}
		s[e.Name()] = desc
	}
	return s
}

// refusalBundle is a private directory holding a copy of a short video
// (talk.mp4) and, made from it, an MP3 (clip.mp3).
type refusalBundle struct {
	dir, video, clip string
}

func newRefusalBundle(t *testing.T, src string) refusalBundle {
	t.Helper()
	b := refusalBundle{dir: t.TempDir()}
	b.video = filepath.Join(b.dir, "talk.mp4")
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(b.video, data, 0o644))
	b.clip = filepath.Join(b.dir, "clip.mp3")
	_, err = extract.ExtractFile(context.Background(), b.clip, b.video, &extract.Options{Duration: 500 * time.Millisecond})
	require.NoError(t, err)
	return b
}

// TestExtractFileRefusals: every call ExtractFile refuses fails with its
// sentinel and leaves the directory exactly as it was: the destination
// byte for byte, the source, and no temporary file.
func TestExtractFileRefusals(t *testing.T) {
	t.Parallel()
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})
	cwd, err := os.Getwd()
	require.NoError(t, err)

	cases := []struct {
		name string
		// call sets up what it needs in b.dir and returns ExtractFile's
		// arguments.
		call func(t *testing.T, b refusalBundle) (dst, src string, o *extract.Options)
		want error
		msg  []string // the error message contains each
	}{
		{"same path", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			return b.clip, b.clip, nil
		}, extract.ErrOutputIsInput, nil},
		{"same path, format set", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			return b.video, b.video, &extract.Options{Format: extract.M4A}
		}, extract.ErrOutputIsInput, nil},
		{"same path, no format and a video extension", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			return b.video, b.video, nil
		}, extract.ErrOutputIsInput, nil},
		{"path variants", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			require.NoError(t, os.Mkdir(filepath.Join(b.dir, "sub"), 0o755))
			return b.dir + "//./sub/../" + filepath.Base(b.video), b.video, &extract.Options{Format: extract.M4A}
		}, extract.ErrOutputIsInput, nil},
		{"relative ./ path", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			rel, err := filepath.Rel(cwd, b.video)
			require.NoError(t, err)
			return "./" + rel, b.video, &extract.Options{Format: extract.M4A}
		}, extract.ErrOutputIsInput, nil},
		{"hard link to the source", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			link := filepath.Join(b.dir, "link.mp3")
			require.NoError(t, os.Link(b.video, link))
			return link, b.video, nil
		}, extract.ErrOutputIsInput, nil},
		{"symlink to the source", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			link := filepath.Join(b.dir, "link.mp3")
			require.NoError(t, os.Symlink("talk.mp4", link))
			return link, b.video, nil
		}, extract.ErrOutputIsInput, nil},
		{"source through a symlink", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			link := filepath.Join(b.dir, "link.mp4")
			require.NoError(t, os.Symlink(b.clip, link))
			return b.clip, link, nil
		}, extract.ErrOutputIsInput, nil},
		{"swapped paths", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			return b.video, b.clip, nil
		}, extract.ErrUnsupportedFormat, []string{".m4a", "Options.Format = extract.M4A", "swapped"}},
		{"swapped paths, upper case", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			up := filepath.Join(b.dir, "TALK.MP4")
			require.NoError(t, os.Rename(b.video, up))
			return up, b.clip, nil
		}, extract.ErrUnsupportedFormat, []string{".m4a"}},
		{"swapped paths, other video", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			mkv := filepath.Join(b.dir, "talk.mkv")
			require.NoError(t, os.Rename(b.video, mkv))
			return mkv, b.clip, nil
		}, extract.ErrUnsupportedFormat, []string{`".mkv"`, "Options.Format"}},
		{"existing file without extension", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			notes := filepath.Join(b.dir, "notes")
			require.NoError(t, os.WriteFile(notes, []byte("keep me"), 0o644))
			return notes, b.video, nil
		}, extract.ErrUnsupportedFormat, []string{"no extension"}},
		{"new file without extension", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			return filepath.Join(b.dir, "out"), b.video, nil
		}, extract.ErrUnsupportedFormat, []string{"no extension"}},
		{"directory", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			d := filepath.Join(b.dir, "out.mp3")
			require.NoError(t, os.Mkdir(d, 0o755))
			return d, b.video, nil
		}, extract.ErrUnsupportedOption, []string{"directory"}},
		{"named pipe", func(t *testing.T, b refusalBundle) (string, string, *extract.Options) {
			p := filepath.Join(b.dir, "out.wav")
			require.NoError(t, syscall.Mkfifo(p, 0o644))
			// Opening it would block: a test that hangs here fails.
			return p, b.video, nil
		}, extract.ErrUnsupportedOption, []string{"named pipe"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newRefusalBundle(t, video)
			dst, src, o := c.call(t, b)
			before := snapshot(t, b.dir)
			_, err := extract.ExtractFile(context.Background(), dst, src, o)
			require.ErrorIs(t, err, c.want)
			for _, m := range c.msg {
				assert.Contains(t, err.Error(), m)
			}
			assert.Equal(t, before, snapshot(t, b.dir), "nothing written, created or replaced")
		})
	}

	t.Run("device", func(t *testing.T) {
		t.Parallel()
		before, err := os.Stat(os.DevNull)
		require.NoError(t, err)
		_, err = extract.ExtractFile(context.Background(), os.DevNull, video, &extract.Options{Format: extract.MP3})
		require.ErrorIs(t, err, extract.ErrUnsupportedOption)
		after, err := os.Lstat(os.DevNull)
		require.NoError(t, err)
		assert.True(t, os.SameFile(before, after), "the device is still there")
	})
}

// TestExtractFileExplicitFormat: with Options.Format set, any destination
// name is accepted, a video's included; without it, an audio extension
// decides. Either way the source is left as it was.
func TestExtractFileExplicitFormat(t *testing.T) {
	t.Parallel()
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})
	for _, c := range []struct {
		name string
		f    extract.Format
		want extract.Format
	}{
		{"audio.mp4", extract.M4A, extract.M4A},
		{"audio", extract.WAV, extract.WAV},
		{"audio.bin", extract.MP3, extract.MP3},
		{"audio.wav", extract.FLAC, extract.FLAC},
		{"audio.oga", "", extract.OGG},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := newRefusalBundle(t, video)
			dst := filepath.Join(b.dir, c.name)
			before := snapshot(t, b.dir)
			res, err := extract.ExtractFile(context.Background(), dst, b.video, &extract.Options{Format: c.f, Duration: 500 * time.Millisecond})
			require.NoError(t, err)
			assert.Equal(t, c.want, res.Format)
			after := snapshot(t, b.dir)
			assert.Equal(t, before["talk.mp4"], after["talk.mp4"], "the source is untouched")
			assert.Len(t, after, len(before)+1, "the output and nothing else: %v", after)
			audio := testmedia.Decode(t, dst)
			assert.InDelta(t, 0.5, audio.Seconds(), 0.05)
		})
	}
}

// TestExtractFileReplacesOnlyTheName: an existing destination is replaced
// as a whole, and a destination that is a symlink is replaced as a link:
// the file it pointed to keeps its content.
func TestExtractFileReplacesOnlyTheName(t *testing.T) {
	t.Parallel()
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})
	b := newRefusalBundle(t, video)
	other := filepath.Join(b.dir, "keep.wav")
	require.NoError(t, os.WriteFile(other, []byte("not audio, but mine"), 0o644))
	link := filepath.Join(b.dir, "out.wav")
	require.NoError(t, os.Symlink("keep.wav", link))
	_, err := extract.ExtractFile(context.Background(), link, b.video, &extract.Options{Duration: 500 * time.Millisecond})
	require.NoError(t, err)
	got, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.Equal(t, "not audio, but mine", string(got))
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.True(t, fi.Mode().IsRegular(), "the link became the output file")
	assert.InDelta(t, 0.5, testmedia.Decode(t, link).Seconds(), 0.05)
}

// TestProbeFileOnlyReads: probing changes nothing in the directory, for a
// video, an audio file and a file that is not media.
func TestProbeFileOnlyReads(t *testing.T) {
	t.Parallel()
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})
	b := newRefusalBundle(t, video)
	junk := filepath.Join(b.dir, "junk.mp4")
	require.NoError(t, os.WriteFile(junk, []byte("not a video"), 0o644))
	before := snapshot(t, b.dir)
	for _, p := range []string{b.video, b.clip} {
		_, err := extract.ProbeFile(context.Background(), p, nil)
		require.NoError(t, err)
	}
	_, err := extract.ProbeFile(context.Background(), junk, nil)
	require.ErrorIs(t, err, extract.ErrUnrecognizedInput)
	assert.Equal(t, before, snapshot(t, b.dir))
}
