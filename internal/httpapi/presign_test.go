package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getPresigned reads a presigned URL as any HTTP client would, the S3
// server answering.
func getPresigned(t *testing.T, link, rng string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, link, nil)
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

// TestS3PresignedRedirect: with PresignResults and blobs in S3, a result
// link's GET answers 307 to a presigned URL of the bucket that serves the
// exact bytes, ranges included, with the link's headers; the status
// answer's link keeps its shape, and a client that follows redirects (as
// strict clients of the hosted API do) just gets the file. HEAD and
// conditional requests are answered by the server. The URL lasts
// PresignResults, never past the result's expiry, and then S3 refuses it;
// an expired result gets 410 and no redirect; a persistent result's link
// gives a fresh URL on every request.
func TestS3PresignedRedirect(t *testing.T) {
	t.Parallel()
	b := newS3Bundle(t, &bundleOpts{workers: 1, mutate: func(c *Config) { c.PresignResults = 10 * time.Minute }})
	id := b.jobID(b.submitFile(tokenA, []byte("v"), "talk.mp4", map[string]string{"output_format": "wav"}, ""))
	st := b.waitStatus(tokenA, id)
	require.Equal(t, statusSuccessful, st["status"])
	link := st["url"].(string)
	u, err := url.Parse(link)
	require.NoError(t, err)
	assert.Equal(t, b.url(resultPath(id, "talk.wav")), u.Scheme+"://"+u.Host+u.Path, "the link is audex's, as without presigning")
	assert.NotEmpty(t, u.Query().Get("exp"))
	assert.NotEmpty(t, u.Query().Get("sig"))

	noFollow := b.noRedirects()
	r := b.doWith(noFollow, b.newRequest(http.MethodGet, link, nil, ""))
	require.Equal(t, http.StatusTemporaryRedirect, r.StatusCode, "%s", r.body)
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	loc := r.Header.Get("Location")
	s3URL, err := url.Parse(loc)
	require.NoError(t, err)
	srvURL, err := url.Parse(b.srv.Endpoint)
	require.NoError(t, err)
	assert.Equal(t, srvURL.Host, s3URL.Host, "the bucket answers")
	assert.Equal(t, "600", s3URL.Query().Get("X-Amz-Expires"), "PresignResults, well before the result expires")

	for _, rng := range [][2]int{{0, payloadSize - 1}, {100, 199}, {payloadSize - 10, payloadSize - 1}} {
		resp, body := getPresigned(t, loc, fmt.Sprintf("bytes=%d-%d", rng[0], rng[1]))
		assert.Equal(t, http.StatusPartialContent, resp.StatusCode, "%s", body)
		assert.Equal(t, payload()[rng[0]:rng[1]+1], body)
		assert.Equal(t, fmt.Sprintf("bytes %d-%d/%d", rng[0], rng[1], payloadSize), resp.Header.Get("Content-Range"))
	}
	// The headers are the server's own (HEAD, below, answers them).
	resp, body := getPresigned(t, loc, "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, payload(), body)
	presigned := resp.Header

	// A client that follows redirects, as Go's, curl -L and browsers do.
	follow := b.do(b.newRequest(http.MethodGet, link, nil, ""))
	assert.Equal(t, http.StatusOK, follow.StatusCode)
	assert.Equal(t, payload(), follow.body)
	rngReq := b.newRequest(http.MethodGet, link, nil, "")
	rngReq.Header.Set("Range", "bytes=4096-8191")
	part := b.do(rngReq)
	assert.Equal(t, http.StatusPartialContent, part.StatusCode)
	assert.Equal(t, payload()[4096:8192], part.body)

	// HEAD and conditional requests stay with the server and its ETag.
	head := b.doWith(noFollow, b.newRequest(http.MethodHead, link, nil, ""))
	assert.Equal(t, http.StatusOK, head.StatusCode)
	assert.Empty(t, head.Header.Get("Location"))
	for _, k := range []string{"Content-Type", "Content-Disposition", "Cache-Control"} {
		assert.Equal(t, head.Header.Get(k), presigned.Get(k), k)
	}
	assert.Equal(t, "audio/wav", presigned.Get("Content-Type"))
	etag := head.Header.Get("ETag")
	assert.Equal(t, `"`+id+"-"+"7ps"+`"`, etag, "id and size (10000 in base 36)")
	cond := b.newRequest(http.MethodGet, link, nil, "")
	cond.Header.Set("If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, b.doWith(noFollow, cond).StatusCode)
	assert.Contains(t, string(b.do(b.newRequest(http.MethodGet, "/metrics", nil, "")).body), "audex_result_redirects_total 3")

	// Near the result's expiry the URL lasts only what is left of it, and
	// S3 refuses it afterwards.
	b.clock.Advance(15*time.Minute - 2*time.Second)
	r = b.doWith(noFollow, b.newRequest(http.MethodGet, link, nil, ""))
	require.Equal(t, http.StatusTemporaryRedirect, r.StatusCode)
	short := r.Header.Get("Location")
	short2, err := url.Parse(short)
	require.NoError(t, err)
	assert.Equal(t, "2", short2.Query().Get("X-Amz-Expires"))
	require.Eventually(t, func() bool {
		resp, body := getPresigned(t, short, "")
		if resp.StatusCode == http.StatusOK {
			return false
		}
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.NotEqual(t, payload(), body)
		return true
	}, 30*time.Second, 100*time.Millisecond, "S3 refuses the URL once its lifetime is over")
	// Under a second left: streamed, not a URL that would outlive the result.
	b.clock.Advance(1500 * time.Millisecond)
	r = b.doWith(noFollow, b.newRequest(http.MethodGet, link, nil, ""))
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, payload(), r.body)

	// Expired: 410 before any redirect.
	b.clock.Advance(time.Second)
	r = b.doWith(noFollow, b.newRequest(http.MethodGet, link, nil, ""))
	assert.Equal(t, http.StatusGone, r.StatusCode)
	assert.Empty(t, r.Header.Get("Location"))

	// A persistent result: a link with no expiry, a URL of PresignResults
	// at every request, signed anew (the clock moved on).
	kept := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, "persistent=true"))
	keptLink := b.waitStatus(tokenA, kept)["url"].(string)
	assert.NotContains(t, keptLink, "exp=")
	first := b.doWith(noFollow, b.newRequest(http.MethodGet, keptLink, nil, ""))
	require.Equal(t, http.StatusTemporaryRedirect, first.StatusCode)
	assert.Contains(t, first.Header.Get("Location"), "X-Amz-Expires=600&")
	require.Eventually(t, func() bool {
		again := b.doWith(noFollow, b.newRequest(http.MethodGet, keptLink, nil, ""))
		return again.StatusCode == http.StatusTemporaryRedirect && again.Header.Get("Location") != first.Header.Get("Location")
	}, 30*time.Second, 200*time.Millisecond, "a new URL once the second has changed")
	resp, body = getPresigned(t, first.Header.Get("Location"), "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, payload(), body)
	// Deleted: 404, no redirect.
	assert.Equal(t, http.StatusNoContent, b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+kept, nil, tokenA)).StatusCode)
	gone := b.doWith(noFollow, b.newRequest(http.MethodGet, keptLink, nil, ""))
	assert.Equal(t, http.StatusNotFound, gone.StatusCode)
	assert.Empty(t, gone.Header.Get("Location"))
}

// TestPresignOnDiskStreams: results on the data directory's disk cannot be
// presigned, so PresignResults changes nothing: the link streams them.
func TestPresignOnDiskStreams(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{mutate: func(c *Config) { c.PresignResults = time.Minute }})
	id := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
	link := b.waitStatus(tokenA, id)["url"].(string)
	r := b.doWith(b.noRedirects(), b.newRequest(http.MethodGet, link, nil, ""))
	assert.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, payload(), r.body)
	assert.True(t, strings.HasPrefix(r.Header.Get("ETag"), `"`+id+"-"))
	assert.Contains(t, string(b.do(b.newRequest(http.MethodGet, "/metrics", nil, "")).body), "audex_result_redirects_total 0")
}
