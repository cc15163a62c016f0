package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/jobs"
)

// TestSubmitFilePollDownload runs on the disk and on S3 (see forEachBlobs).
func TestSubmitFilePollDownload(t *testing.T) {
	forEachBlobs(t, func(t *testing.T, o *bundleOpts) {
		b := newBundle(t, o)
		r := b.submitFile(tokenA, []byte("a video"), "Holiday été.mp4", map[string]string{
			"start_time": "1.5", "duration": "00:00:03.250", "output_format": "wav", "channels": "1",
		}, "")
		id := b.jobID(r)
		st := b.waitStatus(tokenA, id)
		assert.Equal(t, id, st["job_id"])
		assert.Equal(t, statusSuccessful, st["status"])
		assert.NotContains(t, st, "message")
		assert.Equal(t, "succeeded", st["state"])
		assert.Equal(t, 100.0, st["progress"])
		assert.Contains(t, st, "expires_at")
		meta := st["metadata"].(map[string]any)
		assert.Equal(t, "Holiday été.mp4", meta["input_name"])
		assert.Equal(t, 7.0, meta["input_bytes"])
		req := meta["request"].(map[string]any)
		assert.Equal(t, 1.5, req["start_time"])
		assert.Equal(t, 3.25, req["duration"])
		assert.Equal(t, "wav", req["output_format"])
		assert.Equal(t, 1.0, req["channels"])
		out := meta["output"].(map[string]any)
		assert.Equal(t, 3.25, out["duration"])
		assert.Equal(t, float64(payloadSize), out["bytes"])
		assert.Equal(t, "aac", meta["input"].(map[string]any)["codec"])

		link, _ := st["url"].(string)
		require.True(t, strings.HasPrefix(link, b.ts.URL+"/results/"+id+"/Holiday_t.wav?"), link)
		// The link is a capability: no credentials needed.
		dl := b.do(b.newRequest(http.MethodGet, link, nil, ""))
		require.Equal(t, http.StatusOK, dl.StatusCode, "%s", dl.body)
		assert.Equal(t, payload(), dl.body)
		assert.Equal(t, "audio/wav", dl.Header.Get("Content-Type"))
		assert.Equal(t, `attachment; filename="Holiday_t.wav"; filename*=UTF-8''Holiday%20%C3%A9t%C3%A9.wav`, dl.Header.Get("Content-Disposition"))
		assert.Equal(t, "bytes", dl.Header.Get("Accept-Ranges"))
		etag := dl.Header.Get("ETag")
		require.NotEmpty(t, etag)

		head := b.do(b.newRequest(http.MethodHead, link, nil, ""))
		assert.Equal(t, http.StatusOK, head.StatusCode)
		assert.Empty(t, head.body)
		assert.Equal(t, fmt.Sprint(payloadSize), head.Header.Get("Content-Length"))
		assert.Equal(t, etag, head.Header.Get("ETag"))

		rng := b.newRequest(http.MethodGet, link, nil, "")
		rng.Header.Set("Range", "bytes=100-199")
		part := b.do(rng)
		assert.Equal(t, http.StatusPartialContent, part.StatusCode)
		assert.Equal(t, payload()[100:200], part.body)
		assert.Equal(t, fmt.Sprintf("bytes 100-199/%d", payloadSize), part.Header.Get("Content-Range"))

		rng = b.newRequest(http.MethodGet, link, nil, "")
		rng.Header.Set("Range", fmt.Sprintf("bytes=%d-", payloadSize+5))
		assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, b.do(rng).StatusCode)

		cond := b.newRequest(http.MethodGet, link, nil, "")
		cond.Header.Set("If-None-Match", etag)
		assert.Equal(t, http.StatusNotModified, b.do(cond).StatusCode)

		assert.Empty(t, b.uploads(), "the upload was handed to the job manager")
		logs := b.logText()
		assert.Contains(t, logs, `"job":"`+id+`"`)
		assert.NotContains(t, logs, "sig=", "links' signatures stay out of the logs")
	})
}

func TestSubmitFieldsBeforeVideoAndJSONURL(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	// Fields before the file part work as well as after it.
	var body bytes.Buffer
	body.WriteString("--XYZ\r\nContent-Disposition: form-data; name=\"full_audio\"\r\n\r\ntrue\r\n" +
		"--XYZ\r\nContent-Disposition: form-data; name=\"video\"; filename=\"../../etc/x.mp4\"\r\n\r\nvideo\r\n--XYZ--\r\n")
	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/file?persistent=true", &body, tokenA)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=XYZ")
	id := b.jobID(b.do(req))
	st := b.waitStatus(tokenA, id)
	assert.Equal(t, true, st["persistent"])
	assert.NotContains(t, st, "expires_at")
	assert.Equal(t, true, st["metadata"].(map[string]any)["request"].(map[string]any)["full_audio"])
	assert.NotContains(t, st["url"], "exp=", "a persistent link does not expire")
	assert.Contains(t, st["url"], "/x.mp3?")

	// A NUL in a part header is malformed MIME.
	body.WriteString("--XYZ\r\nContent-Disposition: form-data; name=\"video\"; filename=\"x\x00.mp4\"\r\n\r\nvideo\r\n--XYZ--\r\n")
	req = b.newRequest(http.MethodPost, "/job/extract/video/audio/file", &body, tokenA)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=XYZ")
	r := b.do(req)
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "bad_multipart", r.json(t)["code"])
	assert.Empty(t, b.uploads())
}

func TestSubmitURL(t *testing.T) {
	t.Parallel()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/huge.mp4" {
			w.Write(bytes.Repeat([]byte("v"), 2<<20))
			return
		}
		if r.URL.Path == "/missing.mp4" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("remote video bytes"))
	}))
	defer src.Close()
	b := newBundle(t, nil)

	id := b.jobID(b.submitURL(tokenA, src.URL+"/dir/clip.mov", map[string]string{"output_format": "ogg"}))
	st := b.waitStatus(tokenA, id)
	require.Equal(t, statusSuccessful, st["status"], "%v", st)
	meta := st["metadata"].(map[string]any)
	assert.Equal(t, float64(len("remote video bytes")), meta["input_bytes"])
	assert.Equal(t, src.URL+"/dir/clip.mov", meta["input_name"])
	assert.Contains(t, st["url"], "/clip.ogg?")

	// JSON body, with numbers and booleans.
	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/url", strings.NewReader(
		`{"video_url":"`+src.URL+`/missing.mp4","start_time":0.5,"full_audio":true}`), tokenA)
	req.Header.Set("Content-Type", "application/json")
	id = b.jobID(b.do(req))
	st = b.waitStatus(tokenA, id)
	assert.Equal(t, statusFailed, st["status"])
	assert.Equal(t, jobs.CodeFetchFailed, st["code"])
	assert.Contains(t, st["message"], "404")

	// Over MaxFetchBytes (1 MiB here).
	id = b.jobID(b.submitURL(tokenA, src.URL+"/huge.mp4", nil))
	st = b.waitStatus(tokenA, id)
	assert.Equal(t, statusFailed, st["status"])
	assert.Equal(t, jobs.CodeInputTooLarge, st["code"])

	// Bad URLs are refused at submission.
	for _, u := range []string{"ftp://example.com/x", "not a url", "http://user:pw@example.com/x", "file:///etc/passwd"} {
		r := b.submitURL(tokenA, u, nil)
		assert.Equal(t, http.StatusBadRequest, r.StatusCode, u)
		assert.Equal(t, "video_url", r.json(t)["fields"].([]any)[0].(map[string]any)["field"], u)
	}
	r := b.submitURL(tokenA, "", nil)
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "missing_video_url", r.json(t)["code"])
}

func TestSubmitURLRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	hits := 0
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer src.Close()
	b := newBundle(t, &bundleOpts{mutate: func(c *Config) { c.AllowPrivateFetch = false }})

	// An address literal is refused at once.
	r := b.submitURL(tokenA, src.URL+"/a.mp4", nil)
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Contains(t, r.json(t)["error"], "forbidden address")
	// A name is resolved when the job runs, and refused at dial time.
	port := src.Listener.Addr().String()[strings.LastIndexByte(src.Listener.Addr().String(), ':'):]
	id := b.jobID(b.submitURL(tokenA, "http://localhost"+port+"/a.mp4", nil))
	st := b.waitStatus(tokenA, id)
	assert.Equal(t, statusFailed, st["status"])
	assert.Equal(t, jobs.CodeFetchFailed, st["code"])
	assert.Contains(t, st["message"], "forbidden address")
	assert.Zero(t, hits)
}

func TestAuthFailuresAreIdentical(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	cases := []map[string]string{
		{},
		{"apy-token": "wrong"},
		{"apy-token": strings.Repeat("x", 10<<10)},
		{"apy-token": ""},
		{"Authorization": basic("alice", "wrong")},
		{"Authorization": "basic " + base64.StdEncoding.EncodeToString([]byte("alice:wrong"))},
		{"Authorization": "Bearer " + tokenA},
		{"Authorization": "Basic %%%"},
		{"Authorization": basic(tokenA, "")},
	}
	paths := []struct{ method, path string }{
		{http.MethodGet, "/job/extract/video/audio/status/AAAAAAAAAAAAAAAAAAAAAA"},
		{http.MethodPost, "/job/extract/video/audio/file"},
		{http.MethodPost, "/job/extract/video/audio/url"},
		{http.MethodDelete, "/job/extract/video/audio/AAAAAAAAAAAAAAAAAAAAAA"},
	}
	var first *response
	for _, p := range paths {
		for _, h := range cases {
			req := b.newRequest(p.method, p.path, nil, "")
			for k, v := range h {
				req.Header.Set(k, v)
			}
			r := b.do(req)
			require.Equal(t, http.StatusUnauthorized, r.StatusCode, "%v", h)
			if first == nil {
				first = r
				assert.Equal(t, `Basic realm="audex", charset="UTF-8"`, r.Header.Get("WWW-Authenticate"))
				assert.Equal(t, "unauthorized", r.json(t)["code"])
			}
			assert.Equal(t, string(first.body), string(r.body), "%v", h)
			assert.Equal(t, first.Header.Get("WWW-Authenticate"), r.Header.Get("WWW-Authenticate"))
		}
	}
	assert.Zero(t, b.jobCount())

	// Basic works, and is the same owner as alice's token.
	body, ct := multipartBody(t, []byte("v"), "v.mp4", nil)
	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/file", body, "")
	req.SetBasicAuth("alice", "pw")
	req.Header.Set("Content-Type", ct)
	id := b.jobID(b.do(req))
	assert.Equal(t, http.StatusOK, b.status(tokenA, id).StatusCode)
}

func TestJobsBelongToTheirCredential(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	id := b.jobID(b.submitFile(tokenA, []byte("v"), "v.mp4", nil, ""))
	b.waitStatus(tokenA, id)

	unknown := b.status(tokenB, "AAAAAAAAAAAAAAAAAAAAAA")
	require.Equal(t, http.StatusNotFound, unknown.StatusCode)
	assert.Equal(t, map[string]any{"error": "not found", "code": "not_found"}, unknown.json(t))
	for _, r := range []*response{
		b.status(tokenB, id),
		b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+id, nil, tokenB)),
		b.status(tokenB, "../../etc/passwd"),
		b.status(tokenB, "short"),
	} {
		assert.Equal(t, http.StatusNotFound, r.StatusCode)
		assert.Equal(t, unknown.body, r.body)
	}
	// Bob's DELETE did nothing.
	assert.Equal(t, statusSuccessful, b.status(tokenA, id).json(t)["status"])
}

func TestSubmitRejections(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	check := func(name string, r *response, status int, code string) {
		t.Helper()
		assert.Equal(t, status, r.StatusCode, "%s: %s", name, r.body)
		if code != "" {
			assert.Equal(t, code, r.json(t)["code"], name)
		}
	}
	check("missing video", b.submitFile(tokenA, nil, "", map[string]string{"duration": "2"}, ""), 400, "missing_video")
	check("empty video", b.submitFile(tokenA, []byte{}, "x.mp4", nil, ""), 400, "empty_input")
	for _, bad := range []map[string]string{
		{"start_time": "-1"}, {"start_time": "NaN"}, {"start_time": "Inf"}, {"start_time": "1e309"},
		{"start_time": "abc"}, {"start_time": ""}, {"duration": "0"}, {"sample_rate": "0"}, {"sample_rate": "7"},
		{"sample_rate": "1000000000"}, {"channels": "0"}, {"channels": "1000"}, {"output_format": "../../x"},
	} {
		r := b.submitFile(tokenA, []byte("v"), "x.mp4", bad, "")
		check(fmt.Sprint(bad), r, 400, "invalid_params")
		for k := range bad {
			assert.Equal(t, k, r.json(t)["fields"].([]any)[0].(map[string]any)["field"])
		}
	}
	check("bad persistent", b.submitFile(tokenA, []byte("v"), "x.mp4", nil, "persistent=maybe"), 400, "invalid_params")
	check("persistent twice", b.submitFile(tokenA, []byte("v"), "x.mp4", map[string]string{"persistent": "true"}, "persistent=true"), 400, "invalid_params")

	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/file", strings.NewReader("video=x"), tokenA)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	check("not multipart", b.do(req), 415, "unsupported_media_type")
	req = b.newRequest(http.MethodPost, "/job/extract/video/audio/file", strings.NewReader("x"), tokenA)
	req.Header.Set("Content-Type", "multipart/form-data")
	check("no boundary", b.do(req), 400, "bad_multipart")
	req = b.newRequest(http.MethodPost, "/job/extract/video/audio/file", strings.NewReader("--b\r\ngarbage"), tokenA)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
	check("malformed", b.do(req), 400, "bad_multipart")

	// Too large: declared, and streamed without a length.
	big := bytes.Repeat([]byte("v"), int(b.cfg.MaxUploadBytes)+1)
	check("too large", b.submitFile(tokenA, big, "x.mp4", nil, ""), 413, "too_large")
	body, ct := multipartBody(t, big, "x.mp4", nil)
	req = b.newRequest(http.MethodPost, "/job/extract/video/audio/file", io.MultiReader(body), tokenA)
	req.Header.Set("Content-Type", ct)
	req.ContentLength = -1
	check("too large, chunked", b.do(req), 413, "too_large")

	// Shape limits.
	fields := map[string]string{}
	for i := range 2000 {
		fields[fmt.Sprintf("f%d", i)] = "x"
	}
	check("2000 parts", b.submitFile(tokenA, []byte("v"), "x.mp4", fields, ""), 400, "too_many_parts")
	check("long field", b.submitFile(tokenA, []byte("v"), "x.mp4", map[string]string{"junk": strings.Repeat("x", maxFieldBytes+1)}, ""), 400, "field_too_long")
	var two bytes.Buffer
	mw := newMultipart(&two)
	mw.file("video", "a.mp4", "1")
	mw.file("video", "b.mp4", "2")
	req = b.newRequest(http.MethodPost, "/job/extract/video/audio/file", &two, tokenA)
	req.Header.Set("Content-Type", mw.close())
	check("two videos", b.do(req), 400, "duplicate_video")

	huge := b.newRequest(http.MethodGet, "/job/extract/video/audio/status/x", nil, tokenA)
	huge.Header.Set("X-Big", strings.Repeat("a", 1<<20))
	resp, err := b.client.Do(huge)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	assert.Zero(t, b.jobCount(), "no rejected submission made a job")
	assert.Empty(t, b.uploads(), "no rejected upload left a file")
}

// mpw writes multipart bodies by hand, for shapes multipart.Writer avoids.
type mpw struct {
	w io.Writer
}

func newMultipart(w io.Writer) *mpw { return &mpw{w: w} }

func (m *mpw) file(name, filename, content string) {
	fmt.Fprintf(m.w, "--B\r\nContent-Disposition: form-data; name=%q; filename=%q\r\n\r\n%s\r\n", name, filename, content)
}

func (m *mpw) close() string {
	io.WriteString(m.w, "--B--\r\n")
	return "multipart/form-data; boundary=B"
}

func TestQueueFull(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{workers: 1, queueSize: 2})
	var ids []string
	for range 3 {
		ids = append(ids, b.jobID(b.submitFile(tokenA, []byte("HOLD"), "x.mp4", nil, "")))
	}
	// One runs, two wait: the next is refused and stores nothing.
	require.Eventually(t, func() bool { return b.status(tokenA, ids[0]).json(t)["state"] == "running" }, 10*time.Second, 10*time.Millisecond)
	st := b.status(tokenA, ids[2]).json(t)
	assert.Equal(t, statusPending, st["status"])
	assert.Equal(t, 2.0, st["queue_position"])
	assert.Equal(t, "queued, position 2", st["message"])
	r := b.submitFile(tokenA, []byte("HOLD"), "x.mp4", nil, "")
	assert.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	assert.Equal(t, "5", r.Header.Get("Retry-After"))
	assert.Equal(t, "queue_full", r.json(t)["code"])
	r = b.submitURL(tokenA, "http://127.0.0.1:1/x.mp4", nil)
	assert.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	assert.Equal(t, 3, b.jobCount())
	assert.Empty(t, b.uploads())

	// Cancel a queued job and the running one.
	for _, id := range ids[:2] {
		d := b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+id, nil, tokenA))
		assert.Equal(t, http.StatusNoContent, d.StatusCode)
		st := b.waitStatus(tokenA, id)
		assert.Equal(t, statusFailed, st["status"])
		assert.Equal(t, "canceled", st["state"])
		assert.Equal(t, jobs.CodeCanceled, st["code"])
	}
}

func TestFailedJobStatus(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	id := b.jobID(b.submitFile(tokenA, []byte("FAIL"), "x.mp4", nil, ""))
	st := b.waitStatus(tokenA, id)
	assert.Equal(t, statusFailed, st["status"])
	assert.Equal(t, jobs.CodeNoAudio, st["code"])
	assert.Contains(t, st["message"], "no audio stream")
	assert.NotContains(t, st, "url")
}

// TestExpiryAndPersistence runs on the disk and on S3 (see forEachBlobs).
func TestExpiryAndPersistence(t *testing.T) {
	forEachBlobs(t, func(t *testing.T, o *bundleOpts) {
		b := newBundle(t, o)
		id := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
		kept := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, "persistent=1"))
		st := b.waitStatus(tokenA, id)
		link := st["url"].(string)
		keptLink := b.waitStatus(tokenA, kept)["url"].(string)
		exp, err := time.Parse(time.RFC3339, st["expires_at"].(string))
		require.NoError(t, err)
		assert.Equal(t, 15*time.Minute, exp.Sub(b.clock.Now()).Round(time.Minute))

		b.clock.Advance(14*time.Minute + 59*time.Second)
		assert.Equal(t, http.StatusOK, b.do(b.newRequest(http.MethodGet, link, nil, "")).StatusCode)
		b.clock.Advance(2 * time.Second)
		r := b.do(b.newRequest(http.MethodGet, link, nil, ""))
		assert.Equal(t, http.StatusGone, r.StatusCode)
		assert.Equal(t, "expired", r.json(t)["code"])
		st = b.status(tokenA, id).json(t)
		assert.Equal(t, statusFailed, st["status"])
		assert.Equal(t, "expired", st["state"])
		assert.Equal(t, "expired", st["code"])

		b.clock.Advance(24 * time.Hour)
		assert.Equal(t, http.StatusOK, b.do(b.newRequest(http.MethodGet, keptLink, nil, "")).StatusCode)
		assert.Equal(t, statusSuccessful, b.status(tokenA, kept).json(t)["status"])
	})
}

// TestResultLinkTampering runs on the disk and on S3 (see forEachBlobs).
func TestResultLinkTampering(t *testing.T) {
	forEachBlobs(t, func(t *testing.T, o *bundleOpts) {
		b := newBundle(t, o)
		id := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
		other := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
		link := b.waitStatus(tokenA, id)["url"].(string)
		b.waitStatus(tokenA, other)
		u, err := url.Parse(link)
		require.NoError(t, err)
		q := u.Query()
		sig, exp := q.Get("sig"), q.Get("exp")
		flip := func(s string, i int) string {
			c := []byte(s)
			if c[i] == 'A' {
				c[i] = 'B'
			} else {
				c[i] = 'A'
			}
			return string(c)
		}
		variants := []string{
			u.Path + "?exp=" + exp,
			u.Path + "?sig=" + sig,
			u.Path + "?exp=" + exp + "0&sig=" + sig,
			u.Path + "?exp=" + fmt.Sprint(b.clock.Now().Add(time.Hour*24*365).Unix()) + "&sig=" + sig,
			u.Path + "?exp=" + exp + "&sig=" + flip(sig, 0),
			u.Path + "?exp=" + exp + "&sig=" + flip(sig, len(sig)-1),
			u.Path + "?exp=" + exp + "&sig=" + sig[:len(sig)-1],
			strings.Replace(u.Path, id, other, 1) + "?" + u.RawQuery,
			strings.Replace(u.Path, ".mp3", ".wav", 1) + "?" + u.RawQuery,
			"/results/" + id + "/..%2f..%2fjobs.db?" + u.RawQuery,
			"/results/" + id + "/%2e%2e?" + u.RawQuery,
			"/results/" + id + "/..%5cx?" + u.RawQuery,
		}
		for _, v := range variants {
			r := b.do(b.newRequest(http.MethodGet, v, nil, ""))
			assert.Equal(t, http.StatusForbidden, r.StatusCode, v)
			assert.Equal(t, "bad_signature", r.json(t)["code"], v)
		}
		// A tampered link stays 403 after expiry; the genuine one turns 410.
		b.clock.Advance(time.Hour)
		assert.Equal(t, http.StatusForbidden, b.do(b.newRequest(http.MethodGet, variants[4], nil, "")).StatusCode)
		assert.Equal(t, http.StatusGone, b.do(b.newRequest(http.MethodGet, link, nil, "")).StatusCode)
	})
}

// TestDeleteFinishedJob runs on the disk and on S3 (see forEachBlobs).
func TestDeleteFinishedJob(t *testing.T) {
	forEachBlobs(t, func(t *testing.T, o *bundleOpts) {
		b := newBundle(t, o)
		id := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, "persistent=true"))
		link := b.waitStatus(tokenA, id)["url"].(string)
		d := b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+id, nil, tokenA))
		assert.Equal(t, http.StatusNoContent, d.StatusCode)
		assert.Equal(t, http.StatusNotFound, b.status(tokenA, id).StatusCode)
		r := b.do(b.newRequest(http.MethodGet, link, nil, ""))
		assert.Equal(t, http.StatusNotFound, r.StatusCode, "a valid link to a deleted job")
		assert.Equal(t, http.StatusNotFound, b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+id, nil, tokenA)).StatusCode)
	})
}

func TestUnroutedAndOperationalEndpoints(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	for _, p := range []string{"/index.html", "/nope", "/job/extract/video/audio", "/results/x", "/job/extract/video/audio/status/"} {
		r := b.do(b.newRequest(http.MethodGet, p, nil, tokenA))
		assert.Equal(t, http.StatusNotFound, r.StatusCode, p)
		assert.Equal(t, "not found", r.json(t)["error"], p)
	}
	r := b.do(b.newRequest(http.MethodGet, "/job/extract/video/audio/file", nil, tokenA))
	assert.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
	// DELETE /job/extract/video/audio/{job_id} matches too, with job_id "file".
	assert.Equal(t, "POST, DELETE", r.Header.Get("Allow"))
	r = b.do(b.newRequest(http.MethodPut, "/job/extract/video/audio/status/AAAAAAAAAAAAAAAAAAAAAA", nil, tokenA))
	assert.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
	assert.Equal(t, "GET, HEAD", r.Header.Get("Allow"))

	assert.Equal(t, http.StatusOK, b.do(b.newRequest(http.MethodGet, "/healthz", nil, "")).StatusCode)
	ready := b.do(b.newRequest(http.MethodGet, "/readyz", nil, ""))
	assert.Equal(t, http.StatusOK, ready.StatusCode, "%s", ready.body)
	doc := b.do(b.newRequest(http.MethodGet, "/openapi.json", nil, ""))
	assert.Equal(t, OpenAPI(), doc.body)

	id := b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
	link := b.waitStatus(tokenA, id)["url"].(string)
	b.do(b.newRequest(http.MethodGet, link, nil, ""))
	m := string(b.do(b.newRequest(http.MethodGet, "/metrics", nil, "")).body)
	for _, want := range []string{
		`audex_jobs{state="succeeded"} 1`,
		`audex_queue_depth 0`,
		`audex_store_up 1`,
		`audex_workers{busy="false"} 2`,
		`audex_queue_capacity 100`,
		`audex_jobs_submitted_total 1`,
		`audex_upload_bytes_total 1`,
		fmt.Sprintf(`audex_result_bytes_served_total %d`, payloadSize),
		fmt.Sprintf(`audex_job_output_bytes_total %d`, payloadSize),
		`audex_job_input_bytes_total{source="upload"} 1`,
		`audex_job_duration_seconds_count{outcome="succeeded"} 1`,
		`audex_http_requests_total{code="200",route="POST /job/extract/video/audio/file"} 1`,
		`audex_http_requests_total{code="404",route="unrouted"} 5`,
		`audex_extraction_real_time_factor_bucket`,
	} {
		assert.Contains(t, m, want)
	}

	b.s.SetDraining()
	assert.Equal(t, http.StatusServiceUnavailable, b.do(b.newRequest(http.MethodGet, "/readyz", nil, "")).StatusCode)
	r = b.submitFile(tokenA, []byte("v"), "x.mp4", nil, "")
	assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	assert.Equal(t, "5", r.Header.Get("Retry-After"))
}

func TestRateLimitPerCredential(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{mutate: func(c *Config) { c.SubmitRate, c.SubmitBurst = 0.01, 3 }})
	for i := range 3 {
		b.jobID(b.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
		if i == 0 {
			b.jobID(b.submitURL(tokenB, "http://127.0.0.1:1/x.mp4", nil))
		}
	}
	r := b.submitFile(tokenA, []byte("v"), "x.mp4", nil, "")
	require.Equal(t, http.StatusTooManyRequests, r.StatusCode)
	assert.Equal(t, "rate_limited", r.json(t)["code"])
	assert.Equal(t, "100", r.Header.Get("Retry-After"), "one token per 100 s")
	assert.Equal(t, http.StatusTooManyRequests, b.submitURL(tokenA, "http://127.0.0.1:1/x.mp4", nil).StatusCode)
	// Bob has his own bucket.
	b.jobID(b.submitFile(tokenB, []byte("v"), "x.mp4", nil, ""))
	assert.Equal(t, 5, b.jobCount())
	assert.Empty(t, b.uploads())
}

func TestRateLimiterRefills(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := newRateLimiter(2, 0, c.Now)
	ok, _ := l.allow("a")
	assert.True(t, ok)
	ok, _ = l.allow("a")
	assert.True(t, ok, "burst defaults to the rate")
	ok, wait := l.allow("a")
	assert.False(t, ok)
	assert.Equal(t, 500*time.Millisecond, wait)
	c.Advance(250 * time.Millisecond)
	ok, wait = l.allow("a")
	assert.False(t, ok)
	assert.Equal(t, 250*time.Millisecond, wait)
	c.Advance(250 * time.Millisecond)
	ok, _ = l.allow("a")
	assert.True(t, ok)
	c.Advance(time.Hour)
	for range 2 {
		ok, _ = l.allow("a")
		assert.True(t, ok)
	}
	ok, _ = l.allow("a")
	assert.False(t, ok, "tokens cap at the burst")
	var none *rateLimiter
	ok, _ = none.allow("a")
	assert.True(t, ok, "no limit configured")
	assert.Nil(t, newRateLimiter(0, 5, c.Now))
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	cases := []struct {
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{fmt.Errorf("jobs: store: %w", jobs.ErrUnavailable), 503, "unavailable", true},
		{jobs.ErrClosed, 503, "unavailable", true},
		{errDraining, 503, "unavailable", true},
		{fmt.Errorf("x: %w", jobs.ErrQueueFull), 429, "queue_full", true},
		{&rateLimitError{wait: 1500 * time.Millisecond}, 429, "rate_limited", true},
		{jobs.ErrNotFound, 404, "not_found", false},
		{jobs.ErrExpired, 410, "expired", false},
		{fmt.Errorf("%w: empty input", jobs.ErrInvalidRequest), 400, "invalid_request", false},
		{&ParamsError{Fields: []FieldError{{"duration", "bad"}}}, 400, "invalid_params", false},
		{&http.MaxBytesError{Limit: 10}, 413, "too_large", false},
		{fmt.Errorf("%w: no data", errStalled), 408, "stalled", false},
		{errors.New("something unexpected"), 500, "internal", false},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		b.s.fail(rec, req, c.err)
		assert.Equal(t, c.status, rec.Code, "%v", c.err)
		var body errorBody
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		assert.Equal(t, c.code, body.Code, "%v", c.err)
		assert.NotEmpty(t, body.Error)
		assert.Equal(t, c.retryAfter, rec.Header().Get("Retry-After") != "", "%v", c.err)
		if c.status == 500 {
			assert.NotContains(t, body.Error, "unexpected", "internal details stay in the log")
		}
	}
}
