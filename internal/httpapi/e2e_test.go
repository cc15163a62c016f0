package httpapi

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
	"github.com/audex/audex/jobs"
)

// These tests run the real in-process pipeline behind the HTTP service and
// check what a decoder makes of the downloaded result.

// download saves a result link's body and probes it.
func (b *bundle) download(link string) (*extract.Info, *testmedia.Audio, *response) {
	b.t.Helper()
	r := b.do(b.newRequest(http.MethodGet, link, nil, ""))
	require.Equal(b.t, http.StatusOK, r.StatusCode, "%s", r.body)
	path := filepath.Join(b.t.TempDir(), "result")
	require.NoError(b.t, os.WriteFile(path, r.body, 0o600))
	info, err := extract.ProbeFile(b.t.Context(), path, nil)
	require.NoError(b.t, err)
	return info, testmedia.Decode(b.t, path), r
}

func TestEndToEndRealExtraction(t *testing.T) {
	t.Parallel()
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 4})
	data, err := os.ReadFile(video)
	require.NoError(t, err)
	b := newBundle(t, &bundleOpts{extractor: jobs.InProcess{}, realClock: true})

	t.Run("file to mp3, defaults of the hosted API", func(t *testing.T) {
		start := time.Now()
		id := b.jobID(b.submitFile(tokenA, data, "clip.mp4", map[string]string{"start_time": "1"}, ""))
		st := b.waitStatus(tokenA, id)
		t.Logf("2 s clip: submit to successful in %v", time.Since(start))
		require.Equal(t, statusSuccessful, st["status"], "%v", st)
		info, audio, r := b.download(st["url"].(string))
		assert.Equal(t, "audio/mpeg", r.Header.Get("Content-Type"))
		assert.Equal(t, "mp3", info.Container)
		assert.InDelta(t, 2.0, audio.Seconds(), 0.03, "duration defaults to 2 s")
		out := st["metadata"].(map[string]any)["output"].(map[string]any)
		assert.InDelta(t, 2.0, out["duration"], 0.03)
		assert.InDelta(t, 1.0, out["start"], 0.03)
		assert.Equal(t, float64(len(r.body)), out["bytes"])
		assert.Positive(t, out["real_time_factor"])
	})

	t.Run("url to wav, full audio", func(t *testing.T) {
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, video)
		}))
		defer src.Close()
		id := b.jobID(b.submitURL(tokenA, src.URL+"/v.mp4", map[string]string{
			"start_time": "00:00:00.500", "full_audio": "true", "output_format": "wav", "sample_rate": "16000", "channels": "1",
		}))
		st := b.waitStatus(tokenA, id)
		require.Equal(t, statusSuccessful, st["status"], "%v", st)
		info, audio, r := b.download(st["url"].(string))
		assert.Equal(t, "audio/wav", r.Header.Get("Content-Type"))
		assert.Equal(t, "wav", info.Container)
		assert.Equal(t, 16000, audio.Rate)
		assert.Equal(t, 1, audio.Channels)
		assert.InDelta(t, 3.5, audio.Seconds(), 0.03)
	})

	t.Run("typed failures", func(t *testing.T) {
		noAudio := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1, NoAudio: true})
		na, err := os.ReadFile(noAudio)
		require.NoError(t, err)
		cases := []struct {
			video  []byte
			fields map[string]string
			code   string
		}{
			{[]byte("this is not a video at all, just text"), nil, jobs.CodeUnrecognizedFormat},
			{na, nil, jobs.CodeNoAudio},
		}
		for _, c := range cases {
			id := b.jobID(b.submitFile(tokenA, c.video, "x.mp4", c.fields, ""))
			st := b.waitStatus(tokenA, id)
			assert.Equal(t, statusFailed, st["status"], c.code)
			assert.Equal(t, c.code, st["code"], "%v", st["message"])
			assert.NotEmpty(t, st["message"])
			assert.NotContains(t, st, "url")
		}

		// B12 run-time case: a start past the end is a typed failure, never
		// a successful empty file.
		id := b.jobID(b.submitFile(tokenA, data, "x.mp4", map[string]string{"start_time": "3600"}, ""))
		st := b.waitStatus(tokenA, id)
		assert.Equal(t, statusFailed, st["status"])
		assert.Equal(t, "start_beyond_end", st["code"])
		assert.NotContains(t, st, "url")
		assert.Nil(t, st["metadata"].(map[string]any)["output"])
	})
}

// BenchmarkClip2s measures a client's latency for a 2 s clip over loopback:
// upload a 10 s H.264+AAC video, poll until successful, download the mp3.
//
//	internal/ffmpeg/with-env go test -run '^$' -bench Clip2s -benchtime 50x ./internal/httpapi
func BenchmarkClip2s(b *testing.B) {
	video := testmedia.Video(b, testmedia.Spec{Container: "mp4", Seconds: 10})
	data, err := os.ReadFile(video)
	require.NoError(b, err)
	bd := newBundle(b, &bundleOpts{extractor: jobs.InProcess{}, realClock: true})
	b.ResetTimer()
	for b.Loop() {
		id := bd.jobID(bd.submitFile(tokenA, data, "clip.mp4", map[string]string{"start_time": "3.25"}, ""))
		var st map[string]any
		for {
			st = bd.status(tokenA, id).json(b)
			if st["status"] != statusPending {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		require.Equal(b, statusSuccessful, st["status"])
		r := bd.do(bd.newRequest(http.MethodGet, st["url"].(string), nil, ""))
		require.Equal(b, http.StatusOK, r.StatusCode)
	}
}
