package httpapi

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/testmedia"
)

func (b *bundle) probe(token string, video []byte, filename string) *response {
	b.t.Helper()
	body, ct := multipartBody(b.t, video, filename, nil)
	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/probe", body, token)
	req.Header.Set("Content-Type", ct)
	return b.do(req)
}

func TestProbe(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	read := func(path string) []byte {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		return data
	}

	t.Run("tracks and length in seconds", func(t *testing.T) {
		video := read(testmedia.Video(t, testmedia.Spec{Container: "mkv", Seconds: 3, Rate: 44100, Channels: 1}))
		r := b.probe(tokenA, video, "clip.mkv")
		require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
		info := r.json(t)
		assert.Contains(t, info["container"], "matroska")
		assert.InDelta(t, 3.0, info["duration"], 0.05)
		assert.Equal(t, float64(1), info["best_track"])
		tracks := info["audio_tracks"].([]any)
		require.Len(t, tracks, 1)
		tr := tracks[0].(map[string]any)
		assert.Equal(t, float64(1), tr["track"])
		assert.Equal(t, "aac", tr["codec"])
		assert.Equal(t, float64(44100), tr["sample_rate"])
		assert.Equal(t, float64(1), tr["channels"])
		assert.InDelta(t, 3.0, tr["duration"], 0.05)
	})

	t.Run("no audio is an empty list", func(t *testing.T) {
		video := read(testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true}))
		r := b.probe(tokenA, video, "silent.mp4")
		require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
		info := r.json(t)
		assert.Equal(t, []any{}, info["audio_tracks"])
		assert.Equal(t, float64(0), info["best_track"])
	})

	t.Run("text is unrecognized", func(t *testing.T) {
		r := b.probe(tokenA, []byte(strings.Repeat("not a video\n", 100)), "notes.txt")
		assert.Equal(t, http.StatusBadRequest, r.StatusCode)
		assert.Equal(t, "unrecognized_format", r.json(t)["code"])
	})

	t.Run("request errors", func(t *testing.T) {
		r := b.probe("", []byte("x"), "x.mp4")
		assert.Equal(t, http.StatusUnauthorized, r.StatusCode)
		r = b.probe(tokenA, nil, "")
		assert.Equal(t, http.StatusBadRequest, r.StatusCode)
		assert.Equal(t, "missing_video", r.json(t)["code"])
		r = b.probe(tokenA, []byte{}, "empty.mp4")
		assert.Equal(t, http.StatusBadRequest, r.StatusCode)
		assert.Equal(t, "empty_input", r.json(t)["code"])
	})

	// A probe stores nothing.
	assert.Empty(t, b.uploads())
	assert.Zero(t, b.jobCount())
}

// TestPlaygroundMounted checks the page is served at / next to the API,
// without credentials, and that / is no catch-all.
func TestPlaygroundMounted(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	r := b.do(b.newRequest(http.MethodGet, "/", nil, ""))
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", r.Header.Get("Content-Type"))
	assert.True(t, strings.Contains(string(r.body), "<title>audex playground"), "the page")
	r = b.do(b.newRequest(http.MethodGet, "/playground/app.js", nil, ""))
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.True(t, strings.Contains(string(r.body), "/job/extract/video/audio"), "the script calls the API")
	r = b.do(b.newRequest(http.MethodGet, "/playground/nope.js", nil, ""))
	assert.Equal(t, http.StatusNotFound, r.StatusCode)
	r = b.do(b.newRequest(http.MethodPost, "/", nil, tokenA))
	assert.Equal(t, http.StatusMethodNotAllowed, r.StatusCode)
	assert.Equal(t, "GET, HEAD", r.Header.Get("Allow"))
}
