package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/s3blobs"
	"github.com/audex/audex/internal/testsvc"
	"github.com/audex/audex/jobs"
)

// s3Bundle is a bundle whose inputs and results live in a bucket of a real
// S3 server (versitygw on loopback) of its own.
type s3Bundle struct {
	*bundle
	srv   *testsvc.S3
	blobs jobs.Blobs
}

func newS3Bundle(t *testing.T, o *bundleOpts) *s3Bundle {
	t.Helper()
	srv, blobs := newS3Blobs(t)
	if o == nil {
		o = &bundleOpts{}
	}
	o.blobs = blobs
	return &s3Bundle{bundle: newBundle(t, o), srv: srv, blobs: blobs}
}

// newS3Blobs starts an S3 server for t and returns Blobs on a new bucket.
func newS3Blobs(t *testing.T) (*testsvc.S3, jobs.Blobs) {
	t.Helper()
	srv := testsvc.StartS3(t)
	env := srv.Env()
	blobs, err := s3blobs.New(srv.URL(srv.NewBucket(t), "audex"), func(k string) string { return env[k] })
	require.NoError(t, err)
	return srv, blobs
}

// forEachBlobs runs fn, in parallel, on the data directory's disk and on
// an S3 bucket: the tests of downloads, expiry and deletion hold for both.
func forEachBlobs(t *testing.T, fn func(t *testing.T, o *bundleOpts)) {
	t.Parallel()
	t.Run("disk", func(t *testing.T) {
		t.Parallel()
		fn(t, &bundleOpts{})
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		_, blobs := newS3Blobs(t)
		fn(t, &bundleOpts{blobs: blobs})
	})
}

// objects lists the keys in the bucket, as S3 answers.
func (b *s3Bundle) objects() []string {
	b.t.Helper()
	ls, err := b.blobs.List(b.t.Context(), "")
	require.NoError(b.t, err)
	var ks []string
	for _, l := range ls {
		ks = append(ks, l.Key)
	}
	slices.Sort(ks)
	return ks
}

// tmpFiles lists the manager's temporary files.
func (b *s3Bundle) tmpFiles() []string {
	m, _ := filepath.Glob(filepath.Join(b.cfg.DataDir, "tmp", "*"))
	return m
}

// TestS3SubmitPollDownload is the HTTP API with its blobs in S3: a
// submission's input is in the bucket once accepted, the result replaces
// it once the job succeeded, the signed link serves ranges of it, and
// expiry and DELETE leave no object behind.
func TestS3SubmitPollDownload(t *testing.T) {
	t.Parallel()
	b := newS3Bundle(t, &bundleOpts{workers: 1, sweep: time.Millisecond})

	// Held by the extractor: only its input is in the bucket.
	held := b.jobID(b.submitFile(tokenA, []byte("HOLD this video"), "clip.mp4", map[string]string{"output_format": "wav"}, ""))
	assert.Equal(t, []string{"inputs/" + held}, b.objects())
	close(b.fake.hold)
	st := b.waitStatus(tokenA, held)
	b.fake.hold = make(chan struct{}) // the bundle's cleanup closes it again
	require.Equal(t, statusSuccessful, st["status"], "%v", st)
	assert.Equal(t, []string{"results/" + held + "/audio.wav"}, b.objects(), "the input went once the job was final")
	assert.Empty(t, b.uploads())

	// Downloads through the signed link (TestSubmitFilePollDownload/s3 has
	// the headers): ranges anywhere in the object.
	link := st["url"].(string)
	for _, r := range [][2]int{{100, 199}, {0, 0}, {payloadSize - 10, payloadSize - 1}, {4096, 8191}} {
		rng := b.newRequest(http.MethodGet, link, nil, "")
		rng.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		part := b.do(rng)
		assert.Equal(t, http.StatusPartialContent, part.StatusCode)
		assert.Equal(t, payload()[r[0]:r[1]+1], part.body)
		assert.Equal(t, fmt.Sprintf("bytes %d-%d/%d", r[0], r[1], payloadSize), part.Header.Get("Content-Range"))
	}

	// A persistent job, deleted: its objects go at once.
	kept := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, "persistent=true"))
	keptLink := b.waitStatus(tokenA, kept)["url"].(string)
	assert.ElementsMatch(t, []string{"results/" + held + "/audio.wav", "results/" + kept + "/audio.mp3"}, b.objects())
	assert.Equal(t, http.StatusNoContent, b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+kept, nil, tokenA)).StatusCode)
	assert.Equal(t, []string{"results/" + held + "/audio.wav"}, b.objects())
	assert.Equal(t, http.StatusNotFound, b.do(b.newRequest(http.MethodGet, keptLink, nil, "")).StatusCode)

	// Past its retention the link answers 410, and the sweeper deletes the
	// object.
	b.clock.Advance(15*time.Minute + time.Second)
	r := b.do(b.newRequest(http.MethodGet, link, nil, ""))
	assert.Equal(t, http.StatusGone, r.StatusCode)
	assert.Equal(t, "expired", r.json(t)["code"])
	require.Eventually(t, func() bool { return len(b.objects()) == 0 }, 10*time.Second, 5*time.Millisecond, "the sweeper deletes expired results")
}

// TestS3Unavailable: with the S3 server gone, a submission answers 503
// with Retry-After and leaves nothing (no job, no upload, no temporary
// file), /readyz fails, and a result link answers 503, not 404.
func TestS3Unavailable(t *testing.T) {
	t.Parallel()
	b := newS3Bundle(t, &bundleOpts{workers: 1})
	id := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
	link := b.waitStatus(tokenA, id)["url"].(string)
	ready := func() int { return b.do(b.newRequest(http.MethodGet, "/readyz", nil, "")).StatusCode }
	require.Equal(t, http.StatusOK, ready())

	b.srv.Stop()
	before := b.jobCount()
	r := b.submitFile(tokenA, payload(), "b.mp4", nil, "")
	assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode, "%s", r.body)
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
	assert.Equal(t, "unavailable", r.json(t)["code"])
	assert.Equal(t, before, b.jobCount(), "nothing acknowledged")
	assert.Empty(t, b.uploads(), "no upload kept")
	assert.Empty(t, b.tmpFiles(), "no temporary file kept")
	assert.Equal(t, http.StatusServiceUnavailable, ready(), "not ready without the blobs")
	dl := b.do(b.newRequest(http.MethodGet, link, nil, ""))
	assert.Equal(t, http.StatusServiceUnavailable, dl.StatusCode, "%s", dl.body)
	assert.Equal(t, http.StatusOK, b.status(tokenA, id).StatusCode, "stored jobs stay readable")
}

// BenchmarkBlobsPerJob measures what the blobs cost a job over loopback,
// the extraction being the fake's: submit a 64 KiB input, wait for the
// job, download the result, on the data directory's disk and on S3
// (versitygw).
//
//	internal/ffmpeg/with-env go test -run '^$' -bench BlobsPerJob -benchtime 200x ./internal/httpapi
func BenchmarkBlobsPerJob(b *testing.B) {
	input := bytes.Repeat([]byte("v"), 64<<10)
	run := func(b *testing.B, o *bundleOpts) {
		o.realClock = true
		bd := newBundle(b, o)
		for b.Loop() {
			id := bd.jobID(bd.submitFile(tokenA, input, "clip.mp4", nil, ""))
			st := bd.waitStatus(tokenA, id)
			r := bd.do(bd.newRequest(http.MethodGet, st["url"].(string), nil, ""))
			require.Equal(b, http.StatusOK, r.StatusCode)
		}
	}
	b.Run("disk", func(b *testing.B) { run(b, &bundleOpts{workers: 1}) })
	b.Run("s3", func(b *testing.B) {
		srv := testsvc.StartS3(b)
		env := srv.Env()
		blobs, err := s3blobs.New(srv.URL(srv.NewBucket(b), "bench"), func(k string) string { return env[k] })
		require.NoError(b, err)
		run(b, &bundleOpts{workers: 1, blobs: blobs})
	})
}
