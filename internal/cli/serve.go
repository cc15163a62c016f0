package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/jobs"
)

var serveCmd = &command{
	name:    "serve",
	args:    "[flags]",
	summary: "run the HTTP job service",
	help: `
Serves the hosted "extract audio from video" job API (and audex's
extensions, described at GET /openapi.json) until SIGINT or SIGTERM. Then,
for --shutdown-grace, /readyz answers 503 and new submissions get 503 with
Retry-After while status, downloads and streams go on answering, so that a
load balancer moves new work to other replicas; then it drains: the port
closes, requests and running jobs get --drain-timeout to finish, an upload
still arriving then gets 503 and is not kept, and jobs cut off resume at the
next start (with --store, on any node at once). Jobs, results and uploads
live in --data-dir. A browser pointed at the server gets the playground
page.

With --blobs s3://bucket/prefix, inputs and results live in an S3 bucket
(any S3-compatible store; ?endpoint=http://host:port for one that is not
AWS, ?region=… or $AWS_REGION), with the credentials of $AWS_ACCESS_KEY_ID,
$AWS_SECRET_ACCESS_KEY and $AWS_SESSION_TOKEN: a submission is accepted
only once its input is in the bucket, results are uploaded when done and
downloaded through the same signed links, and --data-dir keeps the job
store and temporary files. Alone (the embedded store), one server owns its
jobs and its bucket prefix: at start it removes the objects no job of its
own needs.

With --store postgres://…, the jobs live in PostgreSQL, shared by every
replica and by the work nodes ('audex work'), and --blobs must name the
bucket they all share; --data-dir keeps only this node's temporary files.
Every replica then needs the same --signing-key-file, so that a link or a
webhook signature made by one is valid on all. --workers 0 makes an
API-only replica: it accepts, answers and cancels jobs, and the work nodes
run them. The schema is applied at start ('audex migrate' applies it
ahead of a rollout).

Extractions run in --workers long-lived isolate processes of this binary, so
that a crash or a hang inside FFmpeg fails one job, not the service.

A job submitted with webhook_url gets its final status POSTed there, signed
with its owner's secret (GET /webhooks/secret), retried for 24 hours, and
delivered after a restart too. A status request with Accept:
text/event-stream gets the job's progress as server-sent events.

Every flag can also be set by the environment variable shown after it; a
flag given on the command line wins. Requests authenticate with the
apy-token header or HTTP Basic against --token and --credentials; without
either the server refuses to start unless --anonymous is given. Logs are
JSON lines on standard error.

Examples:
  audex serve --token s3cret
  AUDEX_TOKEN=s3cret AUDEX_DATA_DIR=/var/lib/audex audex serve --addr :9000 --workers 4
  audex serve --credentials /etc/audex/credentials --public-url https://audex.example.com
  audex serve --addr 127.0.0.1:8080 --anonymous          # local use only
  audex serve --token s3cret --workers 0 --store postgres://audex@db:5432/audex \
      --blobs 's3://media/audex?endpoint=http://s3:9000' --signing-key-file /etc/audex/signing.key
`,
}

func init() { serveCmd.run = runServe }

// defaultShutdownGrace gives load balancers that poll /readyz every second
// or two time to notice.
const defaultShutdownGrace = 5 * time.Second

func runServe(ctx context.Context, e *env, args []string) error {
	fs := serveCmd.newFlags()
	cfg := httpapi.Config{}
	fs.StringVar(&cfg.Addr, "addr", httpapi.DefaultAddr, "listen `ADDRESS` (host:port)")
	fs.StringVar(&cfg.DataDir, "data-dir", "audex-data", "`DIR` for the job store, uploads and results (with --store and --blobs: temporary files only)")
	fs.StringVar(&cfg.Store, "store", "", storeUsage+" (default: an embedded store in --data-dir)")
	blobs := fs.String("blobs", "", blobsUsage+" (default: files in --data-dir)")
	token := fs.String("token", "", "accepted API `TOKEN`s, separated by ';' (lines of the --credentials syntax also work)")
	credFile := fs.String("credentials", "", "`FILE` of credentials, one per line: '<owner> token <secret>', '<owner> basic <user>:<password>', '<owner> token-sha256 <hex>', '<owner> basic-sha256 <user> <hex>'")
	fs.BoolVar(&cfg.AllowAnonymous, "anonymous", false, "serve without credentials, every request as one owner (local use only)")
	var workers workersValue
	fs.Var(&workers, "workers", "extractions run at once, `N`; 0 for none, an API-only replica of a shared --store (default: the CPU count)")
	fs.IntVar(&cfg.QueueSize, "queue", 0, "jobs that may wait, `N`; more get 429 (default 100)")
	minFree := sizeFlag(fs, "min-free", "disk space kept free in --data-dir; submissions that would use it get 503 storage_full (default 512MiB)")
	fs.DurationVar(&cfg.JobTimeout, "job-timeout", 0, "bound on one job attempt, e.g. 5m (default: 60s + 30s per 100 MB of input, at most 30m)")
	fs.DurationVar(&cfg.Retention, "retention", 0, "how long a non-persistent result stays downloadable (default 15m)")
	fs.Float64Var(&cfg.SubmitRate, "submit-rate", 0, "`RATE` of submissions per second allowed to each owner, on average (default: no limit)")
	fs.IntVar(&cfg.SubmitBurst, "submit-burst", 0, "`N` submissions an owner may make at once within --submit-rate (default: the rate, at least 1)")
	maxUpload := sizeFlag(fs, "max-upload", "largest upload, e.g. 500MB or 2GiB (default 2GiB)")
	fs.DurationVar(&cfg.UploadIdleTimeout, "upload-idle-timeout", 0, "end an upload that sends nothing for this long (default 30s)")
	maxFetch := sizeFlag(fs, "max-fetch", "largest video_url download (default: --max-upload)")
	fs.DurationVar(&cfg.FetchIdleTimeout, "fetch-idle-timeout", 0, "end a video_url download that brings less than 16 KiB in this long (default 30s)")
	fs.BoolVar(&cfg.AllowPrivateFetch, "allow-private-fetch", false, "let video_url and webhook_url reach loopback and private addresses (tests, closed networks)")
	fs.IntVar(&cfg.MaxStreams, "max-streams", 0, "live status streams (server-sent events) open at once, `N`; more get 429 (default 1000)")
	fs.IntVar(&cfg.MaxStreamsPerOwner, "max-streams-per-owner", 0, "live status streams one owner may have open, `N` (default 20)")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "`URL` that result links start with, e.g. https://audex.example.com (default: the request's host)")
	fs.DurationVar(&cfg.PresignResults, "presign-results", 0, "with --blobs s3://…, answer a result link's GET with a redirect to a presigned URL of the bucket that lasts this long, e.g. 5m, instead of sending the bytes (clients must follow redirects, curl -L, and reach the bucket's endpoint; default 0: send them)")
	keyFile := fs.String("signing-key-file", "", "`FILE` holding the key that signs result links and webhooks, at least 32 bytes, the same on every replica; required with --store (default: a random key kept in --data-dir)")
	fs.DurationVar(&cfg.RetryAfter, "retry-after", 0, "what 429 and 503 answers tell clients to wait (default 5s)")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 0, "time allowed for a request's headers (default 10s)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "keep-alive connections idle this long are closed (default 1m)")
	fs.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", defaultShutdownGrace, "on shutdown, time for which /readyz fails and new submissions get 503 before the port closes; 0 for none")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 0, "on shutdown, time given to requests and running jobs (default 30s)")
	logLevel := fs.String("log-level", "info", "`LEVEL` of the JSON log: debug, info, warn or error")
	var run runFlags
	run.register(fs)
	withEnv(fs)

	pos, err := serveCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	if err := fromEnv(fs, e.getenv); err != nil {
		return err
	}
	cfg.MaxUploadBytes, cfg.MaxFetchBytes, cfg.MinFreeBytes = maxUpload.n, maxFetch.n, minFree.n
	log, err := jsonLogger(e.stderr, *logLevel)
	if err != nil {
		return err
	}
	if cfg.ShutdownGrace < 0 {
		return usagef("--shutdown-grace must not be negative")
	}
	if cfg.QueueSize < 0 || cfg.SubmitRate < 0 || cfg.SubmitBurst < 0 || cfg.MaxStreams < 0 || cfg.MaxStreamsPerOwner < 0 {
		return usagef("--queue, --submit-rate, --submit-burst and --max-streams[-per-owner] must not be negative")
	}
	shared, err := sharedStore(cfg.Store)
	if err != nil {
		return err
	}
	cfg.Workers = workers.workers()
	switch {
	case cfg.Workers == jobs.NoWorkers && !shared:
		return usagef("--workers 0 is an API-only replica: it needs a shared --store postgres://… and work nodes ('audex work')")
	case shared && *blobs == "":
		return usagef("--store is shared: give --blobs s3://… too, the bucket every node reads inputs from and writes results to")
	case shared && *keyFile == "":
		return usagef("--store is shared: give --signing-key-file, the same key on every replica, so that links and webhook signatures made by one hold on all")
	}
	if *token != "" {
		creds, err := httpapi.ParseCredentials(strings.NewReader(*token))
		if err != nil {
			return usagef("--token: %v", err)
		}
		cfg.Credentials = append(cfg.Credentials, creds...)
	}
	if *credFile != "" {
		creds, err := httpapi.LoadCredentialsFile(*credFile)
		if err != nil {
			return fail(*credFile, err)
		}
		cfg.Credentials = append(cfg.Credentials, creds...)
	}
	if len(cfg.Credentials) == 0 && !cfg.AllowAnonymous {
		return usagef("no credentials: give --token or --credentials (or $AUDEX_TOKEN, $AUDEX_CREDENTIALS), or --anonymous for local use")
	}
	if *keyFile != "" {
		key, err := os.ReadFile(*keyFile)
		if err != nil {
			return fail(*keyFile, err)
		}
		cfg.SigningKey = []byte(strings.TrimSpace(string(key)))
		if len(cfg.SigningKey) < httpapi.MinSigningKeyLen {
			return fail(*keyFile, fmt.Errorf("%d bytes of key, want at least %d", len(cfg.SigningKey), httpapi.MinSigningKeyLen))
		}
	}
	if cfg.Blobs, err = openBlobs(*blobs, e.getenv); err != nil {
		return err
	}
	if err := run.check(); err != nil {
		return err
	}
	cfg.Logger = log
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fail(cfg.DataDir, err)
	}
	ex, closeEx, err := run.extractor(cfg.Workers, log)
	if err != nil {
		return err
	}
	defer closeEx()
	cfg.Extractor = ex
	return httpapi.Run(ctx, cfg)
}

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return "AUDEX_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// withEnv shows each flag's variable in its help.
func withEnv(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " [$" + envName(f.Name) + "]" })
}

// fromEnv sets every flag not given on the command line from its variable.
func fromEnv(fs *flag.FlagSet, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(envName(f.Name))
		if err != nil || given[f.Name] || v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = usagef("$%s: invalid value %q: %v", envName(f.Name), v, e)
		}
	})
	return err
}

// byteSize is a flag taking a size such as 2GiB, 500MB, 1048576.
type byteSize struct{ n int64 }

func sizeFlag(fs *flag.FlagSet, name, usage string) *byteSize {
	b := &byteSize{}
	fs.Var(b, name, "`SIZE`: "+usage)
	return b
}

func (b *byteSize) String() string {
	if b == nil || b.n == 0 {
		return ""
	}
	return strconv.FormatInt(b.n, 10)
}

func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	b.n = n
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, errors.New("want a positive size such as 500MB, 2GiB or 1048576")
	}
	return n * mult, nil
}
