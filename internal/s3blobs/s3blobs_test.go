package s3blobs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestPresign: a presigned URL reads the blob over plain HTTP, ranges
// included, with the headers asked for, and stops working once its
// lifetime has passed; lifetimes S3 cannot sign are refused.
func TestPresign(t *testing.T) {
	t.Parallel()
	srv := testsvc.StartS3(t)
	env := srv.Env()
	b, err := New(srv.URL(srv.NewBucket(t), "p"), func(k string) string { return env[k] })
	require.NoError(t, err)
	content := make([]byte, 100_000)
	for i := range content {
		content[i] = byte(i*13 + i/256)
	}
	src := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(src, content, 0o600))
	ctx := t.Context()
	require.NoError(t, b.Put(ctx, "results/j/audio.mp3", src))
	blob, err := b.Open(ctx, "results/j/audio.mp3")
	require.NoError(t, err)
	defer blob.Close()
	p, ok := blob.(jobs.Presigner)
	require.True(t, ok, "an S3 blob presigns")

	h := jobs.PresignHeaders{ContentType: "audio/mpeg", ContentDisposition: `attachment; filename="talk.mp3"`, CacheControl: "private, no-transform"}
	link, err := p.Presign(ctx, time.Minute, h)
	require.NoError(t, err)
	get := func(link, rng string) (*http.Response, []byte) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
		require.NoError(t, err)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}
	resp, body := get(link, "")
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Equal(t, content, body)
	assert.Equal(t, h.ContentType, resp.Header.Get("Content-Type"))
	assert.Equal(t, h.ContentDisposition, resp.Header.Get("Content-Disposition"))
	assert.Equal(t, h.CacheControl, resp.Header.Get("Cache-Control"))
	resp, body = get(link, "bytes=4000-70123")
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, content[4000:70124], body)
	assert.Equal(t, "bytes 4000-70123/100000", resp.Header.Get("Content-Range"))

	// A lifetime of one second: the URL soon answers 403 and no byte.
	short, err := p.Presign(ctx, 1500*time.Millisecond, h)
	require.NoError(t, err)
	assert.Contains(t, short, "X-Amz-Expires=1&", "rounded down to whole seconds")
	require.Eventually(t, func() bool {
		resp, body := get(short, "")
		if resp.StatusCode == http.StatusOK {
			return false
		}
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.NotContains(t, string(body), string(content[:64]))
		return true
	}, 30*time.Second, 100*time.Millisecond)

	for _, bad := range []time.Duration{0, 999 * time.Millisecond, MaxPresign + time.Second} {
		_, err := p.Presign(ctx, bad, h)
		assert.Error(t, err, bad)
	}
	_, err = p.Presign(ctx, MaxPresign, h)
	assert.NoError(t, err)
}
