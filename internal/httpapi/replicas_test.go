package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/audex/audex/internal/s3blobs"
	"github.com/audex/audex/internal/testsvc"
	"github.com/audex/audex/internal/webhook"
	"github.com/audex/audex/jobs"
)

// replicaKey is the signing key every replica of a test shares.
var replicaKey = []byte("the signing key all replicas share, 32+ bytes")

// TestSigningKeyShared: servers given the same signing key, on stores of
// their own, agree on everything derived from it: an owner's webhook
// secret, and a result link's signature (another server finds the link
// valid, 404 as the job is not in its store, where a server with another
// key answers 403).
func TestSigningKeyShared(t *testing.T) {
	t.Parallel()
	key := func(k []byte) func(*Config) { return func(c *Config) { c.SigningKey = k } }
	a := newBundle(t, &bundleOpts{mutate: key(replicaKey)})
	b := newBundle(t, &bundleOpts{mutate: key(replicaKey)})
	other := newBundle(t, &bundleOpts{mutate: key([]byte("another key of at least 32 bytes....."))})

	assert.Equal(t, a.webhookSecret(tokenA), b.webhookSecret(tokenA))
	assert.NotEqual(t, a.webhookSecret(tokenA), a.webhookSecret(tokenB), "each owner has its own")
	assert.NotEqual(t, a.webhookSecret(tokenA), other.webhookSecret(tokenA))

	id := a.jobID(a.submitFile(tokenA, []byte("v"), "x.mp4", nil, ""))
	link := a.waitStatus(tokenA, id)["url"].(string)
	path := strings.TrimPrefix(link, a.ts.URL)
	assert.Equal(t, http.StatusOK, a.do(a.newRequest(http.MethodGet, link, nil, "")).StatusCode)
	assert.Equal(t, http.StatusNotFound, b.do(b.newRequest(http.MethodGet, path, nil, "")).StatusCode, "a valid link, to a job b does not have")
	assert.Equal(t, http.StatusForbidden, other.do(other.newRequest(http.MethodGet, path, nil, "")).StatusCode)
}

// TestSharedStoreNeedsSigningKey: a shared store without a signing key is
// refused before anything starts: each replica would make a key of its
// own and refuse the others' links.
func TestSharedStoreNeedsSigningKey(t *testing.T) {
	t.Parallel()
	_, err := Config{DataDir: t.TempDir(), AllowAnonymous: true, Store: "postgres://audex@127.0.0.1:1/audex"}.withDefaults()
	assert.ErrorIs(t, err, ErrNoSigningKey)
	_, err = Config{DataDir: t.TempDir(), AllowAnonymous: true, Store: "postgres://audex@127.0.0.1:1/audex", SigningKey: replicaKey}.withDefaults()
	assert.NoError(t, err)
}

// TestReplicas: two replicas of one PostgreSQL store and one bucket, with
// the same signing key: a, API-only (jobs.NoWorkers), and b, which runs
// the jobs (one worker). A client cannot tell them apart: a job submitted
// to a is polled, streamed, canceled and downloaded through either; a
// status stream on a follows a job that b runs (b's changes reach a's
// manager through the store, not a timer: a's heartbeat is a minute); a
// cancel on a stops b's extraction and leaves no result; a link made by b
// downloads through a (which redirects to a presigned URL) and through b
// (which streams ranges); the webhook's signature verifies with the secret
// either replica gives; both report every job of the store in their job
// metrics.
func TestReplicas(t *testing.T) {
	t.Parallel()
	pg := testsvc.StartPostgres(t)
	db := pg.NewDatabase(t)
	srv := testsvc.StartS3(t)
	env := srv.Env()
	bucket := srv.URL(srv.NewBucket(t), "audex")
	blobs := func() jobs.Blobs {
		b, err := s3blobs.New(bucket, func(k string) string { return env[k] })
		require.NoError(t, err)
		return b
	}
	hooks := newHookReceiver(t, time.Now)
	ex := &steppedExtractor{step: make(chan struct{})} // its HOLD inputs wait until canceled
	replica := func(workers int, presign time.Duration) *bundle {
		return newBundle(t, &bundleOpts{workers: workers, store: db, blobs: blobs(), realClock: true, extractor: ex,
			mutate: func(c *Config) {
				c.SigningKey, c.PresignResults, c.StreamHeartbeat = replicaKey, presign, time.Minute
				fastWebhooks(c)
			}})
	}
	a := replica(jobs.NoWorkers, 10*time.Minute)
	b := replica(1, 0)
	bucketView := blobs()
	objects := func() []string {
		ls, err := bucketView.List(t.Context(), "")
		require.NoError(t, err)
		var ks []string
		for _, l := range ls {
			ks = append(ks, l.Key)
		}
		return ks
	}
	statusOn := func(x *bundle, id string) map[string]any {
		t.Helper()
		r := x.status(tokenA, id)
		require.Equal(t, http.StatusOK, r.StatusCode, "%s", r.body)
		return r.json(t)
	}
	waitState := func(x *bundle, id, state string) map[string]any {
		t.Helper()
		var st map[string]any
		require.Eventually(t, func() bool {
			st = statusOn(x, id)
			return st["state"] == state
		}, 30*time.Second, 20*time.Millisecond, "%s never %s", id, state)
		return st
	}
	assert.Equal(t, a.webhookSecret(tokenA), b.webhookSecret(tokenA))
	ready := a.do(a.newRequest(http.MethodGet, "/readyz", nil, ""))
	assert.Equal(t, http.StatusOK, ready.StatusCode, "an API-only replica needs no work node: %s", ready.body)
	metrics := string(a.do(a.newRequest(http.MethodGet, "/metrics", nil, "")).body)
	assert.Contains(t, metrics, `audex_workers{busy="false"} 0`)
	assert.Contains(t, metrics, `audex_workers{busy="true"} 0`)

	// A job that holds b's one worker until it is canceled, through a.
	held := a.jobID(a.submitFile(tokenA, []byte("HOLD"), "held.mp4", nil, ""))
	waitState(a, held, "running")
	// Queued behind it, a job with a webhook, streamed on a.
	id := a.jobID(a.submitFile(tokenA, []byte("STEP"), "talk.mp4", map[string]string{"webhook_url": hooks.URL}, ""))
	resp := a.openStream(tokenA, id)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	events := make(chan sseEvent, 100)
	streamDone := make(chan error, 1)
	go func() { streamDone <- a.statusEvents(resp.Body, events) }()
	waitEvent := func(what string, ok func(name string, st map[string]any) bool) map[string]any {
		t.Helper()
		for {
			select {
			case e, open := <-events:
				require.True(t, open, "the stream ended before %s", what)
				if e.name != eventStatus && e.name != eventDone {
					continue
				}
				var st map[string]any
				require.NoError(t, json.Unmarshal(e.data, &st))
				if ok(e.name, st) {
					return st
				}
				require.NotEqual(t, eventDone, e.name, "done before %s", what)
			case <-time.After(30 * time.Second):
				t.Fatalf("no %s on the stream", what)
			}
		}
	}
	waitEvent("queued", func(_ string, st map[string]any) bool { return st["state"] == "queued" })

	// Cancel on a reaches b's extraction; the next job starts on b and a's
	// stream shows it.
	assert.Equal(t, http.StatusNoContent, a.do(a.newRequest(http.MethodDelete, "/job/extract/video/audio/"+held, nil, tokenA)).StatusCode)
	st := waitState(b, held, "canceled")
	assert.Equal(t, statusFailed, st["status"])
	assert.Equal(t, jobs.CodeCanceled, st["code"])
	waitEvent("25 % on b", func(_ string, st map[string]any) bool { return st["state"] == "running" && st["progress"] == 25.0 })
	assert.False(t, slices.ContainsFunc(objects(), func(k string) bool { return strings.HasPrefix(k, "results/"+held) }), "no result of the canceled job")

	ex.step <- struct{}{}
	waitEvent("75 %", func(_ string, st map[string]any) bool { return st["progress"] == 75.0 })
	ex.step <- struct{}{}
	done := waitEvent("done", func(name string, _ map[string]any) bool { return name == eventDone })
	assert.Equal(t, statusSuccessful, done["status"])
	require.NoError(t, <-streamDone)

	// The link b gives downloads through a (a redirect to the bucket) and
	// through b (ranges streamed); a's link is the same but for the host.
	onB := statusOn(b, id)
	require.Equal(t, statusSuccessful, onB["status"])
	linkB := onB["url"].(string)
	assert.Equal(t, strings.TrimPrefix(linkB, b.ts.URL), strings.TrimPrefix(statusOn(a, id)["url"].(string), a.ts.URL))
	path := strings.TrimPrefix(linkB, b.ts.URL)
	redirect := a.doWith(a.noRedirects(), a.newRequest(http.MethodGet, path, nil, ""))
	require.Equal(t, http.StatusTemporaryRedirect, redirect.StatusCode, "%s", redirect.body)
	rp, body := getPresigned(t, redirect.Header.Get("Location"), "bytes=10-99")
	assert.Equal(t, http.StatusPartialContent, rp.StatusCode)
	assert.Equal(t, payload()[10:100], body)
	rng := b.newRequest(http.MethodGet, path, nil, "")
	rng.Header.Set("Range", "bytes=9000-9999")
	part := b.do(rng)
	assert.Equal(t, http.StatusPartialContent, part.StatusCode)
	assert.Equal(t, payload()[9000:], part.body)

	// The webhook, from whichever replica delivered it, verifies with
	// either replica's secret; its body is the status, link included.
	call := hooks.next(t)
	for _, x := range []*bundle{a, b} {
		assert.NoError(t, webhook.Verify(x.webhookSecret(tokenA), call.header.Get(webhook.SignatureHeader), call.body, time.Now(), time.Minute))
	}
	var hooked map[string]any
	require.NoError(t, json.Unmarshal(call.body, &hooked))
	assert.Equal(t, id, hooked["job_id"])
	assert.Equal(t, statusSuccessful, hooked["status"])
	assert.Equal(t, path, strings.TrimPrefix(hooked["url"].(string), a.ts.URL), "submitted to a: a's host")

	// Every replica's job metrics describe the whole store; the HTTP ones
	// its own work.
	for _, x := range []*bundle{a, b} {
		m := string(x.do(x.newRequest(http.MethodGet, "/metrics", nil, "")).body)
		assert.Contains(t, m, `audex_jobs{state="succeeded"} 1`)
		assert.Contains(t, m, `audex_jobs{state="canceled"} 1`)
		assert.Contains(t, m, `audex_job_duration_seconds_count{outcome="succeeded"} 1`)
		redirects := map[*bundle]string{a: "1", b: "0"}[x]
		assert.Contains(t, m, "audex_result_redirects_total "+redirects)
	}

	// Deleted through b: gone on a, link included, and from the bucket.
	assert.Equal(t, http.StatusNoContent, b.do(b.newRequest(http.MethodDelete, "/job/extract/video/audio/"+id, nil, tokenA)).StatusCode)
	assert.Equal(t, http.StatusNotFound, a.status(tokenA, id).StatusCode)
	gone := a.doWith(a.noRedirects(), a.newRequest(http.MethodGet, path, nil, ""))
	assert.Equal(t, http.StatusNotFound, gone.StatusCode)
	assert.Empty(t, gone.Header.Get("Location"))
	assert.False(t, slices.ContainsFunc(objects(), func(k string) bool { return strings.Contains(k, id) }), fmt.Sprint(objects()))
}
