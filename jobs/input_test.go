package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func nlink(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	require.NoError(t, err)
	fb, err := os.Stat(b)
	require.NoError(t, err)
	return os.SameFile(fa, fb)
}

func content(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// shmDir returns a directory on another file system than the data
// directory (/dev/shm), or skips.
func shmDir(t *testing.T, b *bundle) string {
	t.Helper()
	shm, err := os.MkdirTemp("/dev/shm", "jobs-test-")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	probe := filepath.Join(shm, "probe")
	require.NoError(t, os.WriteFile(probe, []byte("x"), 0o600))
	if err := os.Link(probe, b.path(tmpDir, "probe")); err == nil {
		os.Remove(b.path(tmpDir, "probe"))
		t.Skip("/dev/shm is on the data directory's file system")
	}
	os.Remove(probe)
	return shm
}

// TestSubmitFileKeepsCallersFile: by default SubmitFile leaves the caller's
// file where it is and as it is, through submission, the job's run, its
// deletion and its expiry; the manager only ever removes its own link or
// copy.
func TestSubmitFileKeepsCallersFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("hard link on the same file system", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Workers = 1 })
		src := filepath.Join(t.TempDir(), "talk.mp4")
		require.NoError(t, os.WriteFile(src, []byte("block"), 0o600))
		j, err := b.m.SubmitFile(ctx, src, Request{})
		require.NoError(t, err)
		assert.True(t, sameFile(t, src, b.path(inputsDir, j.ID)), "the input is a link to the caller's file")
		assert.Equal(t, uint64(2), nlink(t, src))
		b.waitStarted(j.ID)
		b.fx.open()
		assert.Equal(t, StateSucceeded, b.wait(j.ID).State)
		assert.Equal(t, "block", content(t, src), "after the job")
		assert.Equal(t, uint64(1), nlink(t, src), "the manager removed its link, only")
		require.NoError(t, b.m.Delete(j.ID))
		assert.Equal(t, "block", content(t, src), "after Delete")
		assert.Empty(t, b.entries(inputsDir))
	})

	t.Run("a queued job's link is removed by Delete and Cancel, not the file", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Workers = 1 })
		running := b.submit("block", Request{})
		b.waitStarted(running.ID)
		dir := t.TempDir()
		var ids []string
		for _, name := range []string{"a.mp4", "b.mp4"} {
			src := filepath.Join(dir, name)
			require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
			j, err := b.m.SubmitFile(ctx, src, Request{})
			require.NoError(t, err)
			require.Equal(t, StateQueued, j.State)
			ids = append(ids, j.ID)
		}
		require.NoError(t, b.m.Delete(ids[0]))
		_, err := b.m.Cancel(ids[1])
		require.NoError(t, err)
		for _, name := range []string{"a.mp4", "b.mp4"} {
			src := filepath.Join(dir, name)
			assert.Equal(t, "ok", content(t, src))
			assert.Equal(t, uint64(1), nlink(t, src), name)
		}
		assert.Equal(t, []string{running.ID}, b.entries(inputsDir))
	})

	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		src := filepath.Join(t.TempDir(), "talk.mp4")
		require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
		j, err := b.m.SubmitFile(ctx, src, Request{})
		require.NoError(t, err)
		require.Equal(t, StateSucceeded, b.wait(j.ID).State)
		b.clock.Set(t0.Add(DefaultRetention + time.Minute))
		b.m.sweep()
		j, err = b.m.Get(j.ID)
		require.NoError(t, err)
		require.Equal(t, StateExpired, j.State)
		b.clock.Set(t0.Add(DefaultRetention + DefaultExpiredGrace + time.Hour))
		b.m.sweep()
		_, err = b.m.Get(j.ID)
		require.ErrorIs(t, err, ErrNotFound)
		assert.Equal(t, "ok", content(t, src))
		assert.Equal(t, uint64(1), nlink(t, src))
	})

	t.Run("copy when the link is refused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Workers = 1 })
		b.m.link = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EPERM} }
		src := filepath.Join(t.TempDir(), "talk.mp4")
		require.NoError(t, os.WriteFile(src, []byte("block"), 0o600))
		j, err := b.m.SubmitFile(ctx, src, Request{})
		require.NoError(t, err)
		assert.False(t, sameFile(t, src, b.path(inputsDir, j.ID)), "a copy, not a link")
		assert.Equal(t, "block", content(t, b.path(inputsDir, j.ID)))
		assert.Equal(t, uint64(1), nlink(t, src))
		assert.Empty(t, b.entries(tmpDir), "the copy's temporary name is gone")
		b.fx.open()
		assert.Equal(t, StateSucceeded, b.wait(j.ID).State)
		assert.Equal(t, "block", content(t, src))
	})

	t.Run("copy from another file system", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		src := filepath.Join(shmDir(t, b), "talk.mp4")
		require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
		j, err := b.m.SubmitFile(ctx, src, Request{})
		require.NoError(t, err)
		assert.Equal(t, StateSucceeded, b.wait(j.ID).State)
		require.NoError(t, b.m.Delete(j.ID))
		assert.Equal(t, "ok", content(t, src))
	})

	t.Run("a symlink is followed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(c *Config) { c.Workers = 1 })
		dir := t.TempDir()
		file := filepath.Join(dir, "talk.mp4")
		require.NoError(t, os.WriteFile(file, []byte("block"), 0o600))
		link := filepath.Join(dir, "latest.mp4")
		require.NoError(t, os.Symlink("talk.mp4", link))
		j, err := b.m.SubmitFile(ctx, link, Request{})
		require.NoError(t, err)
		in, err := os.Lstat(b.path(inputsDir, j.ID))
		require.NoError(t, err)
		assert.True(t, in.Mode().IsRegular(), "the input is the file, not a link to the link")
		assert.True(t, sameFile(t, file, b.path(inputsDir, j.ID)))
		b.fx.open()
		assert.Equal(t, StateSucceeded, b.wait(j.ID).State)
		target, err := os.Readlink(link)
		require.NoError(t, err)
		assert.Equal(t, "talk.mp4", target)
		assert.Equal(t, "block", content(t, file))
	})

	t.Run("only regular files", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil)
		dir := t.TempDir()
		fifo := filepath.Join(dir, "pipe.mp4")
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
		empty := filepath.Join(dir, "empty.mp4")
		require.NoError(t, os.WriteFile(empty, nil, 0o600))
		for _, move := range []bool{false, true} {
			for _, p := range []string{fifo, dir, os.DevNull, empty} {
				// Opening the FIFO would block: a test that hangs here fails.
				_, err := b.m.SubmitFile(ctx, p, Request{MoveInput: move})
				assert.ErrorIs(t, err, ErrInvalidRequest, "%s, move %v", p, move)
			}
		}
		for _, p := range []string{fifo, empty} {
			_, err := os.Lstat(p)
			assert.NoError(t, err, "%s is still there", p)
		}
		assert.Empty(t, b.entries(inputsDir))
		assert.Empty(t, b.entries(tmpDir))
	})
}

// TestSubmitFileMoveInput: the opt-in move takes the file itself, also
// across file systems, and is not part of the stored job.
func TestSubmitFileMoveInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, func(c *Config) { c.Workers = 1 })
	running := b.submit("block", Request{})
	b.waitStarted(running.ID)

	src := filepath.Join(t.TempDir(), "upload")
	require.NoError(t, os.WriteFile(src, []byte("ok"), 0o600))
	before, err := os.Stat(src)
	require.NoError(t, err)
	j, err := b.m.SubmitFile(ctx, src, Request{MoveInput: true})
	require.NoError(t, err)
	assert.NoFileExists(t, src, "moved")
	in, err := os.Stat(b.path(inputsDir, j.ID))
	require.NoError(t, err)
	assert.True(t, os.SameFile(before, in), "renamed, not copied")
	assert.Equal(t, uint64(1), nlink(t, b.path(inputsDir, j.ID)))
	assert.False(t, j.Request.MoveInput, "not part of the job")
	got, err := b.m.Get(j.ID)
	require.NoError(t, err)
	assert.Equal(t, j.Request, got.Request)

	shmSrc := filepath.Join(shmDir(t, b), "upload")
	require.NoError(t, os.WriteFile(shmSrc, []byte("ok"), 0o600))
	j2, err := b.m.SubmitFile(ctx, shmSrc, Request{MoveInput: true})
	require.NoError(t, err)
	assert.NoFileExists(t, shmSrc, "copied in, then removed")
	assert.Equal(t, "ok", content(t, b.path(inputsDir, j2.ID)))

	// A symlink is not moved: that would move the link, not the file.
	dir := t.TempDir()
	file := filepath.Join(dir, "talk.mp4")
	require.NoError(t, os.WriteFile(file, []byte("ok"), 0o600))
	link := filepath.Join(dir, "link.mp4")
	require.NoError(t, os.Symlink(file, link))
	_, err = b.m.SubmitFile(ctx, link, Request{MoveInput: true})
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.FileExists(t, link)
	assert.Equal(t, "ok", content(t, file))

	b.fx.open()
	for _, id := range []string{running.ID, j.ID, j2.ID} {
		assert.Equal(t, StateSucceeded, b.wait(id).State)
	}
}

func hashFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestSubmitFileRealExtraction: a real video through the default extractor
// is byte for byte the same after submission, after the job and after
// Delete, linked or copied.
func TestSubmitFileRealExtraction(t *testing.T) {
	t.Parallel()
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 2})
	for _, c := range []struct {
		name string
		link linkFunc
	}{{"linked", os.Link}, {"copied", func(string, string) error { return syscall.EXDEV }}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, err := New(Config{Dir: t.TempDir(), Workers: 1})
			require.NoError(t, err)
			defer m.Close()
			m.link = c.link
			src := testmedia.Copy(t, video)
			want := hashFile(t, src)
			j, err := m.SubmitFile(context.Background(), src, Request{Options: extract.Options{Format: extract.WAV, Duration: time.Second}})
			require.NoError(t, err)
			assert.Equal(t, want, hashFile(t, src), "after submission")
			j = waitJob(t, m, j.ID)
			require.Equal(t, StateSucceeded, j.State, "%+v", j.Error)
			assert.InDelta(t, 1.0, testmedia.Decode(t, j.Result.Path).Seconds(), 0.01)
			assert.Equal(t, want, hashFile(t, src), "after the job")
			require.NoError(t, m.Delete(j.ID))
			assert.Equal(t, want, hashFile(t, src), "after Delete")
			assert.Equal(t, uint64(1), nlink(t, src))
		})
	}
}

// tree describes every file and directory under root, by relative path:
// kind and, for files, content hash.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	s := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			s[rel] = "dir"
			return nil
		}
		s[rel] = hashFile(t, p)
		return nil
	})
	require.NoError(t, err)
	return s
}

// TestDataDirClaim: New takes a new, empty or marked directory, and refuses
// a directory of other files without touching it, even when their names are
// the ones it sweeps (tmp/, inputs/, results/).
func TestDataDirClaim(t *testing.T) {
	t.Parallel()
	write := func(t *testing.T, p, s string) {
		t.Helper()
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
	}

	t.Run("a directory of other files is refused untouched", func(t *testing.T) {
		t.Parallel()
		for _, files := range [][]string{
			{"tmp/draft.txt", "inputs/talk.mp4", "results/2024/report.pdf", "notes.txt"},
			{"tmp/draft.txt"},
			{"photo.jpg"},
			{".bashrc", "src/main.go"},
		} {
			t.Run(strings.Join(files, ","), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				for _, f := range files {
					write(t, filepath.Join(dir, f), "mine: "+f)
				}
				before := tree(t, dir)
				_, err := New(Config{Dir: dir, Workers: 1})
				require.ErrorIs(t, err, ErrInvalidRequest)
				assert.Contains(t, err.Error(), "not an audex data directory")
				assert.Equal(t, before, tree(t, dir), "nothing created, changed or removed")
			})
		}
	})

	t.Run("a file is refused", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "file")
		write(t, p, "mine")
		_, err := New(Config{Dir: p, Workers: 1})
		require.ErrorIs(t, err, ErrInvalidRequest)
		assert.Equal(t, "mine", content(t, p))
	})

	for _, c := range []struct {
		name  string
		files []string
	}{
		{"new", nil},
		{"empty", []string{}},
		{"dotfiles and lost+found only", []string{".bashrc", ".profile", "lost+found/x"}},
	} {
		t.Run(c.name+" is taken and marked", func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if c.files == nil {
				dir = filepath.Join(dir, "data", "dir")
			}
			for _, f := range c.files {
				write(t, filepath.Join(dir, f), "mine: "+f)
			}
			m, err := New(Config{Dir: dir, Workers: 1})
			require.NoError(t, err)
			assert.Equal(t, dir, m.Dir())
			require.NoError(t, m.Close())
			assert.FileExists(t, filepath.Join(dir, markerFile))
			for _, f := range c.files {
				assert.Equal(t, "mine: "+f, content(t, filepath.Join(dir, f)))
			}
			// Marked, it is taken again, now that it holds the manager's files.
			m, err = New(Config{Dir: dir, Workers: 1})
			require.NoError(t, err)
			require.NoError(t, m.Close())
		})
	}

	t.Run("a data directory from before the marker is taken", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		m, err := New(Config{Dir: dir, Workers: 1})
		require.NoError(t, err)
		require.NoError(t, m.Close())
		require.NoError(t, os.Remove(filepath.Join(dir, markerFile)))
		orphan := filepath.Join(dir, tmpDir, newID()+tmpUpload)
		write(t, orphan, "partial upload")
		write(t, filepath.Join(dir, "uploads", "upload-1"), "the HTTP layer's")
		m, err = New(Config{Dir: dir, Workers: 1})
		require.NoError(t, err)
		require.NoError(t, m.Close())
		assert.FileExists(t, filepath.Join(dir, markerFile))
		assert.NoFileExists(t, orphan, "its own orphans are still swept")
	})

	t.Run("a jobs.db that is not a store is not marked", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, filepath.Join(dir, storeFile), strings.Repeat("not bbolt ", 1000))
		_, err := New(Config{Dir: dir, Workers: 1})
		require.Error(t, err)
		assert.NoFileExists(t, filepath.Join(dir, markerFile))
	})
}
