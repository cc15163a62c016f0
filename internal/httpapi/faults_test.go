//go:build linux

package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/internal/testmedia"
	"github.com/audex/audex/jobs"
)

// Faults of reliability.md: F3 (disk full), F4 (abandoned and slow
// clients) and F6 (store unavailable; jobs.TestStoreUnavailable covers the
// manager's side of it). F5 (shutdown with work) is internal/cli's
// TestBinaryShutdownWithWork, on the real binary.

// fullDisk is an output file on a disk that fills up after limit bytes:
// writes beyond it fail with ENOSPC, as write(2) reports it.
type fullDisk struct {
	f    *os.File
	left int64
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if int64(len(p)) <= d.left {
		n, err := d.f.Write(p)
		d.left -= int64(n)
		return n, err
	}
	n, _ := d.f.Write(p[:d.left])
	d.left = 0
	return n, &os.PathError{Op: "write", Path: d.f.Name(), Err: syscall.ENOSPC}
}

func (d *fullDisk) Seek(off int64, whence int) (int64, error) { return d.f.Seek(off, whence) }

// enospcExtractor runs the real pipeline into a disk with room for limit
// bytes of output. It leaves its partial output behind on failure: the
// manager must remove it.
type enospcExtractor struct{ limit int64 }

func (e enospcExtractor) Extract(ctx context.Context, dst, src string, opts extract.Options) (*extract.Result, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return nil, err
	}
	res, err := extract.Extract(ctx, &fullDisk{f: out, left: e.limit}, in, &opts)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return res, err
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory for the
// test's duration, or skips the test where mounting is not allowed (not
// root, no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	require.NoError(t, os.Mkdir(dir, 0o700))
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the injected-ENOSPC case covers F3", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// TestDiskFull is F3: a job whose output cannot be written fails
// storage_full, leaves no partial file, the service stays healthy and the
// next job succeeds. It runs once with ENOSPC injected under the real
// pipeline, and once (where the test may mount) with the data directory
// on a 10 MB tmpfs that the output really fills, where a submission that
// cannot be stored is also refused with 503.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	// 120 s of stereo silence: a 27 KB FLAC whose WAV is 23 MB.
	silence := readFixture(t, testmedia.Make(t, "bomb.flac", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "120"))
	wav := map[string]string{"full_audio": "true", "output_format": "wav"}
	tenSeconds := map[string]string{"duration": "10", "output_format": "wav"}

	check := func(t *testing.T, b *bundle) {
		id := b.jobID(b.submitFile(tokenA, silence, "silence.flac", wav, ""))
		st := b.waitStatus(tokenA, id)
		assert.Equal(t, statusFailed, st["status"])
		assert.Equal(t, jobs.CodeStorageFull, st["code"], "%v", st["message"])
		b.requireNoFilesOf(t, id)
		for _, path := range []string{"/healthz", "/readyz"} {
			assert.Equal(t, http.StatusOK, b.do(b.newRequest(http.MethodGet, path, nil, "")).StatusCode, path)
		}
		id = b.jobID(b.submitFile(tokenA, silence, "silence.flac", tenSeconds, ""))
		st = b.waitStatus(tokenA, id)
		require.Equal(t, statusSuccessful, st["status"], "%v", st["message"])
		assert.InDelta(t, 10.0, st["metadata"].(map[string]any)["output"].(map[string]any)["duration"], 0.01)
	}

	t.Run("injected ENOSPC", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, &bundleOpts{extractor: enospcExtractor{limit: 5 << 20}, realClock: true})
		check(t, b)
	})

	t.Run("10 MB tmpfs", func(t *testing.T) {
		t.Parallel()
		dir := mountTmpfs(t, 10<<20)
		// No free-space reserve here: the disk itself runs out.
		b := newBundle(t, &bundleOpts{dir: dir, extractor: jobs.InProcess{}, realClock: true, mutate: func(c *Config) { c.MinFreeBytes = -1 }})
		free := func() int64 {
			var st syscall.Statfs_t
			require.NoError(t, syscall.Statfs(dir, &st))
			return int64(st.Bavail) * st.Bsize
		}
		before := free()
		check(t, b)
		assert.InDelta(t, before, free(), 3<<20, "the space the failed job used is free again")

		// A disk too full to take an upload: 503 with Retry-After, no job,
		// no file; the same upload succeeds once space is freed.
		filler := filepath.Join(dir, "filler")
		f, err := os.Create(filler)
		require.NoError(t, err)
		_, err = io.Copy(f, io.LimitReader(vees{}, free()+1<<20))
		f.Close()
		require.ErrorIs(t, err, syscall.ENOSPC, "the filler fills the disk")
		jobsBefore := b.jobCount()
		r := b.submitFile(tokenA, silence, "silence.flac", tenSeconds, "")
		assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode, "%s", r.body)
		assert.NotEmpty(t, r.Header.Get("Retry-After"))
		assert.Equal(t, jobs.CodeStorageFull, r.json(t)["code"])
		assert.Equal(t, jobsBefore, b.jobCount(), "nothing acknowledged")
		assert.Empty(t, b.uploads())
		require.NoError(t, os.Remove(filler))
		st := b.waitStatus(tokenA, b.jobID(b.submitFile(tokenA, silence, "silence.flac", tenSeconds, "")))
		assert.Equal(t, statusSuccessful, st["status"], "%v", st["message"])
	})
}

// TestFreeSpaceReserve is F3's reserve: when an upload's declared length
// would leave less than MinFreeBytes free in the data directory, it is
// refused with 503 storage_full before its body is read.
func TestFreeSpaceReserve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	free := testmedia.FreeBytes(t, dir, 1<<30)
	// Other tests write to the same disk meanwhile: the margins are
	// hundreds of MB.
	b := newBundle(t, &bundleOpts{dir: dir, mutate: func(c *Config) { c.MinFreeBytes = free - 256<<20; c.MaxUploadBytes = 2 << 30 }})

	body, n, ct := holdUpload(1 << 30)
	counted := &countingReader{r: body}
	req := b.newRequest(http.MethodPost, "/job/extract/video/audio/file", counted, tokenA)
	req.ContentLength = n
	req.Header.Set("Content-Type", ct)
	r := b.do(req)
	assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode, "%s", r.body)
	assert.NotEmpty(t, r.Header.Get("Retry-After"))
	assert.Equal(t, jobs.CodeStorageFull, r.json(t)["code"])
	assert.Less(t, counted.n.Load(), int64(16<<20), "the 1 GiB body was not read")
	assert.Zero(t, b.jobCount())
	assert.Empty(t, b.uploads())
	// A small upload still fits.
	assert.Equal(t, http.StatusOK, b.submitFile(tokenA, payload(), "a.mp4", nil, "").StatusCode)
	assert.Equal(t, http.StatusOK, b.do(b.newRequest(http.MethodGet, "/readyz", nil, "")).StatusCode)

	// Below the reserve the service is not ready.
	low := newBundle(t, &bundleOpts{mutate: func(c *Config) { c.MinFreeBytes = free + 1<<30 }})
	r = low.do(low.newRequest(http.MethodGet, "/readyz", nil, ""))
	assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode)
	assert.Equal(t, jobs.CodeStorageFull, r.json(t)["error"])
}

// serveForFaults runs Serve on a loopback listener with short client
// timeouts and the fake extractor, until the test ends.
func serveForFaults(t *testing.T, mutate func(*Config)) (addr string, dir string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg := Config{
		DataDir:           t.TempDir(),
		Credentials:       []Credential{{Owner: "alice", Token: tokenA}},
		Workers:           1,
		Extractor:         &fakeExtractor{hold: make(chan struct{})},
		ReadHeaderTimeout: 500 * time.Millisecond,
		UploadIdleTimeout: 500 * time.Millisecond,
		MaxUploadBytes:    64 << 20,
		DrainTimeout:      time.Second,
		Logger:            slog.New(slog.DiscardHandler),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return ln.Addr().String(), cfg.DataDir
}

// settled waits until goroutines and file descriptors are back to at most
// their baseline plus 2.
func settled(t *testing.T, g0, fds0 int, what string) {
	t.Helper()
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= g0+2 && testmedia.FDs() <= fds0+2 }, 10*time.Second, 10*time.Millisecond,
		"%s: goroutines %d (baseline %d), fds %d (baseline %d)", what, runtime.NumGoroutine(), g0, testmedia.FDs(), fds0)
}

// TestSlowAndAbandonedClients is F4 against a served instance with a
// 500 ms ReadHeaderTimeout and upload inactivity deadline: (a) a client
// that sends half of a 20 MB upload and goes away, (b) 200 clients
// sending their headers a byte at a time, (c) a body that stops for longer
// than the inactivity deadline. Each is cut within its timeout plus 1 s,
// leaves no upload file and no job, and goroutines and file descriptors
// return to their baseline. Not parallel: it counts the process's
// goroutines and descriptors.
func TestSlowAndAbandonedClients(t *testing.T) {
	addr, dir := serveForFaults(t, nil)
	uploads := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, uploadsDir, "*"))
		return m
	}
	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("/healthz"))
	http.DefaultClient.CloseIdleConnections()
	g0, fds0 := runtime.NumGoroutine(), testmedia.FDs()

	t.Run("a abandoned upload", func(t *testing.T) {
		conn := startUpload(t, addr, 20<<20, 10<<20)
		require.Eventually(t, func() bool { return len(uploads()) == 1 }, 10*time.Second, time.Millisecond)
		conn.Close()
		gone := time.Now()
		require.Eventually(t, func() bool { return len(uploads()) == 0 }, 10*time.Second, time.Millisecond)
		t.Logf("upload file removed %v after the client left", time.Since(gone).Round(time.Millisecond))
		assert.Less(t, time.Since(gone), budgetSlack*time.Second)
		settled(t, g0, fds0, "after the abandoned upload")
	})

	t.Run("b slow headers", func(t *testing.T) {
		const clients = 200
		timeout := 500 * time.Millisecond
		var wg sync.WaitGroup
		var mu sync.Mutex
		var slowest time.Duration
		peakFDs := 0
		for range clients {
			wg.Go(func() {
				conn, err := net.Dial("tcp", addr)
				if !assert.NoError(t, err) {
					return
				}
				defer conn.Close()
				start := time.Now()
				closed := make(chan struct{})
				go func() {
					defer close(closed)
					conn.SetReadDeadline(time.Now().Add(10 * time.Second))
					io.Copy(io.Discard, conn) // until the server closes
				}()
				line := []byte("POST /job/extract/video/audio/file HTTP/1.1\r\nHost: x\r\n")
			trickle:
				for i := 0; ; i = (i + 1) % len(line) {
					if _, err := conn.Write(line[i : i+1]); err != nil {
						break
					}
					select {
					case <-closed:
						break trickle
					case <-time.After(100 * time.Millisecond):
					}
				}
				<-closed
				took := time.Since(start)
				mu.Lock()
				slowest = max(slowest, took)
				peakFDs = max(peakFDs, testmedia.FDs())
				mu.Unlock()
				assert.Less(t, took, timeout+time.Second, "closed within ReadHeaderTimeout + 1 s")
			})
		}
		wg.Wait()
		t.Logf("%d slow-header clients: the last was cut after %v; peak fds %d (baseline %d)", clients, slowest.Round(time.Millisecond), peakFDs, fds0)
		assert.LessOrEqual(t, peakFDs, fds0+2*clients+10, "a client costs its two socket ends at most")
		settled(t, g0, fds0, "after the slow-header clients")
	})

	t.Run("c stalled body", func(t *testing.T) {
		// 1 KB, then silence for longer than the inactivity deadline.
		conn := startUpload(t, addr, 1<<20, 1<<10)
		defer conn.Close()
		start := time.Now()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", body)
		assert.Less(t, time.Since(start), 500*time.Millisecond+time.Second)
		conn.Close()
		assert.Empty(t, uploads())
		settled(t, g0, fds0, "after the stalled body")
	})

	t.Run("c trickling body", func(t *testing.T) {
		// A byte every 20 ms, never idle for the deadline but far below the
		// minimum progress: cut within the deadline (plus one renewal).
		conn := startUpload(t, addr, 1<<20, 1)
		defer conn.Close()
		start := time.Now()
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					if _, err := conn.Write([]byte{'v'}); err != nil {
						return
					}
				}
			}
		}()
		defer close(stop)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
		assert.Less(t, time.Since(start), 2*500*time.Millisecond+time.Second)
		conn.Close()
		assert.Empty(t, uploads())
	})

	// Nothing of it became a job.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	assert.Contains(t, string(metrics), "audex_jobs_submitted_total 0")
	http.DefaultClient.CloseIdleConnections()
}

// gatedExtractor holds every extraction until gate is closed, then does
// what the fake does with a plain input.
type gatedExtractor struct {
	gate  chan struct{}
	inner fakeExtractor
}

func (g *gatedExtractor) Extract(ctx context.Context, dst, src string, opts extract.Options) (*extract.Result, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", extract.ErrCanceled, ctx.Err())
	}
	return g.inner.Extract(ctx, dst, src, opts)
}

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h.
const fsImmutableFL = 0x10

// setImmutable sets or clears the file's immutable attribute (chattr +i),
// which makes writes through descriptors already open fail with EPERM on
// ext4, or skips the test where the attribute cannot be set.
func setImmutable(t *testing.T, path string, on bool) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err == nil {
		if on {
			flags |= fsImmutableFL
		} else {
			flags &^= fsImmutableFL
		}
		v := int(flags)
		err = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, v)
	}
	switch {
	case err != nil && !on:
		t.Fatalf("clearing the immutable attribute of %s: %v", path, err)
	case err != nil:
		t.Skipf("cannot make the store read-only here (%v)", err)
	}
}

// TestStoreUnavailable is F6 on the real store: the job database is made
// read-only under the running service (chattr +i, so even the descriptor
// the store holds cannot write). Submissions get 503 with Retry-After and
// nothing is acknowledged or kept; /readyz fails; jobs already stored stay
// readable; a job that finishes meanwhile has its outcome recorded once the
// store is writable again, and /readyz and new submissions then succeed.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	ex := &gatedExtractor{gate: make(chan struct{})}
	b := newBundle(t, &bundleOpts{workers: 1, extractor: ex})
	db := filepath.Join(b.cfg.DataDir, "jobs.db") // the jobs package's store file
	running := b.jobID(b.submitFile(tokenA, payload(), "a.mp4", nil, ""))
	require.Eventually(t, func() bool { return b.status(tokenA, running).json(t)["state"] == "running" }, 10*time.Second, 5*time.Millisecond)

	setImmutable(t, db, true)
	t.Cleanup(func() { setImmutable(t, db, false) })
	jobsBefore := b.jobCount()
	for name, r := range map[string]*response{
		"file": b.submitFile(tokenA, payload(), "b.mp4", nil, ""),
		"url":  b.submitURL(tokenA, "http://127.0.0.1:9/v.mp4", nil),
	} {
		assert.Equal(t, http.StatusServiceUnavailable, r.StatusCode, "%s: %s", name, r.body)
		assert.NotEmpty(t, r.Header.Get("Retry-After"), name)
		assert.Equal(t, "unavailable", r.json(t)["code"], name)
	}
	assert.Equal(t, jobsBefore, b.jobCount(), "nothing acknowledged")
	ready := func() int { return b.do(b.newRequest(http.MethodGet, "/readyz", nil, "")).StatusCode }
	assert.Equal(t, http.StatusServiceUnavailable, ready(), "not ready while the store takes no writes")
	assert.Empty(t, b.uploads(), "no upload kept")
	assert.Equal(t, http.StatusOK, b.status(tokenA, running).StatusCode, "stored jobs stay readable")

	// The running job finishes while its outcome cannot be stored: the
	// manager retries until it can.
	close(ex.gate)
	require.Eventually(t, func() bool { return strings.Contains(b.logText(), "retrying") }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, statusPending, b.status(tokenA, running).json(t)["status"])

	setImmutable(t, db, false)
	assert.Equal(t, http.StatusOK, ready(), "ready again")
	assert.Equal(t, statusSuccessful, b.waitStatus(tokenA, running)["status"])
	st := b.waitStatus(tokenA, b.jobID(b.submitFile(tokenA, payload(), "c.mp4", nil, "")))
	assert.Equal(t, statusSuccessful, st["status"], "%v", st["message"])
}
