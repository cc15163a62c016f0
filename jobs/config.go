package jobs

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"time"
)

// Config configures a Manager. Only Dir is required.
type Config struct {
	// Dir is the data directory: the store file and the inputs/, results/
	// and tmp/ directories live in it. One manager (one process) at a time
	// may use it. It is created if it does not exist; an existing one must
	// be empty (dotfiles and lost+found aside) or a data directory already
	// (see New). With a shared Store it holds this node's temporary files
	// only. Required.
	Dir string
	// Store is where the job records and the queue are kept. "" (the
	// default) is the embedded store, a bbolt file in Dir, owned by this
	// manager alone. A PostgreSQL URL (postgres://… or postgresql://…) is
	// a store shared by every manager (node) given the same URL: River
	// (github.com/riverqueue/river) dispatches the jobs to the nodes'
	// workers, and any node answers for any job (see the package doc,
	// Storage). New applies the schema (Migrate). A shared store needs
	// shared Blobs: Blobs must be set (an S3 bucket), else New fails with
	// ErrInvalidRequest.
	Store string
	// Node names this manager in the logs and in a shared store's
	// heartbeats. Defaults to the host name, the process id and a random
	// suffix. A name set here must be unique among the live nodes: at
	// start a node settles the jobs held under its name as its previous
	// process's (re-queued as after a crash).
	Node string
	// Workers is how many jobs run at once: the number of runners, the
	// goroutines that claim queued jobs and extract them one at a time (with
	// a shared Store, River's workers for this node). Defaults to
	// runtime.NumCPU(). NoWorkers, with a shared Store only, runs no job
	// here: the manager takes submissions and answers for the jobs that
	// other nodes run (an API-only node).
	Workers int
	// QueueSize is the most jobs that may wait (not counting running ones).
	// A submission beyond it fails with ErrQueueFull and nothing is stored.
	// With a shared Store the bound is global: the jobs queued on every
	// node count. Defaults to 100.
	QueueSize int
	// MinFreeBytes is the space kept free on the data directory's file
	// system: a submission whose input (as far as its size is known) would
	// leave less, counting the inputs of reservations still arriving, fails
	// with ErrUnavailable wrapping syscall.ENOSPC (code storage_full) and
	// nothing is stored. Defaults to 512 MiB; negative turns the check off.
	MinFreeBytes int64
	// JobTimeout bounds one attempt of a job. 0 means 60 s plus 30 s per
	// 100 MB of input, capped at 30 minutes (a URL job's download alone is
	// bounded by the cap).
	JobTimeout time.Duration
	// Retention is how long a non-persistent result is kept after the job
	// finished. Defaults to 15 minutes.
	Retention time.Duration
	// ExpiredGrace is how long a job whose retention has passed still
	// answers as expired (failed and canceled ones as themselves) before it
	// is forgotten. Defaults to 24 hours.
	ExpiredGrace time.Duration
	// SweepInterval is how often expired results are deleted. Defaults to
	// 60 s.
	SweepInterval time.Duration
	// Extractor runs the extractions. Defaults to InProcess{}.
	Extractor Extractor
	// Blobs keeps the jobs' inputs and results. Defaults to
	// NewDiskBlobs(Dir): files in Dir's inputs/ and results/. With a store
	// elsewhere (S3), Dir keeps the job store and the node's temporary
	// files only: inputs are put into Blobs before a submission returns
	// and downloaded to Dir's tmp/ to be extracted, and results are put
	// there once extracted. The blobs belong to this manager as the data
	// directory does: at start it deletes the inputs and results no job of
	// its own needs, so managers on embedded stores must not share a
	// bucket prefix; the nodes of a shared Store do (they delete only old
	// blobs no job refers to), and need to.
	Blobs Blobs
	// Fetcher downloads the inputs of URL jobs. Without one, SubmitURL
	// fails with ErrInvalidRequest. With a shared Store, the nodes that
	// run jobs and have a Fetcher download the inputs of every node's URL
	// jobs (an API-only node's Fetcher only lets it take them).
	Fetcher Fetcher
	// Fetchers is how many URL jobs' inputs are downloaded at once (on
	// this node), apart from the Workers: a slow server holds a download,
	// never an extraction. Defaults to 4.
	Fetchers int
	// Now is the clock for job times, retention and expiry. Defaults to
	// time.Now. (Timeouts and the sweep interval use real time.)
	Now func() time.Time
	// Logger receives the manager's log. Defaults to discarding it.
	Logger *slog.Logger

	// With a shared Store: how often this node says it is alive (and looks
	// for dead nodes), and how long a silent node has before it is dead.
	// Defaults to defaultHeartbeat and defaultDeadAfter; tests shorten them.
	heartbeat time.Duration
	deadAfter time.Duration
}

// NoWorkers as Config.Workers: the manager runs no jobs (with a shared
// Store only).
const NoWorkers = -1

// Defaults.
const (
	DefaultQueueSize     = 100
	DefaultFetchers      = 4
	DefaultRetention     = 15 * time.Minute
	DefaultExpiredGrace  = 24 * time.Hour
	DefaultSweepInterval = 60 * time.Second
	DefaultMinFreeBytes  = 512 << 20

	// The default job timeout: base + perStep for every stepBytes of input,
	// at most maxJobTimeout.
	baseJobTimeout  = 60 * time.Second
	jobTimeoutStep  = 30 * time.Second
	jobTimeoutBytes = 100_000_000
	maxJobTimeout   = 30 * time.Minute

	// A node of a shared store writes its heartbeat every defaultHeartbeat
	// and is dead after defaultDeadAfter without one: its jobs run again
	// elsewhere within about deadAfter + heartbeat, whatever their timeout.
	defaultHeartbeat = 5 * time.Second
	defaultDeadAfter = 20 * time.Second
)

// SharedStore reports whether store, a Config.Store, names a shared
// (PostgreSQL) store: a postgres:// or postgresql:// URL.
func SharedStore(store string) bool {
	return strings.HasPrefix(store, "postgres://") || strings.HasPrefix(store, "postgresql://")
}

// shared reports whether Store names a shared (PostgreSQL) store.
func (c Config) shared() bool { return SharedStore(c.Store) }

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, fmt.Errorf("%w: Config.Dir is required", ErrInvalidRequest)
	}
	switch {
	case c.Store != "" && !c.shared():
		return c, fmt.Errorf("%w: Config.Store: not a postgres:// URL", ErrInvalidRequest)
	case c.shared() && c.Blobs == nil:
		return c, fmt.Errorf("%w: a shared Store needs shared Blobs (Config.Blobs)", ErrInvalidRequest)
	case c.Workers == NoWorkers && !c.shared():
		return c, fmt.Errorf("%w: NoWorkers needs a shared Store", ErrInvalidRequest)
	case c.Workers == 0 || (c.Workers < 0 && c.Workers != NoWorkers):
		c.Workers = runtime.NumCPU()
	}
	if c.Node == "" {
		host, _ := os.Hostname()
		c.Node = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.Uint32()&0xffff)
	}
	if c.heartbeat <= 0 {
		c.heartbeat = defaultHeartbeat
	}
	if c.deadAfter <= 0 {
		c.deadAfter = defaultDeadAfter
	}
	if c.Fetchers <= 0 {
		c.Fetchers = DefaultFetchers
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MinFreeBytes == 0 {
		c.MinFreeBytes = DefaultMinFreeBytes
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.ExpiredGrace <= 0 {
		c.ExpiredGrace = DefaultExpiredGrace
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.Extractor == nil {
		c.Extractor = InProcess{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// timeout returns the bound for one attempt's extraction of an input of n
// bytes.
func (c Config) timeout(n int64) time.Duration {
	if c.JobTimeout > 0 {
		return c.JobTimeout
	}
	d := baseJobTimeout + time.Duration(float64(jobTimeoutStep)*float64(n)/jobTimeoutBytes)
	return min(d, maxJobTimeout)
}

// fetchTimeout bounds a URL job's download, whose size is unknown up front.
func (c Config) fetchTimeout() time.Duration {
	if c.JobTimeout > 0 {
		return c.JobTimeout
	}
	return maxJobTimeout
}
