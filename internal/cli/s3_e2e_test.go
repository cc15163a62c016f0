package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/s3blobs"
	"github.com/audex/audex/internal/testmedia"
	"github.com/audex/audex/internal/testsvc"
)

// TestBinaryServeS3: the real `audex serve` with its blobs in S3
// (AUDEX_BLOBS, credentials in AWS_*; versitygw on loopback) runs a
// submission end to end: the result is in the bucket, downloads through
// the server (with --presign-results, a redirect to a presigned URL of the
// bucket, which the client follows), and nothing but the job store and
// empty working directories is in --data-dir.
func TestBinaryServeS3(t *testing.T) {
	t.Parallel()
	s3srv := testsvc.StartS3(t)
	blobsURL := s3srv.URL(s3srv.NewBucket(t), "prod")
	src := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 3})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")

	srvEnv := []string{"AUDEX_BLOBS=" + blobsURL}
	for k, v := range s3srv.Env() {
		srvEnv = append(srvEnv, k+"="+v)
	}
	srv := serveEnv(t, data, srvEnv, "--workers", "1", "--presign-results", "5m")
	env := []string{"AUDEX_SERVER=" + srv.url, "AUDEX_TOKEN=s3cret"}

	r := audex(t, env, "submit", src, "--start", "0.5", "--duration", "1.5", "--format", "flac", "--persistent")
	require.Equal(t, 0, r.code, r.stderr)
	id := strings.TrimSpace(r.stdout)
	r = audex(t, env, "status", id, "--wait")
	require.Equal(t, 0, r.code, r.stderr)
	out := filepath.Join(dir, "clip.flac")
	r = audex(t, env, "fetch", id, "-o", out)
	require.Equal(t, 0, r.code, r.stderr)
	assertSeconds(t, 1.5, testmedia.Decode(t, out))
	assert.Regexp(t, `"path":"/results/`+id+`/[^"]*","status":307`, srv.logText(), "the download was redirected")

	s3env := s3srv.Env()
	blobs, err := s3blobs.New(blobsURL, func(k string) string { return s3env[k] })
	require.NoError(t, err)
	ls, err := blobs.List(t.Context(), "")
	require.NoError(t, err)
	require.Len(t, ls, 1, "%v", ls)
	assert.Equal(t, "results/"+id+"/audio.flac", ls[0].Key)
	fi, err := os.Stat(out)
	require.NoError(t, err)
	assert.Equal(t, fi.Size(), ls[0].Size)
	for _, sub := range []string{"inputs", "results", "tmp"} {
		assert.Empty(t, dirNames(t, filepath.Join(data, sub)), "%s: the blobs are in the bucket", sub)
	}

	srv.stop(t)
}
