package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/client"
	"github.com/audex/audex/internal/webhook"
	"github.com/audex/audex/jobs"
)

// hookReceiver is a webhook receiver on loopback. It answers the n-th
// message with statuses[n-1] (200 beyond the script) and records each
// message with the test clock's time at its arrival.
type hookReceiver struct {
	*httptest.Server
	now      func() time.Time
	mu       sync.Mutex
	statuses []int
	calls    []hookCall
	arrived  chan hookCall
}

type hookCall struct {
	header http.Header
	body   []byte
	at     time.Time
}

func newHookReceiver(t *testing.T, now func() time.Time, statuses ...int) *hookReceiver {
	t.Helper()
	h := &hookReceiver{now: now, statuses: statuses, arrived: make(chan hookCall, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := hookCall{header: r.Header.Clone(), body: body, at: h.now()}
		h.mu.Lock()
		h.calls = append(h.calls, c)
		n := len(h.calls)
		h.mu.Unlock()
		h.arrived <- c
		if n <= len(h.statuses) {
			w.WriteHeader(h.statuses[n-1])
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

func (h *hookReceiver) next(t *testing.T) hookCall {
	t.Helper()
	select {
	case c := <-h.arrived:
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook arrived")
		return hookCall{}
	}
}

// fastWebhooks makes the notifier look at the store often: the tests move
// the clock by hand.
func fastWebhooks(c *Config) {
	c.Webhooks = &jobs.NotifierOptions{PollInterval: 2 * time.Millisecond}
}

// webhookSecret reads the token's secret from the API.
func (b *bundle) webhookSecret(token string) string {
	b.t.Helper()
	r := b.do(b.newRequest(http.MethodGet, "/webhooks/secret", nil, token))
	require.Equal(b.t, http.StatusOK, r.StatusCode, "%s", r.body)
	s, _ := r.json(b.t)["secret"].(string)
	return s
}

// waitWebhook waits until the job's webhook is in state, and returns the
// job's status answer.
func (b *bundle) waitWebhook(token, id, state string) map[string]any {
	b.t.Helper()
	require.Eventually(b.t, func() bool {
		j, err := b.m.Get(id)
		require.NoError(b.t, err)
		return j.Notification != nil && j.Notification.State.String() == state
	}, 20*time.Second, time.Millisecond, "webhook of %s never %s", id, state)
	r := b.status(token, id)
	require.Equal(b.t, http.StatusOK, r.StatusCode)
	return r.json(b.t)
}

// checkWebhook validates a message against the document's jobFinished
// webhook: headers and body.
func (v *openAPIValidator) checkWebhook(t testing.TB, c hookCall) {
	t.Helper()
	item := v.doc.Webhooks["jobFinished"]
	require.NotNil(t, item, "the document describes the webhook")
	op := item.Post
	for _, p := range op.Parameters {
		got := c.header.Get(p.Value.Name)
		require.NotEmpty(t, got, "header %s", p.Value.Name)
		require.NoError(t, p.Value.Schema.Value.VisitJSON(got), "header %s: %q", p.Value.Name, got)
	}
	schema := op.RequestBody.Value.Content.Get("application/json").Schema
	var val any
	require.NoError(t, json.Unmarshal(c.body, &val))
	require.NoError(t, schema.Value.VisitJSON(val), "%s", c.body)
	requireDocumented(t, "", schema, val)
}

// TestWebhookDelivered: each job with a webhook_url, whichever way it was
// submitted and however it ended, gets exactly one message, signed with its
// owner's secret, whose body is its status answer.
func TestWebhookDelivered(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{mutate: fastWebhooks})
	hook := newHookReceiver(t, b.clock.Now)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("remote video")) }))
	defer src.Close()
	secret := b.webhookSecret(tokenA)

	jsonReq := b.newRequest(http.MethodPost, "/job/extract/video/audio/url", strings.NewReader(
		`{"video_url":"`+src.URL+`/v.mp4","webhook_url":"`+hook.URL+`/json"}`), tokenA)
	jsonReq.Header.Set("Content-Type", "application/json")
	ids := []string{
		b.jobID(b.submitFile(tokenA, []byte("a video"), "a.mp4", map[string]string{"webhook_url": hook.URL + "/upload?n=1"}, "")),
		b.jobID(b.submitFile(tokenA, []byte("FAIL"), "b.mp4", map[string]string{"webhook_url": hook.URL + "/failed"}, "")),
		b.jobID(b.do(jsonReq)),
		b.jobID(b.submitURL(tokenA, src.URL+"/w.mp4", map[string]string{"webhook_url": hook.URL + "/form"})),
	}
	plain := b.jobID(b.submitFile(tokenA, []byte("a video"), "c.mp4", nil, ""))

	got := map[string]hookCall{}
	for range ids {
		c := hook.next(t)
		var body map[string]any
		require.NoError(t, json.Unmarshal(c.body, &body))
		id, _ := body["job_id"].(string)
		require.NotContains(t, got, id, "one message per job")
		got[id] = c
		b.openapi.checkWebhook(t, c)
	}
	for i, id := range ids {
		c, ok := got[id]
		require.True(t, ok, "job %s got no message", id)
		st := b.waitWebhook(tokenA, id, "delivered")
		wh := st["webhook"].(map[string]any)
		assert.Equal(t, "delivered", wh["state"])
		assert.Equal(t, 1.0, wh["attempts"])
		assert.Equal(t, "delivered", wh["last_result"])
		assert.NotContains(t, wh, "next_attempt_at")
		assert.Equal(t, wh["delivery_id"], c.header.Get(webhook.DeliveryHeader))
		assert.Equal(t, "1", c.header.Get(webhook.AttemptHeader))

		// The signature holds, with this owner's secret only.
		sig := c.header.Get(client.WebhookSignatureHeader)
		require.NoError(t, client.VerifyWebhook(secret, sig, c.body, b.clock.Now(), 0), "job %d", i)
		assert.ErrorIs(t, client.VerifyWebhook(b.webhookSecret(tokenB), sig, c.body, b.clock.Now(), 0), client.ErrWebhookSignature)

		// The body is the status answer, as of the attempt.
		var body map[string]any
		require.NoError(t, json.Unmarshal(c.body, &body))
		for _, k := range []string{"job_id", "status", "url", "message", "code", "state", "metadata"} {
			assert.Equal(t, st[k], body[k], "job %d: %s", i, k)
		}
		assert.Equal(t, "pending", body["webhook"].(map[string]any)["state"], "the attempt under way")
	}
	var failed map[string]any
	require.NoError(t, json.Unmarshal(got[ids[1]].body, &failed))
	assert.Equal(t, statusFailed, failed["status"])
	assert.Equal(t, jobs.CodeNoAudio, failed["code"])

	// Nothing for the job without a webhook, and no webhook field in its
	// status: strict clients see the answer they always saw.
	assert.NotContains(t, b.waitStatus(tokenA, plain), "webhook")
	assert.Equal(t, len(ids), hook.count(), "exactly one message per job")
}

// TestWebhookBackoff: a receiver that answers 500 twice, then 200, gets 3
// attempts, spaced by the backoff (the test moves the clock to each due
// time; no attempt comes before it).
func TestWebhookBackoff(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{mutate: fastWebhooks})
	hook := newHookReceiver(t, b.clock.Now, http.StatusInternalServerError, http.StatusInternalServerError)
	id := b.jobID(b.submitFile(tokenA, []byte("a video"), "a.mp4", map[string]string{"webhook_url": hook.URL}, ""))
	secret := b.webhookSecret(tokenA)

	var ats []time.Time
	var deliveries []string
	for attempt := 1; ; attempt++ {
		c := hook.next(t)
		ats = append(ats, c.at)
		deliveries = append(deliveries, c.header.Get(webhook.DeliveryHeader))
		assert.Equal(t, strconv.Itoa(attempt), c.header.Get(webhook.AttemptHeader))
		sig := c.header.Get(webhook.SignatureHeader)
		require.NoError(t, client.VerifyWebhook(secret, sig, c.body, c.at, time.Second), "signed at the attempt's time")
		if attempt == 3 {
			break
		}
		// The failed attempt is recorded, with the next one's time.
		var wh map[string]any
		require.Eventually(t, func() bool {
			wh, _ = b.status(tokenA, id).json(t)["webhook"].(map[string]any)
			return wh["attempts"] == float64(attempt)
		}, 20*time.Second, time.Millisecond)
		assert.Equal(t, "pending", wh["state"])
		assert.Contains(t, wh["last_result"], "500 Internal Server Error")
		last, err := time.Parse(time.RFC3339Nano, wh["last_attempt_at"].(string))
		require.NoError(t, err)
		assert.True(t, last.Equal(c.at), "last_attempt_at %v, attempt at %v", last, c.at)
		next, err := time.Parse(time.RFC3339Nano, wh["next_attempt_at"].(string))
		require.NoError(t, err)
		assert.Equal(t, attempt, hook.count(), "no attempt before its time")
		b.clock.ns.Store(next.UnixNano())
	}
	st := b.waitWebhook(tokenA, id, "delivered")
	assert.Equal(t, 3.0, st["webhook"].(map[string]any)["attempts"])
	assert.Equal(t, 3, hook.count())
	assert.Equal(t, deliveries[0], deliveries[1], "one delivery id for every attempt")
	assert.Equal(t, deliveries[0], deliveries[2])
	// Backoff: 10 s, then 20 s, each ±25 %.
	gap1, gap2 := ats[1].Sub(ats[0]), ats[2].Sub(ats[1])
	assert.True(t, gap1 >= 7500*time.Millisecond && gap1 <= 12500*time.Millisecond, "first gap %v", gap1)
	assert.True(t, gap2 >= 15*time.Second && gap2 <= 25*time.Second, "second gap %v", gap2)
	t.Logf("attempts at +0, +%v, +%v", gap1, gap1+gap2)
}

// TestWebhookGone: 410 stops the attempts.
func TestWebhookGone(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{mutate: fastWebhooks})
	hook := newHookReceiver(t, b.clock.Now, http.StatusGone)
	id := b.jobID(b.submitFile(tokenA, []byte("a video"), "a.mp4", map[string]string{"webhook_url": hook.URL}, ""))
	st := b.waitWebhook(tokenA, id, "rejected")
	wh := st["webhook"].(map[string]any)
	assert.Equal(t, 1.0, wh["attempts"])
	assert.Contains(t, wh["last_result"], "410 Gone")
	assert.NotContains(t, wh, "next_attempt_at")
	b.clock.Advance(48 * time.Hour)
	assert.Equal(t, 1, hook.count())
}

// TestWebhookPrivateAddresses: without AllowPrivateFetch, a webhook_url
// naming a loopback or private address is refused at submission, and one
// whose name resolves to such an address is refused when connecting:
// nothing reaches the receiver.
func TestWebhookPrivateAddresses(t *testing.T) {
	t.Parallel()
	b := newBundle(t, &bundleOpts{mutate: func(c *Config) {
		fastWebhooks(c)
		c.AllowPrivateFetch = false
	}})
	hook := newHookReceiver(t, b.clock.Now)
	port := hook.URL[strings.LastIndexByte(hook.URL, ':'):]
	for _, u := range []string{hook.URL, "http://10.0.0.1/hook", "http://[fd12::1]/", "http://169.254.169.254/latest", "http://[::ffff:192.168.1.1]/"} {
		r := b.submitFile(tokenA, []byte("a video"), "a.mp4", map[string]string{"webhook_url": u}, "")
		require.Equal(t, http.StatusBadRequest, r.StatusCode, u)
		e := r.json(t)
		assert.Equal(t, "invalid_params", e["code"])
		assert.Equal(t, fieldWebhookURL, e["fields"].([]any)[0].(map[string]any)["field"], u)
		assert.Contains(t, e["error"], "forbidden address", u)
	}
	assert.Zero(t, b.jobCount(), "nothing stored")
	assert.Empty(t, b.uploads())

	id := b.jobID(b.submitFile(tokenA, []byte("a video"), "a.mp4", map[string]string{"webhook_url": "http://localhost" + port + "/hook"}, ""))
	st := b.waitWebhook(tokenA, id, "rejected")
	assert.Contains(t, st["webhook"].(map[string]any)["last_result"], "forbidden address")
	assert.Equal(t, statusSuccessful, st["status"], "the job itself is fine")
	assert.Zero(t, hook.count(), "nothing reached the receiver")
}

func TestWebhookSecretRoute(t *testing.T) {
	t.Parallel()
	b := newBundle(t, nil)
	alice := b.webhookSecret(tokenA)
	assert.Regexp(t, `^whsec_[A-Za-z0-9_-]{43}$`, alice)
	req := b.newRequest(http.MethodGet, "/webhooks/secret", nil, "")
	req.SetBasicAuth("alice", "pw")
	r := b.do(req)
	require.Equal(t, http.StatusOK, r.StatusCode)
	assert.Equal(t, map[string]any{"owner": "alice", "secret": alice}, r.json(t), "one secret per owner, whichever credential")
	assert.NotEqual(t, alice, b.webhookSecret(tokenB))
	assert.Equal(t, http.StatusUnauthorized, b.do(b.newRequest(http.MethodGet, "/webhooks/secret", nil, "")).StatusCode)

	// Derived from the signing key: the same key, the same secret.
	s1, err := newSigner([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	s2, err := newSigner([]byte(strings.Repeat("k", 32)))
	require.NoError(t, err)
	s3, err := newSigner([]byte(strings.Repeat("j", 32)))
	require.NoError(t, err)
	assert.Equal(t, s1.webhookSecret("alice"), s2.webhookSecret("alice"))
	assert.NotEqual(t, s1.webhookSecret("alice"), s3.webhookSecret("alice"))
	assert.NotEqual(t, s1.webhookSecret("alice"), s1.webhookSecret("alice "))
}

func TestWebhookTarget(t *testing.T) {
	t.Parallel()
	tg, err := decodeTarget(encodeTarget("https://h.example/x?y=1", "http://127.0.0.1:8080"))
	require.NoError(t, err)
	assert.Equal(t, &webhookTarget{V: 1, URL: "https://h.example/x?y=1", Base: "http://127.0.0.1:8080"}, tg)
	tg, err = decodeTarget("")
	require.NoError(t, err)
	assert.Nil(t, tg)
	_, err = decodeTarget(`{"v":2,"url":"x"}`)
	assert.ErrorContains(t, err, "version 2")
	_, err = decodeTarget(`not json`)
	assert.Error(t, err)
}
