package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
	"github.com/audex/audex/jobs"
)

func (b *bundle) probeFields(token string, video []byte, filename string, fields map[string]string) *response {
	b.t.Helper()
	body, ct := multipartBody(b.t, video, filename, fields)
	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/probe", body, token)
	req.Header.Set("Content-Type", ct)
	return b.do(req)
}

func (b *bundle) resultPeaks(token, id string, q url.Values) *response {
	b.t.Helper()
	path := "/job/extract/video/audio/peaks/" + id
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return b.do(b.newRequest(http.MethodGet, path, nil, token))
}

// columns reads a peaks answer's min and max.
func columns(t *testing.T, p map[string]any) (lo, hi []float64) {
	t.Helper()
	for _, v := range p["min"].([]any) {
		lo = append(lo, v.(float64))
	}
	for _, v := range p["max"].([]any) {
		hi = append(hi, v.(float64))
	}
	return lo, hi
}

// TestProbePeaks: the probe's peaks fields answer the waveform of the
// chosen track, for a sub-range too; bad fields are listed; a file without
// audio gets no waveform. Every answer is checked against openapi.json.
func TestProbePeaks(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	// Two tracks: the timecode signal, then a 0.5 sine.
	src := testmedia.Make(t, "two-tracks.mkv",
		"-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=3",
		"-f", "lavfi", "-i", "aevalsrc="+testmedia.SignalExpr+":s=48000:d=3",
		"-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*440*t):s=48000:d=3",
		"-map", "0", "-map", "1", "-map", "2", "-c:v", "libopenh264", "-b:v", "50k", "-c:a", "flac")
	video, err := os.ReadFile(src)
	require.NoError(t, err)

	r := b.probeFields(tokenA, video, "two.mkv", map[string]string{"peaks": "30", "track": "2"})
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	p, ok := r.json(t)["peaks"].(map[string]any)
	require.True(t, ok, "%s", r.body)
	assert.Equal(t, float64(2), p["track"])
	assert.Equal(t, float64(30), p["columns"])
	assert.Equal(t, false, p["sampled"])
	assert.Equal(t, float64(0), p["from"])
	assert.InDelta(t, 3, p["to"], 0.05)
	lo, hi := columns(t, p)
	require.Len(t, hi, 30)
	for c := range 30 {
		assert.InDelta(t, 0.5, hi[c], 0.02, "column %d", c)
		assert.InDelta(t, -0.5, lo[c], 0.02, "column %d", c)
	}

	// A zoom into the first track's silent gap at 1 s (20 ms) and the
	// signal after it.
	r = b.probeFields(tokenA, video, "two.mkv", map[string]string{"peaks": "40", "peaks_from": "0.98", "peaks_to": "1.06"})
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	p = r.json(t)["peaks"].(map[string]any)
	assert.Equal(t, float64(1), p["track"], "the best track by default")
	assert.Equal(t, 0.98, p["from"])
	assert.Equal(t, 1.06, p["to"])
	_, hi = columns(t, p)
	// 2 ms columns: 0.98-1.00 signal, 1.00-1.02 silence, then signal.
	for c := 11; c < 19; c++ {
		assert.Equal(t, 0.0, hi[c], "column %d is in the gap", c)
	}
	for c := 22; c < 40; c++ {
		assert.Greater(t, hi[c], 0.1, "column %d is after the gap", c)
	}

	// Without peaks: no waveform.
	r = b.probeFields(tokenA, video, "two.mkv", nil)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	assert.NotContains(t, r.json(t), "peaks")

	// A file without audio: the probe says so, no waveform.
	silent, err := os.ReadFile(testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true}))
	require.NoError(t, err)
	r = b.probeFields(tokenA, silent, "silent.mp4", map[string]string{"peaks": "100"})
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	assert.Equal(t, []any{}, r.json(t)["audio_tracks"])
	assert.NotContains(t, r.json(t), "peaks")

	// Bad fields, all listed.
	r = b.probeFields(tokenA, video, "two.mkv", map[string]string{"peaks": "5000", "peaks_from": "x", "peaks_to": "0", "track": "0"})
	require.Equal(t, http.StatusBadRequest, r.StatusCode)
	body := r.json(t)
	assert.Equal(t, "invalid_params", body["code"])
	var bad []string
	for _, f := range body["fields"].([]any) {
		bad = append(bad, f.(map[string]any)["field"].(string))
	}
	assert.ElementsMatch(t, []string{"peaks", "peaks_from", "peaks_to", "track"}, bad)
	r = b.probeFields(tokenA, video, "two.mkv", map[string]string{"peaks_from": "1"})
	assert.Equal(t, http.StatusBadRequest, r.StatusCode, "peaks_from without peaks")

	// Failures of the media: the job codes.
	r = b.probeFields(tokenA, video, "two.mkv", map[string]string{"peaks": "10", "peaks_from": "9"})
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, jobs.CodeStartBeyondEnd, r.json(t)["code"])
	r = b.probeFields(tokenA, video, "two.mkv", map[string]string{"peaks": "10", "track": "3"})
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, jobs.CodeTrackNotFound, r.json(t)["code"])

	assert.Empty(t, b.uploads(), "a probe stores nothing")
}

// TestResultPeaks: a job's result has a waveform of its own on its own
// timeline, for its owner only, once it exists.
func TestResultPeaks(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{extractor: jobs.InProcess{}, realClock: true})
	video, err := os.ReadFile(testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4, Signal: "sine"}))
	require.NoError(t, err)
	id := b.jobID(b.submitFile(tokenA, video, "clip.mp4", map[string]string{"start_time": "1", "duration": "1.5", "output_format": "wav"}, ""))
	require.Equal(t, statusSuccessful, b.waitStatus(tokenA, id)["status"])

	r := b.resultPeaks(tokenA, id, url.Values{"peaks": {"15"}})
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	p := r.json(t)
	assert.Equal(t, float64(15), p["columns"])
	assert.Equal(t, float64(0), p["from"], "the result's own timeline")
	assert.InDelta(t, 1.5, p["to"], 0.01)
	lo, hi := columns(t, p)
	for c := range 15 {
		assert.InDelta(t, 0.5, hi[c], 0.05, "column %d", c)
		assert.InDelta(t, -0.5, lo[c], 0.05, "column %d", c)
	}

	// The default column count, and a sub-range.
	r = b.resultPeaks(tokenA, id, nil)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	assert.Equal(t, float64(defaultResultPeaks), r.json(t)["columns"])
	r = b.resultPeaks(tokenA, id, url.Values{"peaks": {"10"}, "peaks_from": {"0.5"}, "peaks_to": {"1"}})
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
	assert.Equal(t, 0.5, r.json(t)["from"])

	// Another owner, an unknown id, no credentials, bad parameters.
	assert.Equal(t, http.StatusNotFound, b.resultPeaks(tokenB, id, nil).StatusCode)
	assert.Equal(t, http.StatusNotFound, b.resultPeaks(tokenA, "AAAAAAAAAAAAAAAAAAAAAA", nil).StatusCode)
	assert.Equal(t, http.StatusUnauthorized, b.resultPeaks("", id, nil).StatusCode)
	r = b.resultPeaks(tokenA, id, url.Values{"peaks": {fmt.Sprint(MaxPeaks + 1)}})
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, "invalid_params", r.json(t)["code"])
	r = b.resultPeaks(tokenA, id, url.Values{"peaks_from": {"5"}})
	assert.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Equal(t, jobs.CodeStartBeyondEnd, r.json(t)["code"])

	// A failed job has no result: 409.
	silent, err := os.ReadFile(testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true}))
	require.NoError(t, err)
	failed := b.jobID(b.submitFile(tokenA, silent, "silent.mp4", nil, ""))
	require.Equal(t, statusFailed, b.waitStatus(tokenA, failed)["status"])
	r = b.resultPeaks(tokenA, failed, nil)
	assert.Equal(t, http.StatusConflict, r.StatusCode)
	assert.Equal(t, jobs.CodeNotReady, r.json(t)["code"])
}
