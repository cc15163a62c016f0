package httpapi

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/fetch"
	"github.com/audex/audex/internal/isolate"
	"github.com/audex/audex/jobs"
)

func TestMain(m *testing.M) {
	if os.Getenv(isolateChildEnv) == "1" {
		if err := isolate.ServeProcess(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "isolate:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	for _, f := range extract.Formats() {
		openapi3filter.RegisterBodyDecoder(f.MIMEType(), openapi3filter.FileBodyDecoder)
	}
	openapi3filter.RegisterBodyDecoder("application/octet-stream", openapi3filter.FileBodyDecoder)
	// The playground page and its assets.
	for _, ct := range []string{"text/html", "text/css", "text/javascript", "text/event-stream"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	goleak.VerifyTestMain(m)
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// fakeExtractor stands in for the pipeline where a test is about HTTP, not
// audio: it writes payloadSize deterministic bytes, fails inputs that start
// with "FAIL", and holds inputs that start with "HOLD" until release.
type fakeExtractor struct {
	hold    chan struct{}
	mu      sync.Mutex
	started int
}

const payloadSize = 10_000

func payload() []byte {
	b := make([]byte, payloadSize)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func (f *fakeExtractor) Extract(ctx context.Context, dst, src string, opts extract.Options) (*extract.Result, error) {
	f.mu.Lock()
	f.started++
	f.mu.Unlock()
	// Only the head decides; inputs may be large.
	fh, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	in := make([]byte, 4)
	n, _ := io.ReadFull(fh, in)
	fh.Close()
	in = in[:n]
	switch {
	case bytes.HasPrefix(in, []byte("FAIL")):
		return nil, fmt.Errorf("extract: open input: %w", extract.ErrNoAudio)
	case bytes.HasPrefix(in, []byte("HOLD")):
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", extract.ErrCanceled, ctx.Err())
		}
	}
	if opts.Progress != nil {
		opts.Progress(extract.Progress{Done: opts.Duration / 2, Total: opts.Duration})
	}
	if err := os.WriteFile(dst, payload(), 0o640); err != nil {
		return nil, err
	}
	return &extract.Result{
		Format: opts.Format, Codec: "fake", SampleRate: 48000, Channels: 2, ChannelLayout: "stereo",
		Start: opts.Start, Duration: opts.Duration, Samples: int64(opts.Duration.Seconds() * 48000),
		Bytes: payloadSize, Input: extract.AudioTrack{Track: 1, Codec: "aac", SampleRate: 48000, Channels: 2},
	}, nil
}

// bundle is one server on a loopback listener with its own data dir,
// clock and manager.
type bundle struct {
	t       testing.TB
	cfg     Config
	m       *jobs.Manager
	s       *Server
	ts      *httptest.Server
	clock   *clock
	fake    *fakeExtractor
	client  *http.Client
	logs    *bytes.Buffer
	logMu   *sync.Mutex
	openapi *openAPIValidator
}

type bundleOpts struct {
	workers   int
	queueSize int
	extractor jobs.Extractor
	realClock bool   // job times from time.Now instead of the frozen test clock
	dir       string // data directory; defaults to a new temporary one
	blobs     jobs.Blobs
	store     string        // the manager's Store; "" for the embedded one
	sweep     time.Duration // the manager's SweepInterval; defaults to its own
	mutate    func(*Config)
}

const (
	tokenA = "token-of-alice"
	tokenB = "token-of-bob"
)

func newBundle(t testing.TB, o *bundleOpts) *bundle {
	t.Helper()
	if o == nil {
		o = &bundleOpts{}
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	b := &bundle{t: t, clock: newClock(), fake: &fakeExtractor{hold: make(chan struct{})}, logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{mu: b.logMu, w: b.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var ex jobs.Extractor = b.fake
	if o.extractor != nil {
		ex = o.extractor
	}
	now := b.clock.Now
	if o.realClock {
		now = time.Now
	}
	cfg := Config{
		DataDir:           dir,
		Store:             o.store,
		Credentials:       []Credential{{Owner: "alice", Token: tokenA}, {Owner: "bob", Token: tokenB}, {Owner: "alice", User: "alice", Password: "pw"}},
		MaxUploadBytes:    1 << 20,
		UploadIdleTimeout: 2 * time.Second,
		AllowPrivateFetch: true,
		Now:               now,
		Logger:            logger,
	}
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	workers := o.workers
	if workers == 0 {
		workers = 2
	}
	fetchIdle := cfg.FetchIdleTimeout
	full, err := cfg.withDefaults()
	require.NoError(t, err)
	full.FetchIdleTimeout = cmp.Or(fetchIdle, 5*time.Second)
	m, err := jobs.New(jobs.Config{
		Dir: dir, Store: o.store, Workers: workers, QueueSize: o.queueSize, MinFreeBytes: cfg.MinFreeBytes, Extractor: ex, Now: now, Logger: logger,
		Fetcher: JobFetcher(newTestFetcher(full)), Blobs: o.blobs, SweepInterval: o.sweep,
	})
	require.NoError(t, err)
	s, err := New(cfg, m)
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ReadHeaderTimeout = DefaultReadHeaderTimeout
	ts.Config.IdleTimeout = DefaultIdleTimeout
	ts.Config.MaxHeaderBytes = maxHeaderBytes
	ts.Start()
	b.cfg, b.m, b.s, b.ts = s.cfg, m, s, ts
	b.client = ts.Client()
	b.openapi = newOpenAPIValidator(t)
	t.Cleanup(func() {
		close(b.fake.hold)
		ts.Close()
		b.client.CloseIdleConnections()
		require.NoError(t, m.Close())
	})
	return b
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (b *bundle) logText() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.logs.String()
}

// response is a fully read response that was validated against the
// OpenAPI document.
type response struct {
	*http.Response
	body []byte
}

func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal(r.body, &v), "body %q", r.body)
	return v
}

// do sends req, reads the whole response and checks it against the OpenAPI
// document.
func (b *bundle) do(req *http.Request) *response {
	b.t.Helper()
	return b.doWith(b.client, req)
}

// noRedirects is the bundle's client, but answering redirects instead of
// following them.
func (b *bundle) noRedirects() *http.Client {
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// doWith is do through client c.
func (b *bundle) doWith(c *http.Client, req *http.Request) *response {
	b.t.Helper()
	reqBody := []byte(nil)
	if req.GetBody != nil {
		rc, err := req.GetBody()
		require.NoError(b.t, err)
		reqBody, _ = io.ReadAll(rc)
	}
	resp, err := c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	b.openapi.check(b.t, req, reqBody, resp, body)
	return &response{Response: resp, body: body}
}

func (b *bundle) url(path string) string { return b.ts.URL + path }

func (b *bundle) newRequest(method, path string, body io.Reader, token string) *http.Request {
	b.t.Helper()
	target := path
	if !strings.HasPrefix(path, "http") {
		target = b.url(path)
	}
	req, err := http.NewRequest(method, target, body)
	require.NoError(b.t, err)
	if token != "" {
		req.Header.Set(TokenHeader, token)
	}
	return req
}

// multipartBody builds a submit body; the video part comes first unless
// fieldsFirst.
func multipartBody(t testing.TB, video []byte, filename string, fields map[string]string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if video != nil {
		fw, err := mw.CreateFormFile("video", filename)
		require.NoError(t, err)
		fw.Write(video)
	}
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	require.NoError(t, mw.Close())
	return &buf, mw.FormDataContentType()
}

func (b *bundle) submitFile(token string, video []byte, filename string, fields map[string]string, query string) *response {
	b.t.Helper()
	body, ct := multipartBody(b.t, video, filename, fields)
	path := "/job/extract/video/audio/file"
	if query != "" {
		path += "?" + query
	}
	req := b.newRequest(http.MethodPost, path, body, token)
	req.Header.Set("Content-Type", ct)
	return b.do(req)
}

func (b *bundle) submitURL(token, videoURL string, fields map[string]string) *response {
	b.t.Helper()
	v := url.Values{}
	if videoURL != "" {
		v.Set("video_url", videoURL)
	}
	for k, x := range fields {
		v.Set(k, x)
	}
	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/url", strings.NewReader(v.Encode()), token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *bundle) status(token, id string) *response {
	b.t.Helper()
	return b.do(b.newRequest(http.MethodGet, "/job/extract/video/audio/status/"+id, nil, token))
}

// jobID submits and returns the new job's id, requiring success.
func (b *bundle) jobID(r *response) string {
	b.t.Helper()
	require.Equal(b.t, http.StatusOK, r.StatusCode, "body %s", r.body)
	id, _ := r.json(b.t)["job_id"].(string)
	require.True(b.t, validJobID(id), id)
	return id
}

// waitStatus polls until the job's status is not pending.
func (b *bundle) waitStatus(token, id string) map[string]any {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.t.Context(), 30*time.Second)
	defer cancel()
	_, err := b.m.Wait(ctx, id)
	require.NoError(b.t, err)
	r := b.status(token, id)
	require.Equal(b.t, http.StatusOK, r.StatusCode)
	st := r.json(b.t)
	require.NotEqual(b.t, statusPending, st["status"])
	return st
}

// uploads lists the files left in the uploads directory.
func (b *bundle) uploads() []string {
	m, _ := filepath.Glob(filepath.Join(b.cfg.DataDir, uploadsDir, "*"))
	return m
}

// jobCount counts the jobs the manager knows.
func (b *bundle) jobCount() int {
	b.t.Helper()
	l, err := b.m.List("")
	require.NoError(b.t, err)
	return len(l)
}

// openAPIValidator checks responses against openapi.json with kin-openapi,
// and that every JSON property in a response is documented.
type openAPIValidator struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	openAPIOnce sync.Once
	openAPIv    *openAPIValidator
	openAPIErr  error
)

func newOpenAPIValidator(t testing.TB) *openAPIValidator {
	t.Helper()
	openAPIOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(openAPIDoc)
		if err != nil {
			openAPIErr = err
			return
		}
		if err = doc.Validate(loader.Context); err != nil {
			openAPIErr = err
			return
		}
		router, err := legacy.NewRouter(doc)
		openAPIv, openAPIErr = &openAPIValidator{doc: doc, router: router}, err
	})
	require.NoError(t, openAPIErr)
	return openAPIv
}

func (v *openAPIValidator) check(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	t.Helper()
	// Route on the path alone: the document has no servers.
	rreq := req.Clone(context.Background())
	rreq.URL = &url.URL{Path: req.URL.Path, RawQuery: req.URL.RawQuery}
	if strings.HasPrefix(req.URL.Path, resultsPrefix) {
		// Path parameters may hold anything, escaped; the router matches
		// decoded segments only.
		rreq.URL.Path = resultsPrefix + "id/name"
	}
	rreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := v.router.FindRoute(rreq)
	if err != nil {
		// Only unknown paths and methods may be undocumented.
		require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, resp.StatusCode, "undocumented %s %s: %v", req.Method, req.URL.Path, err)
		return
	}
	if resp.StatusCode == http.StatusOK && req.Method == http.MethodPost && req.GetBody != nil {
		// An accepted submission must also be a request the document allows.
		rin := &openapi3filter.RequestValidationInput{Request: rreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
		require.NoError(t, openapi3filter.ValidateRequest(context.Background(), rin), "request %s %s", req.Method, req.URL.Path)
		rreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: rreq, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if req.Method == http.MethodHead || resp.StatusCode == http.StatusPartialContent {
		in.Options.ExcludeResponseBody = true
	}
	in.SetBodyBytes(body)
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), in), "%s %s -> %d %s", req.Method, req.URL.Path, resp.StatusCode, body)

	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || len(body) == 0 {
		return
	}
	op := route.Operation
	rsp := op.Responses.Status(resp.StatusCode)
	require.NotNil(t, rsp)
	mt := rsp.Value.Content.Get("application/json")
	require.NotNil(t, mt)
	var val any
	require.NoError(t, json.Unmarshal(body, &val))
	requireDocumented(t, "", mt.Schema, val)
}

// requireDocumented fails on a JSON property the schema does not name.
func requireDocumented(t testing.TB, at string, s *openapi3.SchemaRef, val any) {
	t.Helper()
	if s == nil || s.Value == nil {
		return
	}
	switch x := val.(type) {
	case map[string]any:
		if len(s.Value.Properties) == 0 {
			return // a free-form object
		}
		for k, v := range x {
			ps, ok := s.Value.Properties[k]
			require.True(t, ok, "undocumented property %s.%s", at, k)
			requireDocumented(t, at+"."+k, ps, v)
		}
	case []any:
		if s.Value.Items != nil {
			for _, v := range x {
				requireDocumented(t, at+"[]", s.Value.Items, v)
			}
		}
	}
}

func newTestFetcher(cfg Config) *fetch.Fetcher {
	return fetch.New(&fetch.Options{AllowPrivate: cfg.AllowPrivateFetch, MaxBytes: cfg.MaxFetchBytes, IdleTimeout: cmp.Or(cfg.FetchIdleTimeout, 5*time.Second)})
}
