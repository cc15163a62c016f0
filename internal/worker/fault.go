//go:build audexfault

package worker

/*
#include <unistd.h>

static void audex_fault_crash(void) { *(volatile int *)0 = 1; }
static void audex_fault_hang(void) { sleep(3600); }
*/
import "C"

import (
	"bytes"
	"context"
	"io"
	"os"

	"github.com/audex/audex/extract"
)

// Test-only faults (build tag audexfault): an input whose first bytes are one
// of these markers makes the worker fail inside C the way a bad decoder
// would, so that tests can prove the pool contains it.
const (
	// FaultCrashMarker makes the worker write through a NULL pointer in C.
	FaultCrashMarker = "AUDEX-FAULT-CRASH"
	// FaultHangMarker makes the worker sleep for an hour in C, deaf to its
	// context.
	FaultHangMarker = "AUDEX-FAULT-HANG"
)

func withFaults(fn extractFunc) extractFunc {
	return func(ctx context.Context, dstPath, srcPath string, opts *extract.Options) (*extract.Result, error) {
		head := make([]byte, 32)
		if f, err := os.Open(srcPath); err == nil {
			n, _ := io.ReadFull(f, head)
			head = head[:n]
			f.Close()
		}
		switch {
		case bytes.HasPrefix(head, []byte(FaultCrashMarker)):
			C.audex_fault_crash()
		case bytes.HasPrefix(head, []byte(FaultHangMarker)):
			C.audex_fault_hang()
		}
		return fn(ctx, dstPath, srcPath, opts)
	}
}
