package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/audex/audex/jobs"
)

// Config configures the HTTP service. Only DataDir and credentials (or
// AllowAnonymous) are required; zero values take the documented defaults.
type Config struct {
	// Addr is the listen address for Run. Defaults to ":8080".
	Addr string
	// DataDir holds the job store, inputs, results, in-flight uploads and the
	// link-signing key: it is the job manager's data directory
	// (jobs.Config.Dir), which must be new, empty or a data directory
	// already (see jobs.New). With a shared Store and Blobs elsewhere it
	// holds only this replica's uploads in flight and temporary files.
	// Required.
	DataDir string
	// Store is the job store of the manager that Run and Serve create
	// (jobs.Config.Store): "" is the embedded store in DataDir; a
	// postgres:// URL is shared by every replica and work node given it,
	// and any replica then answers for any job. A shared store needs
	// SigningKey (ErrNoSigningKey), the same on every replica, and Blobs.
	Store string

	// Credentials are the accepted apy-tokens and Basic logins. See
	// ParseCredentials for the file and environment syntax.
	Credentials []Credential
	// AllowAnonymous, when Credentials is empty, serves every request as
	// owner "anonymous". Only for local use; New fails when there are
	// neither credentials nor this.
	AllowAnonymous bool

	// Workers, QueueSize, MinFreeBytes, JobTimeout, Retention, Extractor
	// and Blobs configure the job manager that Run and Serve create (see
	// jobs.Config for their defaults; Workers jobs.NoWorkers makes an
	// API-only replica of a shared Store). New ignores them: its caller
	// owns the manager.
	Workers      int
	QueueSize    int
	MinFreeBytes int64
	JobTimeout   time.Duration
	Retention    time.Duration
	Extractor    jobs.Extractor
	// Blobs keeps inputs and results for the manager Run and Serve create
	// (jobs.Config.Blobs): nil means files in DataDir; an S3 bucket
	// (internal/s3blobs) is shared storage for many nodes.
	Blobs jobs.Blobs
	// PresignResults, when positive, has a result link's plain GET answer
	// 307 to a URL of the blob store that reads the result directly and
	// lasts this long (never past the result's expiry), instead of the
	// server sending the bytes; the link itself is unchanged and re-signs
	// on every request, so a persistent result outlives any presigned
	// URL. Only blobs that presign (jobs.Presigner: S3) do; HEAD,
	// conditional requests and results on disk are streamed as with 0,
	// the default. Clients must follow redirects (curl needs -L; most
	// HTTP libraries and browsers do by default) and reach the blob
	// store's endpoint (the one the servers use: see internal/s3blobs).
	// Keep it short (minutes): whoever holds the URL may read the result
	// until the URL expires or the result is deleted. S3 allows at most
	// 7 days.
	PresignResults time.Duration

	// SubmitRate limits each owner's submissions to this many per second on
	// average (a token bucket); more get 429 with Retry-After. 0 means no
	// limit.
	SubmitRate float64
	// SubmitBurst is how many submissions an owner may make at once within
	// SubmitRate. Defaults to SubmitRate rounded up (at least 1).
	SubmitBurst int

	// MaxUploadBytes bounds an uploaded file. Defaults to 2 GiB.
	MaxUploadBytes int64
	// UploadIdleTimeout ends an upload that sends nothing for this long.
	// Defaults to 30 s.
	UploadIdleTimeout time.Duration
	// MaxFetchBytes bounds a video_url download. Defaults to MaxUploadBytes.
	MaxFetchBytes int64
	// FetchIdleTimeout ends a video_url download that brings less than
	// 16 KiB in this long, as UploadIdleTimeout does an upload: a server
	// that trickles holds one of the job manager's fetch slots (never an
	// extraction worker) for this long at most. Defaults to 30 s.
	FetchIdleTimeout time.Duration
	// AllowPrivateFetch lets video_url and webhook_url reach loopback,
	// private and link-local addresses. For tests and closed networks only.
	AllowPrivateFetch bool
	// Webhooks configures the delivery of webhooks (see
	// jobs.NotifierOptions: concurrency, per-attempt timeout, backoff and
	// how long attempts go on). nil means its defaults.
	Webhooks *jobs.NotifierOptions

	// MaxStreams bounds the live status streams (Accept:
	// text/event-stream) open at once, MaxStreamsPerOwner those of one
	// owner; one more gets 429. Default 1000 and 20.
	MaxStreams         int
	MaxStreamsPerOwner int
	// StreamHeartbeat is how often an idle stream gets a comment line, so
	// that proxies and clients see it alive. Defaults to 15 s.
	StreamHeartbeat time.Duration

	// PublicURL is the scheme and host (and optional path prefix) result
	// links start with, e.g. "https://audex.example.com". Empty means the
	// request's own Host over http (https when TLS is terminated here).
	PublicURL string
	// SigningKey signs result links and derives the owners' webhook
	// secrets; at least 32 bytes. Every replica of a shared Store must
	// have the same, so that each accepts the links of all and signs
	// webhooks alike: nothing else of the service is derived from a key.
	// Empty means a random key kept in DataDir/signing.key, so links
	// survive restarts (refused with a shared Store).
	SigningKey []byte
	// RetryAfter is what 429 and 503 answers tell clients to wait.
	// Defaults to 5 s.
	RetryAfter time.Duration

	// ReadHeaderTimeout and IdleTimeout of the http.Server that Run and
	// Serve start. Default 10 s and 60 s.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// ShutdownGrace is how long Run and Serve, once their context ends, go
	// on answering with /readyz failing and new submissions refused (503
	// with Retry-After) before they drain: time for load balancers to send
	// new work to other replicas instead of to a closed port. 0 means none
	// (`audex serve` defaults to 5 s).
	ShutdownGrace time.Duration
	// DrainTimeout bounds a graceful shutdown: in-flight requests and
	// running jobs get this long before they are cut off (cut-off jobs are
	// re-queued for the next start). Defaults to 30 s.
	DrainTimeout time.Duration

	// Now is the clock for link expiry; Run and Serve give it to the job
	// manager too. Defaults to time.Now.
	Now func() time.Time
	// Logger receives JSON request and job logs. Defaults to JSON on stderr.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultAddr               = ":8080"
	DefaultMaxUploadBytes     = 2 << 30
	DefaultUploadIdleTimeout  = 30 * time.Second
	DefaultRetryAfter         = 5 * time.Second
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultIdleTimeout        = 60 * time.Second
	DefaultDrainTimeout       = 30 * time.Second
	DefaultMaxStreams         = 1000
	DefaultMaxStreamsPerOwner = 20
	DefaultStreamHeartbeat    = 15 * time.Second
)

// ErrNoCredentials: the configuration has neither credentials nor
// AllowAnonymous.
var ErrNoCredentials = errors.New("httpapi: no credentials configured (set credentials, or allow anonymous access)")

// ErrNoSigningKey: the configuration names a shared Store but no
// SigningKey, so each replica would sign with a key of its own and refuse
// the others' links.
var ErrNoSigningKey = errors.New("httpapi: a shared Store needs a SigningKey, the same on every replica")

// ErrDataDirMismatch: New was given a Config.DataDir that is not the
// jobs.Manager's data directory. Nothing was created in it.
var ErrDataDirMismatch = errors.New("httpapi: Config.DataDir is not the job manager's data directory")

func (c Config) withDefaults() (Config, error) {
	if c.DataDir == "" {
		return c, errors.New("httpapi: Config.DataDir is required")
	}
	if len(c.Credentials) == 0 && !c.AllowAnonymous {
		return c, ErrNoCredentials
	}
	if c.Store != "" && len(c.SigningKey) == 0 {
		return c, ErrNoSigningKey
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.UploadIdleTimeout <= 0 {
		c.UploadIdleTimeout = DefaultUploadIdleTimeout
	}
	if c.FetchIdleTimeout <= 0 {
		c.FetchIdleTimeout = DefaultUploadIdleTimeout
	}
	if c.MaxFetchBytes <= 0 {
		c.MaxFetchBytes = c.MaxUploadBytes
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.MaxStreamsPerOwner <= 0 {
		c.MaxStreamsPerOwner = DefaultMaxStreamsPerOwner
	}
	if c.StreamHeartbeat <= 0 {
		c.StreamHeartbeat = DefaultStreamHeartbeat
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return c, fmt.Errorf("httpapi: PublicURL %q: want http(s)://host[:port][/prefix]", c.PublicURL)
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}
	return c, nil
}
