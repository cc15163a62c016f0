package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/internal/testmedia"
)

// answer is what one request of the rolling-restart tests got.
type answer struct {
	code       int
	retryAfter string
	id         string // the job_id of an accepted submission
	err        error
	at         time.Time // wall clock when it completed
}

// logTime is the time field of the first log line with message msg.
func (s *served) logTime(msg string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.log {
		var line struct {
			Msg  string
			Time time.Time
		}
		if json.Unmarshal([]byte(l), &line) == nil && line.Msg == msg {
			return line.Time, true
		}
	}
	return time.Time{}, false
}

// upload is the multipart body of a submission of a video's whole audio.
type upload struct {
	body        []byte
	contentType string
}

func newUpload(t testing.TB, path string) upload {
	t.Helper()
	video, err := os.ReadFile(path)
	require.NoError(t, err)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("video", filepath.Base(path))
	require.NoError(t, err)
	fw.Write(video)
	mw.WriteField("full_audio", "true")
	require.NoError(t, mw.Close())
	return upload{body: body.Bytes(), contentType: mw.FormDataContentType()}
}

// send makes one request to s, with u's body when u is not nil.
func send(c *http.Client, s *served, method, path string, u *upload) (answer, []byte) {
	var rd io.Reader
	if u != nil {
		rd = bytes.NewReader(u.body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		return answer{err: err, at: time.Now()}, nil
	}
	if u != nil {
		req.Header.Set("Content-Type", u.contentType)
	}
	req.Header.Set(httpapi.TokenHeader, "s3cret")
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err, at: time.Now()}, nil
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), err: err, at: time.Now()}, rb
}

func (u upload) submit(c *http.Client, s *served) answer {
	a, rb := send(c, s, http.MethodPost, "/job/extract/video/audio/file", &u)
	var v struct {
		JobID string `json:"job_id"`
	}
	json.Unmarshal(rb, &v)
	a.id = v.JobID
	return a
}

// restartStream submits u to s one submission after the other, sends s
// SIGTERM after the third, and stops once s has logged that its grace
// period is over ("draining"). It returns once s has logged the signal
// ("shutting down"); the channel gets the answers when the stream stops.
func restartStream(t *testing.T, c *http.Client, s *served, u upload) <-chan []answer {
	t.Helper()
	answers := make(chan []answer, 1)
	first := make(chan struct{})
	go func() {
		var got []answer
		for i := 0; i < 100000; i++ {
			if _, over := s.logTime("draining"); over {
				break
			}
			got = append(got, u.submit(c, s))
			if i == 2 {
				close(first)
			}
		}
		answers <- got
	}()
	<-first
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool { _, ok := s.logTime("shutting down"); return ok }, 30*time.Second, time.Millisecond)
	return answers
}

// checkStream checks the answers of a restartStream once s has exited:
// every submission answered before the grace period ended got 200, or 503
// with Retry-After (none accepted after one was refused), never a refused
// connection or a reset.
func checkStream(t *testing.T, s *served, got []answer, retryAfter string) {
	t.Helper()
	over, ok := s.logTime("draining")
	require.True(t, ok)
	var ok200, ok503, after int
	for i, a := range got {
		switch {
		case a.err == nil && a.code == http.StatusOK:
			ok200++
			assert.Zero(t, ok503, "submission %d accepted after one was refused", i)
		case a.err == nil && a.code == http.StatusServiceUnavailable:
			ok503++
			assert.Equal(t, retryAfter, a.retryAfter, "submission %d", i)
		case !a.at.Before(over):
			// The port closed: the grace period is over (the stream stops
			// once it has read the line that says so).
			after++
		default:
			t.Errorf("submission %d, before the grace period ended: %d %v (refused: %v)", i, a.code, a.err, errors.Is(a.err, syscall.ECONNREFUSED))
		}
	}
	assert.Positive(t, ok200, "accepted before the signal")
	assert.Positive(t, ok503, "refused with 503 in the grace period")
	t.Logf("%d submissions: %d accepted, %d refused with 503 + Retry-After in the grace period, %d after it",
		len(got), ok200, ok503, after)
}

// TestBinaryRollingRestart is issue #13's rolling restart on the real
// binary: under a steady stream of submissions (one client, new
// connections as the server asks), SIGTERM makes /readyz answer 503 at once
// while every submission is answered 200 or 503 with Retry-After, never a
// refused connection or a reset, until the grace period ends (the server's
// "draining" log line, whose time it takes before it closes its port).
// During the grace period status and downloads keep working; the process
// then drains and exits 0.
func TestBinaryRollingRestart(t *testing.T) {
	t.Parallel()
	u := newUpload(t, testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1}))
	s := serve(t, filepath.Join(t.TempDir(), "data"), "--shutdown-grace", "5s", "--workers", "2")
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()

	// A finished job to poll and download during the grace period.
	a := u.submit(c, s)
	require.Equal(t, http.StatusOK, a.code, a.err)
	done := a.id
	var url string
	require.Eventually(t, func() bool {
		st := s.status(t, c, done)
		url, _ = st["url"].(string)
		return st["status"] == "successful"
	}, 60*time.Second, 10*time.Millisecond)
	a, _ = send(c, s, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusOK, a.code, "ready before the signal")

	answers := restartStream(t, c, s, u)

	// From the signal on: not ready, submissions refused with Retry-After,
	// status and downloads answered.
	a, _ = send(c, s, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusServiceUnavailable, a.code, "/readyz once the signal is taken: %v", a.err)
	a = u.submit(c, s)
	assert.Equal(t, http.StatusServiceUnavailable, a.code, "a submission in the grace period: %v", a.err)
	assert.Equal(t, "5", a.retryAfter)
	assert.Equal(t, "successful", s.status(t, c, done)["status"])
	require.NotEmpty(t, url)
	resp, err := c.Get(url)
	if assert.NoError(t, err, "a download in the grace period") {
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Positive(t, n)
	}

	got := <-answers
	s.wait(t)
	checkStream(t, s, got, "5")
	assert.True(t, strings.Contains(s.logText(), `"msg":"stopped"`))
}
