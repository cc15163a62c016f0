package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/client"
	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/internal/testmedia"
)

// webhookCall is a message the test's receiver got.
type webhookCall struct {
	path, delivery, attempt, signature string
	body                               []byte
}

// submitWithWebhook uploads path with a webhook_url and returns the job id.
func (s *served) submitWithWebhook(t *testing.T, c *http.Client, path, hook string) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("video", filepath.Base(path))
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	fw.Write(b)
	mw.WriteField("webhook_url", hook)
	require.NoError(t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, s.url+"/job/extract/video/audio/file", &body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set(httpapi.TokenHeader, "s3cret")
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var v struct {
		JobID string `json:"job_id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return v.JobID
}

// TestBinaryWebhookSurvivesSIGKILL: `audex serve` is SIGKILLed with two
// webhooks pending: one whose attempt is under way (the receiver holds
// it), one waiting for its retry (the receiver answered 500). Started
// again on the same data directory, the server delivers both, with the
// same delivery ids and valid signatures.
func TestBinaryWebhookSurvivesSIGKILL(t *testing.T) {
	// The server reaches the receiver on loopback only with private
	// fetches allowed (through its environment variable: t.Setenv, so not
	// parallel).
	t.Setenv("AUDEX_ALLOW_PRIVATE_FETCH", "true")
	video := testmedia.Video(t, testmedia.Spec{Container: "mp4", Seconds: 1})

	var mu sync.Mutex
	var calls []webhookCall
	arrived := make(chan webhookCall, 10)
	killed := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := webhookCall{path: r.URL.Path, delivery: r.Header.Get(client.WebhookDeliveryHeader),
			attempt: r.Header.Get(client.WebhookAttemptHeader), signature: r.Header.Get(client.WebhookSignatureHeader), body: b}
		mu.Lock()
		calls = append(calls, c)
		n := 0
		for _, x := range calls {
			if x.path == c.path {
				n++
			}
		}
		mu.Unlock()
		arrived <- c
		switch {
		case c.path == "/held" && n == 1:
			// Hold the first attempt until the server is dead.
			select {
			case <-killed:
			case <-r.Context().Done():
			}
			return
		case c.path == "/retry" && n == 1:
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	next := func(what string) webhookCall {
		t.Helper()
		select {
		case c := <-arrived:
			return c
		case <-time.After(60 * time.Second):
			t.Fatalf("no webhook: %s", what)
			return webhookCall{}
		}
	}

	data := filepath.Join(t.TempDir(), "data")
	c := &http.Client{Timeout: 30 * time.Second}
	defer c.CloseIdleConnections()
	s := serve(t, data)
	held := s.submitWithWebhook(t, c, video, hook.URL+"/held")
	retry := s.submitWithWebhook(t, c, video, hook.URL+"/retry")
	first := map[string]webhookCall{}
	for range 2 {
		x := next("first attempts")
		first[x.path] = x
	}
	require.Eventually(t, func() bool {
		wh, _ := s.status(t, c, retry)["webhook"].(map[string]any)
		return wh["state"] == "pending" && wh["attempts"] == 1.0
	}, 30*time.Second, 5*time.Millisecond, "the 500 is recorded")

	require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
	<-s.done
	require.Error(t, s.cmd.Wait(), "killed")
	close(killed)

	s2 := serve(t, data)
	defer s2.stop(t)
	second := map[string]webhookCall{}
	for range 2 {
		x := next("attempts after the restart")
		second[x.path] = x
	}
	cl := &client.Client{Server: s2.url, Token: "s3cret", HTTP: c}
	secret, err := cl.WebhookSecret(t.Context())
	require.NoError(t, err)
	for path, id := range map[string]string{"/held": held, "/retry": retry} {
		a, b := first[path], second[path]
		assert.Equal(t, a.delivery, b.delivery, "%s: one delivery id across the restart", path)
		require.NoError(t, client.VerifyWebhook(secret, b.signature, b.body, time.Now(), 0), path)
		var body map[string]any
		require.NoError(t, json.Unmarshal(b.body, &body))
		assert.Equal(t, id, body["job_id"])
		assert.Equal(t, "successful", body["status"])
		var wh map[string]any
		require.Eventually(t, func() bool {
			wh, _ = s2.status(t, c, id)["webhook"].(map[string]any)
			return wh["state"] == "delivered"
		}, 30*time.Second, 5*time.Millisecond, path)
		assert.Equal(t, a.delivery, wh["delivery_id"])
	}
	// The held attempt was cut off, not answered: it is made again as the
	// first; the retry is the second.
	assert.Equal(t, "1", second["/held"].attempt)
	assert.Equal(t, "2", second["/retry"].attempt)
	mu.Lock()
	assert.Len(t, calls, 4, "no other message")
	mu.Unlock()
}
