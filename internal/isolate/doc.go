// Package isolate isolates extraction in long-lived isolate processes of the
// audex binary, so that a crash or a hang inside FFmpeg's C code costs one
// job and one process, never the service.
//
// The parent side is [Pool]: it starts Config.Size isolates (the hidden
// `audex isolate` command, which runs [ServeProcess]), hands each one job at a
// time over a line-delimited JSON protocol on the isolate's stdin and stdout,
// and supervises them:
//
//   - a job's wall time is bounded by its context and Config.JobTimeout; at
//     the deadline (or on cancel) the isolate is asked to stop, and killed if
//     it has not within Config.CancelGrace — a call stuck in C ends only so;
//   - each isolate's writable memory is capped (RLIMIT_DATA, Config.MemoryLimit);
//   - an isolate that dies fails only its own job, with an error wrapping
//     [ErrCrashed], and is replaced at once;
//   - isolates' stderr, including FFmpeg's log, goes to Config.Logger.
//
// Errors keep their identity across the process boundary: a job that fails
// with extract.ErrNoAudio in the isolate returns an error that matches
// extract.ErrNoAudio in the parent.
//
//	pool, err := isolate.NewPool(nil) // NumCPU isolates of os.Executable() "isolate"
//	if err != nil {
//		return err
//	}
//	defer pool.Close()
//	res, err := pool.Extract(ctx, "out.mp3", "in.mp4", extract.Options{})
//
// Built with the audexfault tag (tests only), inputs starting with
// FaultCrashMarker, FaultHangMarker or FaultAllocMarker make the isolate
// crash, hang or allocate 2 GiB in C.
package isolate
