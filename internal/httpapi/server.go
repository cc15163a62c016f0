package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/audex/audex/internal/fetch"
	"github.com/audex/audex/internal/playground"
	"github.com/audex/audex/jobs"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the service's OpenAPI 3.1 document, as served at
// /openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// Route patterns (Go 1.22 ServeMux syntax).
const (
	routeSubmitFile = "POST /job/extract/video/audio/file"
	routeSubmitURL  = "POST /job/extract/video/audio/url"
	routeStatus     = "GET /job/extract/video/audio/status/{job_id}"
	routeDelete     = "DELETE /job/extract/video/audio/{job_id}"
	routeResult     = "GET /results/{job_id}/{name}"
	routeHealthz    = "GET /healthz"
	routeReadyz     = "GET /readyz"
	routeMetrics    = "GET /metrics"
	routeOpenAPI    = "GET /openapi.json"
	routePlayground = "GET /{$}"
	routeAssets     = "GET " + playground.AssetPrefix
	resultsPrefix   = "/results/"
	uploadsDir      = "uploads"
	uploadPattern   = "upload-*"
	anonymousOwner  = "anonymous"
)

// Server is the HTTP job service over a jobs.Manager. It is an http.Handler;
// Run and Serve wrap it in an http.Server with a manager of their own.
type Server struct {
	cfg       Config
	m         *jobs.Manager
	auth      *authenticator
	signer    *signer
	uploadDir string
	log       *slog.Logger
	mux       *http.ServeMux
	metrics   *metrics
	limiter   *rateLimiter
	streams   *streamLimiter
	// stopping is set by StopAccepting: /readyz fails, submissions get
	// 503, responses close their connections.
	stopping  atomic.Bool
	drain     chan struct{} // closed by SetDraining: live streams end
	drainOnce sync.Once
	// cut ends, at a drain's deadline, the uploads still arriving: they are
	// answered 503 and nothing of them is kept.
	cut    context.Context
	cutOff context.CancelFunc
}

// New returns the service for m. The caller keeps m: it must outlive the
// Server's use and is shut down by the caller (Run and Serve do both).
// cfg.DataDir must be m's data directory (else ErrDataDirMismatch, before
// anything is written), so the uploads and the signing key sit in a
// directory jobs.New has checked is its own. Leftover uploads of an earlier
// process in DataDir/uploads are removed. New starts the delivery of m's
// webhooks (m.StartNotifier), which stops with m; a manager serves one
// Server.
func New(cfg Config, m *jobs.Manager) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("httpapi: nil jobs.Manager")
	}
	if !sameDir(cfg.DataDir, m.Dir()) {
		return nil, fmt.Errorf("%w: %s, not %s", ErrDataDirMismatch, cfg.DataDir, m.Dir())
	}
	auth, err := newAuthenticator(cfg.Credentials)
	if err != nil {
		return nil, err
	}
	key := cfg.SigningKey
	if len(key) == 0 {
		if key, err = loadOrCreateKey(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	sgn, err := newSigner(key)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		m:         m,
		auth:      auth,
		signer:    sgn,
		uploadDir: filepath.Join(cfg.DataDir, uploadsDir),
		log:       cfg.Logger,
		// Rates are real time, whatever clock expiry runs on.
		limiter: newRateLimiter(cfg.SubmitRate, cfg.SubmitBurst, time.Now),
		streams: newStreamLimiter(cfg.MaxStreams, cfg.MaxStreamsPerOwner),
		drain:   make(chan struct{}),
	}
	s.cut, s.cutOff = context.WithCancel(context.Background())
	if err := os.MkdirAll(s.uploadDir, 0o700); err != nil {
		return nil, fmt.Errorf("httpapi: uploads dir: %w", err)
	}
	if stale, _ := filepath.Glob(filepath.Join(s.uploadDir, uploadPattern)); len(stale) > 0 {
		for _, p := range stale {
			os.Remove(p)
		}
		s.log.Info("removed stale uploads", "count", len(stale))
	}
	s.metrics = newMetrics(m, cfg.Now())
	s.routes()
	if err := s.startWebhooks(); err != nil {
		return nil, err
	}
	return s, nil
}

func sameDir(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	handle := mux.HandleFunc
	handle(routeSubmitFile, s.authed(s.handleSubmitFile))
	handle(routeSubmitURL, s.authed(s.handleSubmitURL))
	handle(routeStatus, s.authed(s.handleStatus))
	handle(routeDelete, s.authed(s.handleDelete))
	handle(routeResult, s.handleResult)
	handle(routeHealthz, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle(routeReadyz, s.handleReady)
	handle(routeMetrics, s.metrics.ServeHTTP)
	handle(routeOpenAPI, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPIDoc)
	})
	handle(routeProbe, s.authed(s.handleProbe))
	handle(routeWebhookSecret, s.authed(s.handleWebhookSecret))
	handle(routePeaks, s.authed(s.handlePeaks))
	pg := playground.Handler()
	handle(routePlayground, pg.ServeHTTP)
	handle(routeAssets, pg.ServeHTTP)
	handle("/", s.handleUnrouted)
	s.mux = mux
}

// ServeHTTP implements http.Handler: it logs every request as one JSON line
// with its job id, when it has one.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &reqInfo{}
	rw := &recorder{ResponseWriter: w, status: http.StatusOK}
	if s.stopping.Load() {
		// A load balancer's connections move to the other replicas.
		w.Header().Set("Connection", "close")
	}
	r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
	s.mux.ServeHTTP(rw, r)
	elapsed := time.Since(start)
	// The mux recorded the matched pattern on r.
	s.metrics.observe(r.Pattern, rw.status, elapsed)
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		// The path only: a result link's query holds its signature.
		slog.String("path", r.URL.Path),
		slog.Int("status", rw.status),
		slog.Int64("bytes", rw.bytes),
		slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		slog.String("remote", r.RemoteAddr),
	}
	if info.jobID != "" {
		attrs = append(attrs, slog.String("job", info.jobID))
	}
	if info.owner != "" {
		attrs = append(attrs, slog.String("owner", info.owner))
	}
	level := slog.LevelInfo
	if info.err != nil {
		attrs = append(attrs, slog.String("error", info.err.Error()))
		if rw.status >= 500 {
			level = slog.LevelError
		}
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// StopAccepting makes /readyz fail and new submissions answer 503 with
// Retry-After, and has every response close its connection, while status,
// downloads and live streams go on: the start of a shutdown's grace
// period, in which load balancers notice and send new work elsewhere. Run
// and Serve call it when their context ends.
func (s *Server) StopAccepting() {
	s.stopping.Store(true)
}

// SetDraining does what StopAccepting does and ends the live status
// streams, ahead of a shutdown (http.Server.Shutdown waits for open
// requests, and a stream would hold it to its drain timeout). Run and
// Serve call it when the grace period is over.
func (s *Server) SetDraining() {
	s.StopAccepting()
	s.drainOnce.Do(func() { close(s.drain) })
}

// cutUploads ends the uploads still arriving: each is answered 503 with
// Retry-After and its spooled part removed. Serve calls it at the drain
// deadline, before it closes the connections left.
func (s *Server) cutUploads() { s.cutOff() }

type reqInfoKey struct{}

// reqInfo collects what a handler learned for the request's log line.
type reqInfo struct {
	jobID, owner string
	err          error
}

func info(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// authed runs h for an authenticated owner; every failure gets the same 401.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, string)) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		owner, ok := s.auth.authenticate(r.Header)
		if !ok && s.cfg.AllowAnonymous && len(s.cfg.Credentials) == 0 {
			owner, ok = anonymousOwner, true
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="audex", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid credentials")
			return
		}
		info(r).owner = owner
		h(w, r, owner)
	}
}

// handleUnrouted answers 405 for a known path with another method, and
// 404 {"error": "not found"} for everything else.
func (s *Server) handleUnrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, method)
			if method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		return
	}
	writeError(w, http.StatusNotFound, "not_found", "not found")
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	// Submissions would fail: the store cannot be read or written, or the
	// data disk is below its free-space reserve.
	if err := s.m.Ready(); err != nil {
		info(r).err = err
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": jobs.ErrorCode(err)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// errorBody is the hosted API's error shape plus a machine code and, for
// invalid parameters, every rejected field.
type errorBody struct {
	Error  string       `json:"error"`
	Code   string       `json:"code,omitempty"`
	Fields []FieldError `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

// fail answers err: the jobs package's sentinels map to their statuses,
// anything unexpected to 500 with the detail only in the log.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	info(r).err = err
	var perr *ParamsError
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &perr):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: perr.Error(), Code: "invalid_params", Fields: perr.Fields})
	case errors.As(err, &maxErr):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over the %d byte limit", maxErr.Limit))
	case errors.Is(err, errTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, badRequestCode(err), err.Error())
	case errors.Is(err, errStalled):
		writeError(w, http.StatusRequestTimeout, "stalled", err.Error())
	case errors.Is(err, errUnsupportedMedia):
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", err.Error())
	case errors.Is(err, jobs.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, errRateLimited):
		wait := time.Second
		if e, ok := errors.AsType[*rateLimitError](err); ok {
			wait = e.wait
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, http.StatusTooManyRequests, "rate_limited", "too many submissions, retry later")
	case errors.Is(err, jobs.ErrQueueFull):
		s.retryAfter(w)
		writeError(w, http.StatusTooManyRequests, "queue_full", "the job queue is full, retry later")
	case errors.Is(err, jobs.ErrUnavailable) && errors.Is(err, syscall.ENOSPC):
		s.retryAfter(w)
		writeError(w, http.StatusServiceUnavailable, jobs.CodeStorageFull, "the service is out of storage, retry later")
	case errors.Is(err, jobs.ErrUnavailable), errors.Is(err, jobs.ErrClosed), errors.Is(err, errDraining):
		s.retryAfter(w)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the service is unavailable, retry later")
	case errors.Is(err, jobs.ErrInvalidRequest):
		writeError(w, http.StatusBadRequest, "invalid_request", strings.TrimPrefix(err.Error(), "jobs: "))
	case errors.Is(err, jobs.ErrExpired):
		writeError(w, http.StatusGone, "expired", "the result has expired")
	default:
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

func (s *Server) retryAfter(w http.ResponseWriter) {
	secs := int((s.cfg.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

// Run listens on cfg.Addr and serves until ctx is done, then shuts down
// gracefully (see Serve).
func Run(ctx context.Context, cfg Config) error {
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("httpapi: listen: %w", err)
	}
	return Serve(ctx, ln, cfg)
}

// Serve runs the service on ln with a job manager of its own on
// cfg.DataDir and cfg.Store (queued jobs of an earlier run resume; with a
// shared store, those of every node are there) until ctx is done.
// Then it stops accepting: /readyz fails and new submissions get 503 with
// Retry-After at once, while everything else (status, downloads, streams,
// uploads under way) goes on answering for cfg.ShutdownGrace. Then it
// drains: the listener closes, live streams end, in-flight requests and
// running jobs get cfg.DrainTimeout to finish. An upload still arriving at
// that deadline is answered 503 and nothing of it is kept; jobs still
// running are canceled and re-queued for the next start (with a shared
// store, for any node). Serve returns nil
// after a clean drain.
func Serve(ctx context.Context, ln net.Listener, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		ln.Close()
		return err
	}
	fetcher := fetch.New(&fetch.Options{MaxBytes: cfg.MaxFetchBytes, IdleTimeout: cfg.FetchIdleTimeout, AllowPrivate: cfg.AllowPrivateFetch})
	defer fetcher.CloseIdleConnections()
	m, err := jobs.New(jobs.Config{
		Dir:          cfg.DataDir,
		Store:        cfg.Store,
		Workers:      cfg.Workers,
		QueueSize:    cfg.QueueSize,
		MinFreeBytes: cfg.MinFreeBytes,
		JobTimeout:   cfg.JobTimeout,
		Retention:    cfg.Retention,
		Extractor:    cfg.Extractor,
		Blobs:        cfg.Blobs,
		Fetcher:      JobFetcher(fetcher),
		Now:          cfg.Now,
		Logger:       cfg.Logger,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("httpapi: %w", err)
	}
	s, err := New(cfg, m)
	if err != nil {
		ln.Close()
		return errors.Join(err, m.Close())
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "data_dir", cfg.DataDir)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	s.StopAccepting()
	if serveErr == nil && cfg.ShutdownGrace > 0 {
		s.log.Info("shutting down", "grace", cfg.ShutdownGrace.String())
		grace := time.NewTimer(cfg.ShutdownGrace)
		select {
		case <-grace.C:
		case serveErr = <-served:
		}
		grace.Stop()
	}
	s.SetDraining()
	s.log.Info("draining", "timeout", cfg.DrainTimeout.String())
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.DrainTimeout)
	defer cancel()
	httpErr := hs.Shutdown(drainCtx)
	if httpErr != nil {
		// Uploads still arriving get their 503 before the connections
		// left are closed.
		s.cutUploads()
		answerCtx, cancelAnswer := context.WithTimeout(context.WithoutCancel(ctx), cutAnswerTimeout)
		hs.Shutdown(answerCtx)
		cancelAnswer()
		hs.Close()
	}
	jobsErr := m.Shutdown(drainCtx)
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	s.log.Info("stopped", "http_drained", httpErr == nil, "jobs_drained", jobsErr == nil)
	if errors.Is(jobsErr, context.DeadlineExceeded) {
		// Cut-off jobs were re-queued: not an error of the shutdown.
		jobsErr = nil
	}
	return errors.Join(serveErr, jobsErr)
}

// cutAnswerTimeout is what uploads cut off at the drain deadline get to
// send their 503 before their connections are closed.
const cutAnswerTimeout = 2 * time.Second

// maxHeaderBytes bounds a request's header block.
const maxHeaderBytes = 64 << 10

// JobFetcher is f as the job manager's Fetcher (jobs.Config.Fetcher): a
// download over f's size limit is the manager's input_too_large. The
// server's own manager uses it, and so does a work node's.
func JobFetcher(f *fetch.Fetcher) jobs.Fetcher { return jobFetcher{f} }

type jobFetcher struct{ f *fetch.Fetcher }

func (j jobFetcher) Fetch(ctx context.Context, url string, dst io.Writer) (int64, error) {
	n, err := j.f.Fetch(ctx, url, dst)
	if errors.Is(err, fetch.ErrTooLarge) {
		err = fmt.Errorf("%w: %w", jobs.ErrInputTooLarge, err)
	}
	return n, err
}
