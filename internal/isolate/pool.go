package isolate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/audex/audex/extract"
	"github.com/audex/audex/jobs"
)

var (
	// ErrCrashed: the isolate process running the job died (a crash in
	// C, the memory cap, a kill from outside) or broke the protocol; the
	// pool has already started a replacement. It wraps
	// jobs.ErrWorkerCrashed, so the job manager treats the failure as
	// crash-class: one retry, then code worker_crashed.
	ErrCrashed error = &wrapping{msg: "isolate crashed", err: jobs.ErrWorkerCrashed}
	// ErrClosed: the pool is shut down or closing.
	ErrClosed = errors.New("isolate pool closed")
)

// wrapping is a sentinel error that also matches a more general one.
type wrapping struct {
	msg string
	err error
}

func (e *wrapping) Error() string { return e.msg }
func (e *wrapping) Unwrap() error { return e.err }

var _ jobs.Extractor = (*Pool)(nil)

// Defaults of [Config].
const (
	DefaultJobTimeout  = 30 * time.Minute
	DefaultMemoryLimit = 1 << 30
	DefaultCancelGrace = 2 * time.Second
)

// startTimeout bounds an isolate's start-up handshake.
const startTimeout = 30 * time.Second

// Config configures a [Pool]. The zero value runs runtime.NumCPU() isolates
// of the running executable.
type Config struct {
	// Command is the isolate program. Defaults to the running executable
	// (os.Executable), which must serve the protocol with [ServeProcess].
	Command string
	// Args are Command's arguments. When Command is empty they default to
	// ["isolate"], the hidden subcommand of audex.
	Args []string
	// Env is added to the parent's environment for each isolate.
	Env []string
	// Size is the number of isolate processes. Defaults to runtime.NumCPU().
	Size int
	// JobTimeout bounds each job's wall time, on top of any deadline of the
	// job's context. 0 means DefaultJobTimeout; negative means only the
	// context's deadline.
	JobTimeout time.Duration
	// MemoryLimit caps each isolate's writable memory (RLIMIT_DATA, see
	// ServeProcess) in bytes, the process's own ~130 MiB included. A job
	// that needs more fails, or takes its isolate down (ErrCrashed)
	// when the Go runtime is the one refused. 0 means DefaultMemoryLimit;
	// negative means no cap. Race-enabled isolates ignore it.
	MemoryLimit int64
	// CancelGrace is how long a canceled or timed-out job may take to stop
	// before its isolate is killed (a call stuck inside C cannot see its
	// context), and how long an idle isolate may take to exit at shutdown.
	// Defaults to DefaultCancelGrace.
	CancelGrace time.Duration
	// Logger receives the isolates' stderr and the supervisor's events.
	// Defaults to slog.Default().
	Logger *slog.Logger
}

// Pool runs extractions in long-lived isolate processes, one job per isolate
// at a time, so that a crash or a hang inside FFmpeg's C code costs one job
// and one process, never the caller's process.
//
// Each job's wall time is bounded by its context's deadline and
// Config.JobTimeout: when either passes, or the context is canceled, the
// isolate is asked to cancel and is killed if it has not stopped within
// Config.CancelGrace. An isolate that dies is replaced at once.
//
// A Pool is a jobs.Extractor.
type Pool struct {
	cfg     Config
	command string
	args    []string
	env     []string
	log     *slog.Logger

	idle chan *proc    // isolates ready for a job; capacity Size
	kill chan struct{} // closed by Close: running jobs stop, no restarts

	mu      sync.Mutex
	closing bool
	live    map[*proc]struct{}

	spawn chan func() // runs on the spawning thread, see spawner

	calls    sync.WaitGroup // Extract calls in progress
	respawns sync.WaitGroup // goroutines replacing dead isolates
	readers  sync.WaitGroup // one per started process, until it is reaped

	killOnce, stopOnce sync.Once

	seq      atomic.Int64 // numbers isolates in the log
	restarts atomic.Int64
}

// NewPool starts cfg.Size isolate processes and returns when all of them are
// ready, or with an error when any fails to start. A nil cfg means all
// defaults.
func NewPool(cfg *Config) (*Pool, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	p := &Pool{cfg: c, command: c.Command, args: c.Args, log: c.Logger, live: make(map[*proc]struct{})}
	if p.command == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("isolate: find own executable: %w", err)
		}
		p.command = exe
		if p.args == nil {
			p.args = []string{"isolate"}
		}
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.cfg.Size <= 0 {
		p.cfg.Size = runtime.NumCPU()
	}
	if p.cfg.JobTimeout == 0 {
		p.cfg.JobTimeout = DefaultJobTimeout
	}
	if p.cfg.MemoryLimit == 0 {
		p.cfg.MemoryLimit = DefaultMemoryLimit
	}
	if p.cfg.CancelGrace <= 0 {
		p.cfg.CancelGrace = DefaultCancelGrace
	}
	p.env = append(os.Environ(), c.Env...)
	if p.cfg.MemoryLimit > 0 {
		p.env = append(p.env, memoryLimitEnv+"="+strconv.FormatInt(p.cfg.MemoryLimit, 10))
	}
	p.idle = make(chan *proc, p.cfg.Size)
	p.kill = make(chan struct{})
	p.spawn = make(chan func())
	go p.spawner()

	errs := make(chan error, p.cfg.Size)
	for range p.cfg.Size {
		go func() {
			w, err := p.start()
			if err == nil {
				p.idle <- w
			}
			errs <- err
		}()
	}
	var first error
	for range p.cfg.Size {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		p.Close()
		return nil, first
	}
	return p, nil
}

// Extract runs extract.ExtractFile(ctx, dstPath, srcPath, &opts) in an isolate
// process and returns its outcome: the Result, or an error that matches the
// same extract sentinels (errors.Is) as in-process extraction would.
//
// opts.Progress, when set, is called on this goroutine as the isolate reports
// progress, and opts.Logger receives the job's log records (FFmpeg's
// messages) from the isolate. Relative paths are resolved against the current
// directory. The isolate writes into a private directory beside dstPath
// (".audex-job-*"), removed when Extract returns; dstPath appears only on
// success.
//
// Besides extraction errors, Extract returns an error wrapping
// [ErrCrashed] when the isolate died; one wrapping
// context.DeadlineExceeded (and extract.ErrCanceled) when Config.JobTimeout
// or the context's deadline passed; one wrapping the context's error when it
// was canceled; and [ErrClosed] once the pool is shutting down.
func (p *Pool) Extract(ctx context.Context, dstPath, srcPath string, opts extract.Options) (*extract.Result, error) {
	if !p.enter() {
		return nil, ErrClosed
	}
	defer p.calls.Done()
	src, err := filepath.Abs(srcPath)
	if err != nil {
		return nil, fmt.Errorf("isolate: resolve input path: %w", err)
	}
	dst, err := filepath.Abs(dstPath)
	if err != nil {
		return nil, fmt.Errorf("isolate: resolve output path: %w", err)
	}
	// The isolate writes into a private directory beside dstPath, so that a
	// isolate killed mid-job leaves nothing behind that the pool cannot find.
	dir, err := os.MkdirTemp(filepath.Dir(dst), ".audex-job-*")
	if err != nil {
		return nil, fmt.Errorf("isolate: %w: create job directory: %w", extract.ErrOutput, err)
	}
	defer os.RemoveAll(dir)
	w, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	healthy := false
	defer func() { // deferred: a panicking Progress or Logger must not lose the slot
		if healthy {
			p.idle <- w
		} else {
			p.replace(w)
		}
	}()
	tmp := filepath.Join(dir, filepath.Base(dst))
	var res *extract.Result
	res, err, healthy = p.run(ctx, w, tmp, src, opts)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return nil, fmt.Errorf("isolate: %w: move output into place: %w", extract.ErrOutput, err)
	}
	return res, nil
}

// Shutdown stops taking calls (they return ErrClosed), waits for the calls
// in progress to finish, and then ends the isolates. If ctx ends first it
// closes the pool as Close does and returns ctx's error.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.beginClose()
	finished := make(chan struct{})
	go func() {
		p.calls.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		p.stopIsolates()
		return nil
	case <-ctx.Done():
		p.Close()
		<-finished
		return ctx.Err()
	}
}

// Close stops taking calls, cancels running jobs (which return an error
// wrapping ErrClosed, killing isolates that do not stop within
// Config.CancelGrace) and ends the isolates. It returns when every isolate
// process has exited.
func (p *Pool) Close() error {
	p.beginClose()
	p.killOnce.Do(func() { close(p.kill) })
	p.calls.Wait()
	p.stopIsolates()
	return nil
}

func (p *Pool) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.calls.Add(1)
	return true
}

func (p *Pool) beginClose() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
}

// stopIsolates ends every isolate once no call is in progress: it stops
// restarts, closes the idle isolates' stdin (they exit on EOF) and kills any
// that have not exited within CancelGrace.
func (p *Pool) stopIsolates() {
	p.stopOnce.Do(func() {
		p.killOnce.Do(func() { close(p.kill) })
		p.respawns.Wait()
		p.mu.Lock()
		procs := make([]*proc, 0, len(p.live))
		for w := range p.live {
			procs = append(procs, w)
		}
		p.mu.Unlock()
		for _, w := range procs {
			w.stdin.Close()
		}
		timer := time.NewTimer(p.cfg.CancelGrace)
		defer timer.Stop()
		expired := false
		for _, w := range procs {
			if !expired {
				select {
				case <-w.exited:
					continue
				case <-timer.C:
					expired = true
				}
			}
			w.stop()
		}
		p.readers.Wait()
		p.mu.Lock()
		clear(p.live)
		p.mu.Unlock()
		for range len(p.idle) {
			<-p.idle
		}
		close(p.spawn)
	})
}

// spawner runs the functions sent on p.spawn, which start the isolates, on
// one OS thread that outlives them: the kernel sends an isolate its
// parent-death signal (sysProcAttr) when the thread that started it exits,
// not the process, and the Go runtime may end a thread.
func (p *Pool) spawner() {
	runtime.LockOSThread()
	// Never unlocked: the thread ends with this goroutine, after the isolates.
	for fn := range p.spawn {
		fn()
	}
}

// acquire takes an idle isolate, replacing any that died while idle.
func (p *Pool) acquire(ctx context.Context) (*proc, error) {
	for {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("isolate: waiting for a free isolate: %w: %w", extract.ErrCanceled, ctx.Err())
		}
		select {
		case w := <-p.idle:
			select {
			case <-w.exited:
				p.log.Warn("isolate: isolate died while idle", "isolate", w.seq, "pid", w.pid, "status", w.status())
				p.replace(w)
				continue
			default:
			}
			return w, nil
		case <-ctx.Done():
		case <-p.kill:
			return nil, ErrClosed
		}
	}
}

// run sends one job to w and follows it to its end. healthy reports that w
// may take another job.
func (p *Pool) run(ctx context.Context, w *proc, dst, src string, opts extract.Options) (res *extract.Result, err error, healthy bool) {
	w.lastID++
	id := w.lastID
	progress, logger := opts.Progress, opts.Logger
	q := request{Type: msgJob, ID: id, Src: src, Dst: dst, Options: toWireOptions(opts), Progress: progress != nil, LogLevel: minLevel(ctx, logger)}
	if err := w.out.send(q); err != nil {
		w.stop()
		return nil, p.crashed(w, err), false
	}

	var deadline <-chan time.Time
	if p.cfg.JobTimeout > 0 {
		t := time.NewTimer(p.cfg.JobTimeout)
		defer t.Stop()
		deadline = t.C
	}
	var (
		reason     error // why the job is being stopped, nil while it runs
		grace      <-chan time.Time
		graceTimer *time.Timer
	)
	defer func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
	}()
	stopJob := func(why error) {
		if reason != nil {
			return
		}
		reason = why
		// A failed send means the isolate is gone; its replies will end.
		_ = w.out.send(request{Type: msgCancel, ID: id})
		graceTimer = time.NewTimer(p.cfg.CancelGrace)
		grace = graceTimer.C
	}
	done, kill := ctx.Done(), p.kill
	for {
		select {
		case m, ok := <-w.replies:
			switch {
			case !ok:
				<-w.exited
				return nil, p.crashed(w, nil), false
			case m.Type == msgProgress && m.ID == id:
				if progress != nil {
					progress(extract.Progress{Done: m.Done, Total: m.Total})
				}
			case m.Type == msgLog && m.ID == id:
				if logger != nil {
					attrs := make([]slog.Attr, len(m.Attrs))
					for i, a := range m.Attrs {
						attrs[i] = slog.Any(a.Key, a.Value)
					}
					logger.LogAttrs(ctx, m.Level, m.Msg, attrs...)
				}
			case m.Type == msgDone && m.ID == id && m.Error != nil:
				return nil, stopped(m.Error.decode(), reason), true
			case m.Type == msgDone && m.ID == id && m.Result != nil:
				return m.Result.result(), nil, true
			default:
				w.stop()
				return nil, p.crashed(w, fmt.Errorf("%w: unexpected %q message (id %d) during job %d", errProtocol, m.Type, m.ID, id)), false
			}
		case <-done:
			done = nil
			stopJob(ctx.Err())
		case <-deadline:
			deadline = nil
			stopJob(fmt.Errorf("job ran past the %v job timeout: %w", p.cfg.JobTimeout, context.DeadlineExceeded))
		case <-kill:
			kill = nil
			stopJob(ErrClosed)
		case <-grace:
			w.stop()
			<-w.exited
			p.log.Warn("isolate: killed an isolate that did not stop its job", "isolate", w.seq, "pid", w.pid, "grace", p.cfg.CancelGrace, "reason", reason)
			return nil, fmt.Errorf("isolate: %w: isolate killed, job did not stop within %v: %w", extract.ErrCanceled, p.cfg.CancelGrace, reason), false
		}
	}
}

// stopped makes the error of a job the pool stopped match the pool's reason
// (the context's error, the job timeout, ErrClosed) rather than the isolate's
// view of it, which is always a cancel.
func stopped(remote, reason error) error {
	if reason == nil || !errors.Is(remote, extract.ErrCanceled) {
		return remote
	}
	return &remoteError{msg: remote.Error(), errs: []error{extract.ErrCanceled, reason}}
}

// crashed describes the death of the isolate running a job: its exit status
// and cause.
func (p *Pool) crashed(w *proc, cause error) error {
	<-w.exited
	status := w.status()
	if cause == nil {
		cause = w.readErr
	}
	p.log.Error("isolate: isolate died during a job", "isolate", w.seq, "pid", w.pid, "status", status, "cause", cause)
	if cause != nil {
		return fmt.Errorf("isolate: %w (%s): %w", ErrCrashed, status, cause)
	}
	return fmt.Errorf("isolate: %w (%s)", ErrCrashed, status)
}

// replace retires w and starts its successor in the background.
func (p *Pool) replace(w *proc) {
	w.stop()
	p.mu.Lock()
	delete(p.live, w)
	p.mu.Unlock()
	p.restarts.Add(1)
	p.respawns.Add(1)
	go func() {
		defer p.respawns.Done()
		<-w.exited
		delay := 10 * time.Millisecond
		for {
			nw, err := p.start()
			if err == nil {
				p.idle <- nw
				return
			}
			if errors.Is(err, ErrClosed) {
				return
			}
			p.log.Error("isolate: restart failed", "err", err, "retry_in", delay)
			select {
			case <-p.kill:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 5*time.Second)
		}
	}()
}
