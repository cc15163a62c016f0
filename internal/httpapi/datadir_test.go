package httpapi

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/audex/audex/jobs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// userDir is a directory of someone's files, among them names the service
// sweeps (uploads/upload-*, tmp/), and a listing of everything in it.
func userDir(t *testing.T) (string, func() map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"uploads/upload-holiday.mp4", "tmp/draft.txt", "notes.txt"} {
		p := filepath.Join(dir, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("mine: "+f), 0o644))
	}
	list := func() map[string]string {
		s := map[string]string{}
		require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			s[p] = string(b)
			return err
		}))
		return s
	}
	return dir, list
}

// TestDataDirOfOtherFiles: neither New nor Serve creates or removes
// anything in a DataDir that is not the job manager's own.
func TestDataDirOfOtherFiles(t *testing.T) {
	t.Parallel()
	creds := []Credential{{Owner: "alice", Token: tokenA}}

	t.Run("New with another manager's directory", func(t *testing.T) {
		t.Parallel()
		m, err := jobs.New(jobs.Config{Dir: t.TempDir(), Workers: 1})
		require.NoError(t, err)
		defer m.Close()
		dir, list := userDir(t)
		before := list()
		_, err = New(Config{DataDir: dir, Credentials: creds, Logger: slog.New(slog.DiscardHandler)}, m)
		require.ErrorIs(t, err, ErrDataDirMismatch)
		assert.Equal(t, before, list(), "no signing key written, no upload removed")
	})

	t.Run("New with the manager's directory through another name", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		m, err := jobs.New(jobs.Config{Dir: filepath.Join(dir, "data"), Workers: 1})
		require.NoError(t, err)
		defer m.Close()
		link := filepath.Join(dir, "link")
		require.NoError(t, os.Symlink("data", link))
		_, err = New(Config{DataDir: link, Credentials: creds, Logger: slog.New(slog.DiscardHandler)}, m)
		require.NoError(t, err)
	})

	t.Run("Serve on a directory of other files", func(t *testing.T) {
		t.Parallel()
		dir, list := userDir(t)
		before := list()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		err = Serve(context.Background(), ln, Config{DataDir: dir, Credentials: creds, Logger: slog.New(slog.DiscardHandler)})
		require.ErrorIs(t, err, jobs.ErrInvalidRequest)
		assert.Equal(t, before, list())
	})
}
