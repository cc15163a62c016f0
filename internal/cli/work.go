package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/audex/audex/internal/fetch"
	"github.com/audex/audex/internal/httpapi"
	"github.com/audex/audex/jobs"
)

var workCmd = &command{
	name:    "work",
	args:    "--store URL --blobs URL [flags]",
	summary: "run jobs of a shared store, without HTTP (a work node)",
	help: `
Runs the jobs that the replicas ('audex serve --store …') accept: a work
node claims queued jobs from the PostgreSQL store named by --store,
downloads each job's input from the bucket named by --blobs into
--data-dir's tmp/, extracts it in one of --workers isolate processes and
puts the result in the bucket. It also fetches the inputs of video_url
jobs, --fetchers at a time. It serves no HTTP; start as many as the load
needs, on any machines that reach the store and the bucket.

Each node tells the store it is alive every few seconds. When a node dies
(SIGKILL, power loss), the others re-run its jobs within 60 seconds,
whatever the jobs' timeouts; a job whose node dies twice ends
worker_crashed. On SIGINT or SIGTERM the node takes no new job and gives
its running ones --drain-timeout to finish; those cut off go back to the
queue without counting a crash, and another node runs them.

--job-timeout and --retention apply to the jobs this node runs: give every
node and replica the same values. Expired results are deleted by one node
of the store at a time, every --sweep-interval of whichever node it is.
The schema is applied at start ('audex migrate' applies it ahead of a
rollout). Every flag can also be set by the environment variable shown
after it. Logs are JSON lines on standard error.

Examples:
  audex work --store postgres://audex@db:5432/audex --blobs 's3://media/audex?endpoint=http://s3:9000'
  AUDEX_STORE=postgres://audex@db/audex AUDEX_BLOBS=s3://media/audex audex work --workers 4 --data-dir /var/tmp/audex
`,
}

func init() { workCmd.run = runWork }

func runWork(ctx context.Context, e *env, args []string) error {
	fs := workCmd.newFlags()
	cfg := jobs.Config{}
	fs.StringVar(&cfg.Store, "store", "", storeUsage)
	blobs := fs.String("blobs", "", blobsUsage)
	fs.StringVar(&cfg.Dir, "data-dir", "audex-data", "`DIR` for this node's temporary files: inputs being extracted, results being written")
	var workers workersValue
	fs.Var(&workers, "workers", "extractions run at once, `N` (default: the CPU count)")
	fs.IntVar(&cfg.Fetchers, "fetchers", 0, "video_url inputs downloaded at once, `N` (default 4)")
	fs.DurationVar(&cfg.JobTimeout, "job-timeout", 0, "bound on one job attempt, e.g. 5m (default: 60s + 30s per 100 MB of input, at most 30m)")
	fs.DurationVar(&cfg.Retention, "retention", 0, "how long a non-persistent result stays downloadable (default 15m)")
	fs.DurationVar(&cfg.ExpiredGrace, "expired-grace", 0, "how long an expired job still answers as expired before it is forgotten (default 24h)")
	fs.DurationVar(&cfg.SweepInterval, "sweep-interval", 0, "how often expired results are deleted and forgotten jobs removed, by one node of the store at a time (default 1m)")
	maxFetch := sizeFlag(fs, "max-fetch", "largest video_url download (default 2GiB)")
	fetchIdle := fs.Duration("fetch-idle-timeout", 0, "end a video_url download that brings less than 16 KiB in this long (default 30s)")
	allowPrivate := fs.Bool("allow-private-fetch", false, "let video_url reach loopback and private addresses (tests, closed networks)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "on shutdown, time given to running jobs before they are cut off and re-queued")
	logLevel := fs.String("log-level", "info", "`LEVEL` of the JSON log: debug, info, warn or error")
	var run runFlags
	run.register(fs)
	withEnv(fs)

	pos, err := workCmd.parse(e, fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	if err := fromEnv(fs, e.getenv); err != nil {
		return err
	}
	log, err := jsonLogger(e.stderr, *logLevel)
	if err != nil {
		return err
	}
	shared, err := sharedStore(cfg.Store)
	if err != nil {
		return err
	}
	switch {
	case !shared:
		return usagef("--store: a work node runs the jobs of a shared store: give --store postgres://…")
	case *blobs == "":
		return usagef("--blobs: a work node reads inputs from and writes results to the bucket the replicas use: give --blobs s3://…")
	case workers.set && workers.n == 0:
		return usagef("--workers 0: a work node without workers would run nothing")
	case cfg.Fetchers < 0:
		return usagef("--fetchers must not be negative")
	case *drain < 0:
		return usagef("--drain-timeout must not be negative")
	}
	if err := run.check(); err != nil {
		return err
	}
	if cfg.Blobs, err = openBlobs(*blobs, e.getenv); err != nil {
		return err
	}
	cfg.Workers = workers.n
	if !workers.set {
		cfg.Workers = runtime.NumCPU()
	}
	cfg.Logger = log
	f := fetch.New(&fetch.Options{MaxBytes: maxFetch.n, IdleTimeout: *fetchIdle, AllowPrivate: *allowPrivate})
	defer f.CloseIdleConnections()
	cfg.Fetcher = httpapi.JobFetcher(f)
	ex, closeEx, err := run.extractor(cfg.Workers, log)
	if err != nil {
		return err
	}
	defer closeEx()
	cfg.Extractor = ex

	m, err := jobs.New(cfg)
	if err != nil {
		return fmt.Errorf("work: %w", err)
	}
	log.Info("working", "workers", cfg.Workers, "data_dir", cfg.Dir)
	<-ctx.Done()
	log.Info("draining", "timeout", drain.String())
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *drain)
	defer cancel()
	err = m.Shutdown(drainCtx)
	log.Info("stopped", "jobs_drained", err == nil)
	if errors.Is(err, context.DeadlineExceeded) {
		// The jobs cut off went back to the queue: not a failure.
		err = nil
	}
	return err
}
