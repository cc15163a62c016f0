package testmedia

//#include <malloc.h>
import "C"

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
)

// StableMalloc makes glibc's malloc behave the same from the first job to
// the last, so a leak check sees leaks and not allocator warm-up: it caps
// the arenas (each OS thread calling into C may otherwise get one, appearing
// one by one as the Go scheduler spreads cgo calls over threads) and fixes
// the mmap threshold (which glibc otherwise raises after the first large
// free, moving big buffers from mmap into the fragmenting heap).
func StableMalloc() {
	C.mallopt(C.M_ARENA_MAX, 2)
	C.mallopt(C.M_MMAP_THRESHOLD, 128<<10)
}

// RSS returns the process's resident memory after returning free memory to
// the OS from both Go's heap and C's malloc (glibc keeps freed blocks
// otherwise, which turns one-off peaks into steps that look like leaks).
func RSS() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	C.malloc_trim(0)
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
