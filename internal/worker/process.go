package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/audex/audex/extract"
)

// memoryLimitEnv passes the pool's per-worker memory cap, in bytes, to the
// worker process.
const memoryLimitEnv = "AUDEX_WORKER_MEMORY_LIMIT"

// ServeProcess is the body of the hidden `audex worker` command: the process
// a [Pool] starts. It caps the process's address space at the limit the pool
// passed (RLIMIT_AS; not in race-enabled builds, whose runtime reserves
// terabytes of shadow memory), moves the protocol off file descriptor 1 so
// that a stray write to stdout by any library lands on stderr instead of
// corrupting it, and then runs [Serve] on stdin and the saved stdout.
//
// ctx should not be tied to SIGINT/SIGTERM: the pool ends its workers by
// closing their stdin (or killing them), and a worker runs in its own
// process group so that a terminal's Ctrl-C reaches only the parent.
func ServeProcess(ctx context.Context) error {
	limit, err := applyMemoryLimit(os.Getenv(memoryLimitEnv))
	if err != nil {
		return err
	}
	proto, err := claimStdout()
	if err != nil {
		return err
	}
	defer proto.Close()
	// The pool re-logs these records at their level with their attributes.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	return serve(ctx, os.Stdin, proto, withFaults(extract.ExtractFile), limit)
}

// applyMemoryLimit sets RLIMIT_AS to the limit in s (bytes; empty or 0: no
// limit) and returns the limit applied.
func applyMemoryLimit(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("worker: bad %s=%q", memoryLimitEnv, s)
	}
	if n == 0 || raceEnabled {
		return 0, nil
	}
	lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	if err := unix.Setrlimit(unix.RLIMIT_AS, &lim); err != nil {
		return 0, fmt.Errorf("worker: set memory limit: %w", err)
	}
	return n, nil
}

// claimStdout returns a private duplicate of stdout for the protocol and
// points descriptor 1 at stderr.
func claimStdout() (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(unix.Stdout), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("worker: duplicate stdout: %w", err)
	}
	if err := unix.Dup2(unix.Stderr, unix.Stdout); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("worker: redirect stdout: %w", err)
	}
	return os.NewFile(uintptr(fd), "worker-protocol"), nil
}
