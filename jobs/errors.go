package jobs

import (
	"context"
	"errors"
	"syscall"

	"github.com/audex/audex/extract"
)

// Sentinel errors returned by the Manager. Compare with [errors.Is].
var (
	// ErrNotFound: no job has this ID (or it was deleted, or it expired
	// longer ago than Config.ExpiredGrace).
	ErrNotFound = errors.New("jobs: job not found")
	// ErrQueueFull: Config.QueueSize jobs are already waiting. Nothing of the
	// rejected submission was stored.
	ErrQueueFull = errors.New("jobs: queue full")
	// ErrClosed: the manager is shutting down or closed.
	ErrClosed = errors.New("jobs: manager closed")
	// ErrInvalidRequest: the submission cannot be accepted as it is (empty
	// input, an input that is not a regular file, unknown output format,
	// URL job without a Fetcher, ...); from New, the Config cannot be used
	// (no Dir, or a Dir of other files that is not a data directory).
	ErrInvalidRequest = errors.New("jobs: invalid request")
	// ErrExpired: the job's result has passed its retention.
	ErrExpired = errors.New("jobs: result expired")
	// ErrNotReady: the job has no result to open: it has not succeeded (yet).
	ErrNotReady = errors.New("jobs: job has no result")
	// ErrUnavailable: the store could not be written or read, or the data
	// directory or the blobs (Config.Blobs) could not take the input.
	// Nothing was acknowledged; the caller may retry later (HTTP 503).
	ErrUnavailable = errors.New("jobs: store unavailable")
	// ErrWorkerCrashed: an Extractor returns an error wrapping this when the
	// process running the extraction (an isolate) died. Such a job is retried
	// once and then fails with code worker_crashed.
	ErrWorkerCrashed = errors.New("jobs: worker crashed")
	// ErrInputTooLarge: a Fetcher returns an error wrapping this when the
	// remote input exceeds its size limit (code input_too_large).
	ErrInputTooLarge = errors.New("jobs: input too large")
	// ErrFetch: a Fetcher's failure to get the input; any Fetcher error
	// without a more specific code is reported as fetch_failed.
	ErrFetch = errors.New("jobs: fetch failed")
	// ErrNotificationRejected: a Notifier returns an error wrapping this
	// when a notification must not be tried again (its receiver said so,
	// or its target may never be reached); it ends rejected.
	ErrNotificationRejected = errors.New("jobs: notification rejected")
)

// Error is a failed job's error: a stable machine code (see [ErrorCode]) and
// a human-readable message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes reported in Job.Error.Code and by ErrorCode.
const (
	CodeNoAudio            = "no_audio_stream"
	CodeTrackNotFound      = "track_not_found"
	CodeUnrecognizedFormat = "unrecognized_format"
	CodeInvalidInput       = "invalid_input"
	CodeUnsupportedInput   = "unsupported_input"
	CodeEncrypted          = "encrypted_unsupported"
	CodeTooManyStreams     = "too_many_streams"
	CodeUnsupportedFormat  = "unsupported_output_format"
	CodeUnsupportedOption  = "unsupported_option"
	CodeStartBeyondEnd     = "start_beyond_end"
	CodeOutputLimit        = "output_limit_exceeded"
	CodeOutputIsInput      = "output_is_input"
	CodeCanceled           = "canceled"
	CodeTimeout            = "timeout"
	CodeWorkerCrashed      = "worker_crashed"
	CodeStorageFull        = "storage_full"
	CodeFetchFailed        = "fetch_failed"
	CodeInputTooLarge      = "input_too_large"
	CodeInternal           = "internal"

	// Codes of the Manager's own sentinel errors, for callers that map
	// returned errors (not job failures) to responses.
	CodeNotFound       = "not_found"
	CodeQueueFull      = "queue_full"
	CodeClosed         = "closed"
	CodeInvalidRequest = "invalid_request"
	CodeExpired        = "expired"
	CodeNotReady       = "not_ready"
	CodeUnavailable    = "unavailable"
)

// codes maps sentinels to codes. Order matters where one error matches
// several: ErrEncrypted also matches ErrUnsupportedInput, ENOSPC comes
// wrapped in extract.ErrOutput, and a deadline also matches extract.ErrCanceled.
var codes = []struct {
	err  error
	code string
}{
	{ErrWorkerCrashed, CodeWorkerCrashed},
	{ErrInputTooLarge, CodeInputTooLarge},
	{syscall.ENOSPC, CodeStorageFull},
	{context.DeadlineExceeded, CodeTimeout},
	{context.Canceled, CodeCanceled},
	{extract.ErrCanceled, CodeCanceled},
	{extract.ErrNoAudio, CodeNoAudio},
	{extract.ErrTrackNotFound, CodeTrackNotFound},
	{extract.ErrUnrecognizedInput, CodeUnrecognizedFormat},
	{extract.ErrInvalidInput, CodeInvalidInput},
	{extract.ErrEncrypted, CodeEncrypted},
	{extract.ErrUnsupportedInput, CodeUnsupportedInput},
	{extract.ErrTooManyStreams, CodeTooManyStreams},
	{extract.ErrUnsupportedFormat, CodeUnsupportedFormat},
	{extract.ErrUnsupportedOption, CodeUnsupportedOption},
	{extract.ErrStartBeyondEnd, CodeStartBeyondEnd},
	{extract.ErrOutputLimit, CodeOutputLimit},
	{extract.ErrOutputIsInput, CodeOutputIsInput},
	{ErrFetch, CodeFetchFailed},
	{ErrNotFound, CodeNotFound},
	{ErrQueueFull, CodeQueueFull},
	{ErrClosed, CodeClosed},
	{ErrInvalidRequest, CodeInvalidRequest},
	{ErrExpired, CodeExpired},
	{ErrNotReady, CodeNotReady},
	{ErrUnavailable, CodeUnavailable},
}

// ErrorCode returns the stable machine code for err: the code of a *Error it
// wraps, else the code of the first known sentinel it matches (extract's
// sentinels, context errors, ENOSPC, this package's sentinels), else
// "internal". It returns "" for a nil error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return CodeInternal
}
