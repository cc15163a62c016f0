package cli

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/audex/audex/internal/isolate"
	"github.com/audex/audex/internal/s3blobs"
	"github.com/audex/audex/jobs"
)

// What serve and work share: the job store and blob URLs, the runners and
// where they extract, the log.

// storeUsage is the --store flag's help on serve, work and migrate.
const storeUsage = "`URL` of the PostgreSQL job store shared by every replica and work node: postgres://user:password@host:port/database (or postgresql://…)"

// blobsUsage is the --blobs flag's help.
const blobsUsage = "`URL` of the storage for inputs and results: s3://bucket/prefix?endpoint=http://host:port&region=name, credentials from $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY"

// sharedStore reports whether --store names a shared (PostgreSQL) store,
// and refuses anything else but the embedded default "".
func sharedStore(url string) (bool, error) {
	switch {
	case url == "":
		return false, nil
	case jobs.SharedStore(url):
		return true, nil
	}
	return false, usagef("--store: want postgres://user:password@host:port/database, or nothing for the embedded store in --data-dir")
}

// openBlobs opens --blobs: nil (files in the data directory) for "".
func openBlobs(url string, getenv func(string) string) (jobs.Blobs, error) {
	if url == "" {
		return nil, nil
	}
	if !strings.HasPrefix(url, "s3://") {
		return nil, usagef("--blobs %q: want s3://bucket/prefix?endpoint=…&region=…, or nothing for --data-dir", url)
	}
	b, err := s3blobs.New(url, getenv)
	if err != nil {
		return nil, usagef("--blobs: %v", err)
	}
	return b, nil
}

// workersValue is --workers: unset means the CPU count, 0 no runners at
// all (jobs.NoWorkers).
type workersValue struct {
	n   int
	set bool
}

func (v *workersValue) String() string {
	if v == nil || !v.set {
		return ""
	}
	return strconv.Itoa(v.n)
}

func (v *workersValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("want a count, 0 or more")
	}
	v.n, v.set = n, true
	return nil
}

// workers is the jobs.Config.Workers it stands for.
func (v *workersValue) workers() int {
	switch {
	case !v.set:
		return 0
	case v.n == 0:
		return jobs.NoWorkers
	}
	return v.n
}

// runFlags are the flags of the nodes that run extractions: where they run
// and with how much memory.
type runFlags struct {
	isolation string
	memory    *byteSize
}

func (r *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.isolation, "isolation", "process", "where extractions run, `MODE`: process (isolate processes of this binary: a crash in FFmpeg costs one job) or none (in this process)")
	r.memory = sizeFlag(fs, "worker-memory", "writable memory of each isolate process (default 1GiB)")
}

func (r *runFlags) check() error {
	if r.isolation != "process" && r.isolation != "none" {
		return usagef("--isolation %q: want process or none", r.isolation)
	}
	return nil
}

// extractor starts the isolate pool for workers runners (jobs.Config's
// Workers: 0 the CPU count), or returns nil (in-process extraction, or no
// runners at all) and a no-op close.
func (r *runFlags) extractor(workers int, log *slog.Logger) (jobs.Extractor, func(), error) {
	if r.isolation != "process" || workers < 0 {
		return nil, func() {}, nil
	}
	// The job manager bounds each job with its own timeout through the
	// context; the pool adds the kill of an isolate stuck in C.
	pool, err := isolate.NewPool(&isolate.Config{
		Size:        workers,
		JobTimeout:  -1,
		MemoryLimit: r.memory.n,
		Logger:      log,
	})
	if err != nil {
		return nil, nil, err
	}
	return pool, func() { pool.Close() }, nil
}

// jsonLogger is the JSON-lines log of serve and work at --log-level.
func jsonLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}
