// Package blobtest is the conformance suite of jobs.Blobs: every
// implementation (the disk's, S3's) runs the same tests, so that the job
// manager cannot tell them apart.
//
//	func TestBlobs(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) jobs.Blobs { return newStore(t) })
//	}
package blobtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/jobs"
)

// Run runs the suite. open returns a new, empty store for one subtest.
func Run(t *testing.T, open func(t *testing.T) jobs.Blobs) {
	ctx := context.Background()
	file := func(t *testing.T, content string) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "src")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	read := func(t *testing.T, b jobs.Blobs, key string) string {
		t.Helper()
		r, err := b.Open(ctx, key)
		require.NoError(t, err)
		defer r.Close()
		data, err := io.ReadAll(r)
		require.NoError(t, err)
		return string(data)
	}
	keys := func(infos []jobs.BlobInfo) []string {
		var ks []string
		for _, i := range infos {
			ks = append(ks, i.Key)
		}
		slices.Sort(ks)
		return ks
	}

	t.Run("PutOpenStat", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		src := file(t, "hello, blobs")
		require.NoError(t, b.Put(ctx, "inputs/abc", src))
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		assert.Equal(t, "hello, blobs", string(data), "Put leaves the source as it is")
		assert.Equal(t, "hello, blobs", read(t, b, "inputs/abc"))

		st, err := b.Stat(ctx, "inputs/abc")
		require.NoError(t, err)
		assert.Equal(t, "inputs/abc", st.Key)
		assert.Equal(t, int64(12), st.Size)
		assert.NotEmpty(t, st.ETag)
		assert.False(t, st.ModTime.IsZero())

		r, err := b.Open(ctx, "inputs/abc")
		require.NoError(t, err)
		defer r.Close()
		assert.Equal(t, st.Size, r.Info().Size)
		assert.Equal(t, st.ETag, r.Info().ETag)
		assert.Equal(t, "inputs/abc", r.Info().Key)
	})

	t.Run("Seek", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		content := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB: more than one read
		src := filepath.Join(t.TempDir(), "src")
		require.NoError(t, os.WriteFile(src, content, 0o600))
		require.NoError(t, b.Put(ctx, "results/id/audio.mp3", src))
		r, err := b.Open(ctx, "results/id/audio.mp3")
		require.NoError(t, err)
		defer r.Close()

		// As http.ServeContent does: the size, back to the start, a range.
		end, err := r.Seek(0, io.SeekEnd)
		require.NoError(t, err)
		assert.Equal(t, int64(len(content)), end)
		for _, c := range []struct{ off, n int64 }{{0, 10}, {123_457, 1000}, {999_990, 10}, {500_000, 300_000}, {5, 1}} {
			pos, err := r.Seek(c.off, io.SeekStart)
			require.NoError(t, err)
			require.Equal(t, c.off, pos)
			got := make([]byte, c.n)
			_, err = io.ReadFull(r, got)
			require.NoError(t, err)
			assert.Equal(t, content[c.off:c.off+c.n], got, "at %d", c.off)
		}
		// A relative seek (from 6, after the last read), and reading on to
		// the end.
		pos, err := r.Seek(4, io.SeekCurrent)
		require.NoError(t, err)
		assert.Equal(t, int64(10), pos)
		got := make([]byte, 5)
		_, err = io.ReadFull(r, got)
		require.NoError(t, err)
		assert.Equal(t, content[10:15], got)
		_, err = r.Seek(999_995, io.SeekStart)
		require.NoError(t, err)
		rest, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, content[999_995:], rest)
		n, err := r.Read(make([]byte, 1))
		assert.Equal(t, 0, n)
		assert.Equal(t, io.EOF, err)
		_, err = r.Seek(-1, io.SeekStart)
		assert.Error(t, err, "a negative position")
	})

	t.Run("Replace", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		require.NoError(t, b.Put(ctx, "inputs/x", file(t, "first")))
		first, err := b.Stat(ctx, "inputs/x")
		require.NoError(t, err)
		require.NoError(t, b.Put(ctx, "inputs/x", file(t, "the second")))
		second, err := b.Stat(ctx, "inputs/x")
		require.NoError(t, err)
		assert.Equal(t, "the second", read(t, b, "inputs/x"))
		assert.Equal(t, int64(10), second.Size)
		assert.NotEqual(t, first.ETag, second.ETag)
	})

	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		_, err := b.Open(ctx, "inputs/none")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		_, err = b.Stat(ctx, "inputs/none")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.NoError(t, b.Delete(ctx, "inputs/none"), "deleting a missing blob is not an error")
		err = b.Put(ctx, "inputs/y", filepath.Join(t.TempDir(), "no-such-file"))
		assert.Error(t, err)
		_, err = b.Stat(ctx, "inputs/y")
		assert.ErrorIs(t, err, fs.ErrNotExist, "a failed Put stores nothing")
		ls, err := b.List(ctx, "")
		require.NoError(t, err)
		assert.Empty(t, ls)
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		require.NoError(t, b.Put(ctx, "results/id/audio.wav", file(t, "wav")))
		require.NoError(t, b.Put(ctx, "inputs/id", file(t, "in")))
		require.NoError(t, b.Delete(ctx, "results/id/audio.wav"))
		_, err := b.Stat(ctx, "results/id/audio.wav")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Equal(t, "in", read(t, b, "inputs/id"), "only that blob went")
		ls, err := b.List(ctx, "")
		require.NoError(t, err)
		assert.Equal(t, []string{"inputs/id"}, keys(ls))
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		for _, k := range []string{"inputs/a", "inputs/ab", "results/a/audio.mp3", "results/ab/audio.wav"} {
			require.NoError(t, b.Put(ctx, k, file(t, k)))
		}
		for prefix, want := range map[string][]string{
			"":            {"inputs/a", "inputs/ab", "results/a/audio.mp3", "results/ab/audio.wav"},
			"inputs/":     {"inputs/a", "inputs/ab"},
			"inputs/a":    {"inputs/a", "inputs/ab"},
			"results/a/":  {"results/a/audio.mp3"},
			"results/ab/": {"results/ab/audio.wav"},
			"results/c/":  nil,
			"nothing/":    nil,
		} {
			ls, err := b.List(ctx, prefix)
			require.NoError(t, err)
			assert.Equal(t, want, keys(ls), "prefix %q", prefix)
			for _, i := range ls {
				assert.Equal(t, int64(len(i.Key)), i.Size, i.Key)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		b := open(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				k := fmt.Sprintf("inputs/c%d", i)
				assert.NoError(t, b.Put(ctx, k, file(t, k)))
				assert.Equal(t, k, read(t, b, k))
			})
		}
		wg.Wait()
		ls, err := b.List(ctx, "inputs/")
		require.NoError(t, err)
		assert.Len(t, ls, 8)
	})
}
