package s3blobs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testsvc"
	"github.com/audex/audex/jobs"
	"github.com/audex/audex/jobs/blobtest"
)

// TestS3Blobs runs the blob conformance suite on a real S3 server
// (versitygw on loopback), each subtest under a prefix of its own in a
// bucket of its own.
func TestS3Blobs(t *testing.T) {
	srv := testsvc.StartS3(t)
	env := srv.Env()
	blobtest.Run(t, func(t *testing.T) jobs.Blobs {
		b, err := New(srv.URL(srv.NewBucket(t), "some/prefix"), func(k string) string { return env[k] })
		require.NoError(t, err)
		return b
	})
}

// TestS3BlobsSmallWindow runs the suite with readers that fetch 4 KiB per
// GET, so that reads and seeks cross the windows' edges.
func TestS3BlobsSmallWindow(t *testing.T) {
	srv := testsvc.StartS3(t)
	env := srv.Env()
	blobtest.Run(t, func(t *testing.T) jobs.Blobs {
		b, err := New(srv.URL(srv.NewBucket(t), ""), func(k string) string { return env[k] })
		require.NoError(t, err)
		b.(*store).window = 4096
		return b
	})
}

// TestS3Unavailable: with the server gone, every call fails with
// jobs.ErrUnavailable, never as a missing key.
func TestS3Unavailable(t *testing.T) {
	srv := testsvc.StartS3(t)
	env := srv.Env()
	b, err := New(srv.URL(srv.NewBucket(t), ""), func(k string) string { return env[k] })
	require.NoError(t, err)
	src := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(src, []byte("data"), 0o600))
	require.NoError(t, b.Put(context.Background(), "inputs/a", src))
	srv.Stop()
	ctx := context.Background()
	_, err = b.Stat(ctx, "inputs/a")
	assert.ErrorIs(t, err, jobs.ErrUnavailable)
	assert.NotErrorIs(t, err, fs.ErrNotExist)
	assert.ErrorIs(t, b.Put(ctx, "inputs/b", src), jobs.ErrUnavailable)
	_, err = b.List(ctx, "")
	assert.ErrorIs(t, err, jobs.ErrUnavailable)
	assert.ErrorIs(t, b.Delete(ctx, "inputs/a"), jobs.ErrUnavailable)
	_, err = b.Open(ctx, "inputs/a")
	assert.True(t, errors.Is(err, jobs.ErrUnavailable))
}

func TestNewURL(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
	getenv := func(k string) string { return env[k] }
	for _, ok := range []string{"s3://b", "s3://b/p", "s3://b/p/q/?region=eu-west-1", "s3://b?endpoint=http://127.0.0.1:9000"} {
		_, err := New(ok, getenv)
		assert.NoError(t, err, ok)
	}
	for _, bad := range []string{"", "b", "http://b", "s3://", "s3://b?endpoint=ftp://x", "s3://b?endpoint=http://", "s3://b?color=red", "s3://u:p@b"} {
		_, err := New(bad, getenv)
		assert.Error(t, err, bad)
	}
	_, err := New("s3://b", func(string) string { return "" })
	assert.ErrorContains(t, err, "AWS_ACCESS_KEY_ID")
	s, err := New("s3://b/one/two/", getenv)
	require.NoError(t, err)
	assert.Equal(t, "one/two/", s.(*store).prefix)
}
