package jobs

import (
	"context"
	"io"
	"time"

	"github.com/audex/audex/extract"
)

// Request is what a job is asked to do. It is plain data: it is stored as
// JSON with the job and read back after a restart.
type Request struct {
	// Options for the extraction. Options.Progress is ignored (the manager
	// sets its own). An empty Format is stored as MP3.
	Options extract.Options `json:"options"`
	// URL is the input to fetch, for SubmitURL. It must be empty otherwise.
	URL string `json:"url,omitempty"`
	// Persistent results are kept until Delete; others expire after
	// Retention.
	Persistent bool `json:"persistent"`
	// Retention overrides Config.Retention for this job. 0 means the
	// default.
	Retention time.Duration `json:"retention,omitempty"`
	// Owner is opaque to the manager; List can filter by it.
	Owner string `json:"owner,omitempty"`
	// Name is the input's original file name, kept for information only:
	// it never becomes part of a path.
	Name string `json:"name,omitempty"`
	// Notify is where to send word of the job's end, opaque to the
	// manager (the HTTP service keeps its webhook there). When set, the
	// job gets a notification when it turns final, which a Notifier
	// delivers (see Manager.StartNotifier). At most 16 KiB.
	Notify string `json:"notify,omitempty"`
	// MoveInput makes SubmitFile take the file itself instead of leaving it
	// with the caller: it is moved into the data directory (renamed, or
	// copied and then removed when on another file system) and is gone
	// from its path once the job is accepted. For files made only to be
	// submitted, such as a spooled upload. The path must name the file
	// itself, not a symlink. Defaults to false: the caller's file is
	// linked or copied and never changed. Only SubmitFile reads it, and it
	// is not stored with the job.
	MoveInput bool `json:"-"`
}

// Job is a snapshot of a job.
type Job struct {
	// ID is 22 characters of base64url (128 random bits).
	ID    string `json:"id"`
	State State  `json:"state"`
	Stage Stage  `json:"stage"`
	// Progress of a running job from 0 to 1, as the extractor reports it;
	// 1 for a succeeded job.
	Progress float64 `json:"progress"`
	// QueuePosition is 1 for the next job to run, while queued; else 0.
	QueuePosition int `json:"queue_position,omitempty"`
	// Attempts counts how many times a runner has started the job. It is
	// more than 1 after the job was interrupted by a crash or a shutdown.
	Attempts int `json:"attempts"`

	CreatedAt time.Time `json:"created_at"`
	// StartedAt is when the current or last attempt started.
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// ExpiresAt is when a final job's result (or, for a failed or canceled
	// job, its record) stops being available; zero for persistent jobs and
	// jobs not yet final.
	ExpiresAt time.Time `json:"expires_at,omitzero"`

	Request Request `json:"request"`
	// InputBytes is the size of the input (of a URL job: once fetched).
	InputBytes int64 `json:"input_bytes"`

	// Error is set on failed and canceled jobs.
	Error *Error `json:"error,omitempty"`
	// Result is set on succeeded jobs (and kept, without a file, on expired
	// ones).
	Result *Output `json:"result,omitempty"`
	// Notification is the state of the job's notification: set once a job
	// with Request.Notify is final, nil before and for jobs without one.
	Notification *NotificationStatus `json:"notification,omitempty"`
}

// Output describes a job's result file.
type Output struct {
	// Path of the result file on disk, for programs that embed the
	// manager; empty once expired, and when Config.Blobs keeps results
	// elsewhere than this disk. Not serialized: read the result with
	// OpenResult.
	Path     string         `json:"-"`
	Size     int64          `json:"size"`
	Format   extract.Format `json:"format"`
	Duration time.Duration  `json:"duration"`
	// Extract is the extractor's full report.
	Extract *extract.Result `json:"extract,omitempty"`
}

// Extractor runs one extraction from srcPath into dstPath. It is the seam
// between job management and the pipeline: [InProcess] runs it in this
// process; an implementation may run it in an isolated child process (internal/isolate).
//
// It must return once ctx is done (promptly, but only after it has really
// stopped using srcPath and dstPath), and leave no file at dstPath on error.
// The manager sets opts.Progress to drive the job's progress. An error
// wrapping [ErrWorkerCrashed] is crash-class: the job is retried once.
type Extractor interface {
	Extract(ctx context.Context, dstPath, srcPath string, opts extract.Options) (*extract.Result, error)
}

// InProcess is the default Extractor: [extract.ExtractFile] in this process.
type InProcess struct{}

// Extract implements Extractor.
func (InProcess) Extract(ctx context.Context, dstPath, srcPath string, opts extract.Options) (*extract.Result, error) {
	return extract.ExtractFile(ctx, dstPath, srcPath, &opts)
}

// Fetcher downloads a URL job's input. The HTTP layer implements it with its
// own guards (allowed schemes and addresses, size limit); the jobs package
// knows nothing of HTTP. Fetch writes the body to dst and returns the bytes
// written. A too-large input is an error wrapping [ErrInputTooLarge].
type Fetcher interface {
	Fetch(ctx context.Context, url string, dst io.Writer) (int64, error)
}
