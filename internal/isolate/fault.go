//go:build audexfault

package isolate

/*
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void audex_fault_crash(void) { *(volatile int *)0 = 1; }
static void audex_fault_hang(void) { sleep(3600); }

// Allocates and touches 2 GiB, as a decoder fed a huge claimed size would;
// returns 0 when the allocation is refused.
static int audex_fault_alloc(void) {
	size_t n = (size_t)2 << 30;
	char *p = malloc(n);
	if (p == NULL) return 0;
	memset(p, 1, n);
	free(p);
	return 1;
}
*/
import "C"

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"

	"github.com/audex/audex/extract"
)

// Test-only faults (build tag audexfault): an input whose first bytes are one
// of these markers makes the isolate fail inside C the way a bad decoder
// would, so that tests can prove the pool contains it.
const (
	// FaultCrashMarker makes the isolate write through a NULL pointer in C.
	FaultCrashMarker = "AUDEX-FAULT-CRASH"
	// FaultHangMarker makes the isolate sleep for an hour in C, deaf to its
	// context.
	FaultHangMarker = "AUDEX-FAULT-HANG"
	// FaultAllocMarker makes the isolate allocate and touch 2 GiB in C; the
	// job fails with errFaultAllocRefused when the memory cap holds.
	FaultAllocMarker = "AUDEX-FAULT-ALLOC"
)

var errFaultAllocRefused = errors.New("fault: 2 GiB allocation refused")

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
		case bytes.HasPrefix(head, []byte(FaultAllocMarker)):
			if C.audex_fault_alloc() == 0 {
				return nil, errFaultAllocRefused
			}
		}
		return fn(ctx, dstPath, srcPath, opts)
	}
}
