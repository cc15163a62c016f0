package isolate

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/audex/audex/extract"
)

// memoryLimitEnv passes the pool's per-isolate memory cap, in bytes, to the
// isolate process.
const memoryLimitEnv = "AUDEX_ISOLATE_MEMORY_LIMIT"

// ServeProcess is the body of the hidden `audex isolate` command: the process
// a [Pool] starts. It caps the process's writable memory at the limit the
// pool passed (RLIMIT_DATA; not in race-enabled builds, whose runtime maps
// terabytes of shadow memory), moves the protocol off file descriptor 1 so
// that a stray write to stdout by any library lands on stderr instead of
// corrupting it, and then runs [Serve] on stdin and the saved stdout.
//
// RLIMIT_DATA rather than RLIMIT_AS: since Linux 4.7 it counts every private
// writable mapping (heap, malloc arenas as they are used, thread stacks),
// which is what a job consumes, and not address space that is only reserved.
// A Go 1.26 process reserves about 1.5 GiB of address space before it runs
// any code (page-allocator index, glibc's 64 MiB per-thread malloc arenas),
// so an RLIMIT_AS of 1 GiB kills it at start-up.
//
// It also closes the descriptors above stderr it inherited by accident (a
// listening socket or a pipe the parent had inherited itself), so that a
// isolate subverted by hostile media holds nothing of its parent's.
//
// ctx should not be tied to SIGINT/SIGTERM: the pool ends its isolates by
// closing their stdin (or killing them), and an isolate runs in its own
// process group so that a terminal's Ctrl-C reaches only the parent.
func ServeProcess(ctx context.Context) error {
	closeInherited()
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

// applyMemoryLimit sets RLIMIT_DATA to the limit in s (bytes; empty or 0: no
// limit) and returns the limit applied.
func applyMemoryLimit(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("isolate: bad %s=%q", memoryLimitEnv, s)
	}
	if n == 0 || raceEnabled {
		return 0, nil
	}
	lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	if err := unix.Setrlimit(unix.RLIMIT_DATA, &lim); err != nil {
		return 0, fmt.Errorf("isolate: set memory limit: %w", err)
	}
	return n, nil
}

// claimStdout returns a private duplicate of stdout for the protocol and
// points descriptor 1 at stderr.
func claimStdout() (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(unix.Stdout), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("isolate: duplicate stdout: %w", err)
	}
	if err := unix.Dup2(unix.Stderr, unix.Stdout); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("isolate: redirect stdout: %w", err)
	}
	return os.NewFile(uintptr(fd), "isolate-protocol"), nil
}

// closeInherited closes every descriptor above stderr that is not
// close-on-exec. Everything the Go runtime and this package open is
// close-on-exec, so those are exactly the ones inherited across exec.
func closeInherited() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return // not Linux: nothing to go by
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= unix.Stderr {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			unix.Close(fd)
		}
	}
}
