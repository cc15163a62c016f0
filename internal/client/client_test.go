package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/extract"
)

func TestParamsFields(t *testing.T) {
	t.Parallel()
	p := Params{Start: 90250 * time.Millisecond, Duration: 2 * time.Second, Format: extract.WAV,
		Track: 2, Language: "de", SampleRate: 16000, Channels: 1, Bitrate: 128000, Copy: extract.CopyNever,
		WebhookURL: "http://127.0.0.1:9/hook"}
	assert.Equal(t, "bitrate=128000&channels=1&copy=never&duration=2&language=de&output_format=wav&sample_rate=16000&start_time=90.25&track=2&webhook_url=http%3A%2F%2F127.0.0.1%3A9%2Fhook", p.Fields().Encode())
	// Full audio wins over a duration; zero values are left to the server.
	assert.Equal(t, "full_audio=true", Params{Full: true, Duration: time.Second, Copy: extract.CopyAuto}.Fields().Encode())
}

func TestSubmitFile(t *testing.T) {
	t.Parallel()
	video := strings.Repeat("not really a video ", 1000)
	for _, size := range []int64{int64(len(video)), -1} {
		var got struct {
			contentLength int64
			fields        map[string]string
			file, name    string
			token, query  string
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			assert.Equal(t, "POST", r.Method)
			assert.Equal(t, "/api/job/extract/video/audio/file", r.URL.Path)
			got.contentLength, got.token, got.query = r.ContentLength, r.Header.Get("apy-token"), r.URL.RawQuery
			mr, err := r.MultipartReader()
			require.NoError(t, err)
			got.fields = map[string]string{}
			for {
				part, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				b, _ := io.ReadAll(part)
				if part.FormName() == "video" {
					got.file, got.name = string(b), part.FileName()
				} else {
					got.fields[part.FormName()] = string(b)
				}
			}
			w.Write([]byte(`{"job_id":"abc"}`))
		}))
		c := &Client{Server: srv.URL + "/api/", Token: "tok"}
		id, err := c.SubmitFile(context.Background(), "/some/dir/in.mp4", strings.NewReader(video), size,
			Params{Start: time.Second, Full: true, Format: extract.MP3, Persistent: true})
		srv.Close()
		require.NoError(t, err)
		assert.Equal(t, "abc", id)
		assert.Equal(t, video, got.file)
		assert.Equal(t, "in.mp4", got.name)
		assert.Equal(t, map[string]string{"start_time": "1", "full_audio": "true", "output_format": "mp3"}, got.fields)
		assert.Equal(t, "tok", got.token)
		assert.Equal(t, "persistent=true", got.query)
		if size >= 0 {
			assert.Greater(t, got.contentLength, size, "exact length sent")
		} else {
			assert.Equal(t, int64(-1), got.contentLength, "chunked")
		}
	}
}

func TestSubmitURLAndErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseMultipartForm(1<<20))
		if r.FormValue("video_url") == "https://example.com/v.mp4" {
			w.Write([]byte(`{"job_id":"u1"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid parameters","code":"invalid_params","fields":[{"field":"video_url","message":"not allowed"}]}`))
	}))
	defer srv.Close()
	c := &Client{Server: srv.URL}
	id, err := c.SubmitURL(context.Background(), "https://example.com/v.mp4", Params{})
	require.NoError(t, err)
	assert.Equal(t, "u1", id)

	_, err = c.SubmitURL(context.Background(), "http://10.0.0.1/x", Params{})
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.True(t, errors.Is(err, ErrAPI))
	assert.Equal(t, 400, ae.StatusCode)
	assert.Equal(t, "invalid_params", ae.Code)
	assert.Equal(t, []FieldError{{Field: "video_url", Message: "not allowed"}}, ae.Fields)
	assert.Equal(t, 7*time.Second, ae.RetryAfter)
	assert.Equal(t, "HTTP 400: invalid parameters (invalid_params)", err.Error(), "a refusal, not a server error")
}

func TestWaitAndOpen(t *testing.T) {
	t.Parallel()
	var polls atomic.Int32
	var downloadToken atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("GET /job/extract/video/audio/status/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "j1" {
			http.Error(w, `{"error":"not found","code":"not_found"}`, http.StatusNotFound)
			return
		}
		switch n := polls.Add(1); {
		case n == 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		case n < 4:
			json.NewEncoder(w).Encode(Status{JobID: "j1", Status: StatusPending, Stage: "extracting", Progress: float64(n * 30)})
		default:
			json.NewEncoder(w).Encode(Status{JobID: "j1", Status: StatusSuccessful, URL: "/results/j1/movie.mp3?sig=x"})
		}
	})
	mux.HandleFunc("GET /results/j1/movie.mp3", func(w http.ResponseWriter, r *http.Request) {
		downloadToken.Store(r.Header.Get("apy-token"))
		w.Header().Set("Content-Disposition", `attachment; filename="../../clip.mp3"`)
		w.Write([]byte("ID3 audio"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := &Client{Server: srv.URL, Token: "tok", PollInterval: time.Millisecond}
	var seen []float64
	st, err := c.Wait(context.Background(), "j1", func(s *Status) { seen = append(seen, s.Progress) })
	require.NoError(t, err)
	assert.Equal(t, StatusSuccessful, st.Status)
	assert.Equal(t, []float64{60, 90, 0}, seen)
	require.NoError(t, st.Err())

	d, err := c.Open(context.Background(), st)
	require.NoError(t, err)
	b, _ := io.ReadAll(d)
	d.Close()
	assert.Equal(t, "ID3 audio", string(b))
	assert.Equal(t, "clip.mp3", d.Filename, "no directories from the server")
	assert.Equal(t, "tok", downloadToken.Load())

	_, err = c.Status(context.Background(), "nope")
	assert.ErrorIs(t, err, ErrJobNotFound)
	assert.ErrorIs(t, err, ErrAPI)
	assert.Equal(t, "job not found", err.Error())
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "not_found", ae.Code)

	_, err = c.Status(context.Background(), "../x")
	assert.Error(t, err)
}

func TestTokenStaysOnServer(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("apy-token") != "")
		w.Write([]byte("data"))
	}))
	defer other.Close()
	c := &Client{Server: "http://127.0.0.1:1", Token: "secret"}
	d, err := c.Open(context.Background(), &Status{JobID: "j", Status: StatusSuccessful, URL: other.URL + "/r/x.wav"})
	require.NoError(t, err)
	d.Close()
	assert.False(t, leaked.Load(), "token sent to another host")
	assert.Equal(t, "x.wav", d.Filename)
}

// TestTokenStaysOnServerAfterRedirect: a result link that redirects to
// another host (a server presigning its results sends the download to its
// S3 bucket) is followed without the token, which Go's client would
// otherwise copy to any host (it drops only Authorization and cookies).
func TestTokenStaysOnServerAfterRedirect(t *testing.T) {
	t.Parallel()
	var leaked atomic.Bool
	bucket := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("apy-token") != "")
		w.Header().Set("Content-Disposition", `attachment; filename="clip.wav"`)
		w.Write([]byte("RIFF audio"))
	}))
	defer bucket.Close()
	var tokenAtServer atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tokenAtServer.Store(r.Header.Get("apy-token"))
		http.Redirect(w, r, bucket.URL+"/bucket/results/j/audio.wav?X-Amz-Signature=x", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	c := &Client{Server: srv.URL, Token: "secret"}
	d, err := c.Open(context.Background(), &Status{JobID: "j", Status: StatusSuccessful, URL: "/results/j/clip.wav?sig=x"})
	require.NoError(t, err)
	b, _ := io.ReadAll(d)
	d.Close()
	assert.Equal(t, "RIFF audio", string(b))
	assert.Equal(t, "clip.wav", d.Filename)
	assert.Equal(t, "secret", tokenAtServer.Load(), "the server itself gets it")
	assert.False(t, leaked.Load(), "token sent to the host redirected to")
}

func TestFailedJob(t *testing.T) {
	t.Parallel()
	st := &Status{JobID: "j", Status: StatusFailed, Message: "no audio stream", Code: "no_audio_stream"}
	err := st.Err()
	assert.ErrorIs(t, err, ErrJobFailed)
	assert.Equal(t, "job failed: no audio stream (no_audio_stream)", err.Error())
	_, err = (&Client{Server: "http://x"}).Open(context.Background(), st)
	assert.ErrorIs(t, err, ErrJobFailed)
	_, err = (&Client{Server: "http://x"}).Open(context.Background(), &Status{JobID: "j", Status: StatusPending})
	assert.ErrorIs(t, err, ErrNotReady)
}

// Cancel sends the DELETE extension; a 404 is ErrJobNotFound and a 5xx
// reads as the server's failure.
func TestCancel(t *testing.T) {
	t.Parallel()
	var deleted atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /job/extract/video/audio/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch id := r.PathValue("id"); id {
		case "j1":
			deleted.Store(id + " " + r.Header.Get("apy-token"))
			w.WriteHeader(http.StatusNoContent)
		case "broken":
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":"internal error","code":"internal"}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not found","code":"not_found"}`))
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := &Client{Server: srv.URL, Token: "tok"}
	ctx := context.Background()

	require.NoError(t, c.Cancel(ctx, "j1"))
	assert.Equal(t, "j1 tok", deleted.Load())

	err := c.Cancel(ctx, "gone")
	assert.ErrorIs(t, err, ErrJobNotFound)
	assert.Equal(t, "job not found", err.Error())

	err = c.Cancel(ctx, "broken")
	assert.NotErrorIs(t, err, ErrJobNotFound)
	assert.ErrorIs(t, err, ErrAPI)
	assert.Equal(t, "server error: HTTP 500: internal error (internal)", err.Error())

	assert.Error(t, c.Cancel(ctx, "a/b"), "no path tricks")
}

func TestStatusTruncated(t *testing.T) {
	t.Parallel()
	assert.True(t, (&Status{Metadata: []byte(`{"output":{"duration":1.5,"truncated":true}}`)}).Truncated())
	assert.False(t, (&Status{Metadata: []byte(`{"output":{"duration":1.5}}`)}).Truncated())
	assert.False(t, (&Status{}).Truncated(), "a server without the extension")
}
