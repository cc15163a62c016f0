package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/audex/audex/extract"
)

// errShutdown is the cause of a running job's cancellation by Shutdown or
// Close: the job goes back to the queue.
var errShutdown = errors.New("jobs: manager shutting down")

// Manager runs extraction jobs from a durable queue. It is safe for
// concurrent use.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	dir   string
	store *watchedStore
	blobs Blobs
	link  linkFunc // os.Link; tests refuse it to take the copy path

	runCtx   context.Context // parent of every job's context
	stopRuns context.CancelCauseFunc
	stop     chan struct{} // closed: runners take no more jobs
	wake     chan struct{} // a job may be waiting for a runner
	runners  sync.WaitGroup

	sweepStop chan struct{}
	sweepDone chan struct{}

	// A shared store (shared.go): pg is nil with the embedded one. The
	// node's background goroutines (heartbeat and reaper, progress reports,
	// the listener) run until bgStop closes; hush silences the heartbeat
	// (tests: a node that stops answering).
	pg     *pgStore
	bgStop chan struct{}
	bg     sync.WaitGroup
	hush   chan struct{}

	// The fetch stage (fetch.go): its own pool, woken by fetchWake, ended
	// by stopFetches. fetchMu serializes claims (lock order: fetchMu, then
	// the store, then mu).
	fetchCtx    context.Context
	stopFetches context.CancelFunc
	fetchWake   chan struct{}
	fetchers    sync.WaitGroup
	fetchMu     sync.Mutex

	// claimMu orders a runner's claim-and-register and its final commit
	// against Cancel, so Cancel always finds the run of a job it sees
	// running. (A run stays registered a little longer, until its files are
	// cleaned up.)
	claimMu sync.Mutex

	// resMu guards the places in the queue held by submissions still
	// receiving their input, and the bytes they expect (see Reservation).
	resMu         sync.Mutex
	reserved      int
	reservedBytes int64

	mu        sync.Mutex
	runs      map[string]*run
	fetching  map[string]context.CancelFunc // URL jobs being fetched
	changed   chan struct{}                 // closed and replaced whenever a job changes state
	closing   bool                          // Shutdown or Close was called
	notifying bool                          // StartNotifier was called
	stopped   sync.Once

	life      sync.RWMutex // store use (read) against closing it (write)
	closed    bool         // the store is closed; guarded by life
	done      chan struct{}
	finishing sync.Once
	finishErr error
}

// New opens (or creates) the data directory, recovers the jobs a previous
// process left behind, removes orphaned files, and starts the runners and
// the sweeper. A Config.Dir that exists must be empty (dotfiles and
// lost+found aside) or a data directory already: New marks the directories
// it takes with a .audex-jobs file and refuses, with ErrInvalidRequest, a
// directory of other files, where its clean-up of orphaned files in
// inputs/, results/ and tmp/ could delete files it did not create.
//
// With a shared Config.Store, New connects to it, applies its schema
// (Migrate) and joins the nodes on it: its workers take jobs from River,
// and it answers for every job whichever node runs it.
func New(cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("jobs: data directory: %w", err)
	}
	needMarker, err := claimDir(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{inputsDir, resultsDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), dirPerm); err != nil {
			return nil, fmt.Errorf("jobs: data directory: %w", err)
		}
	}
	m, err := makeManager(cfg, dir)
	if err != nil {
		return nil, err
	}
	var st store
	if cfg.shared() {
		if st, err = m.openShared(); err != nil {
			return nil, err
		}
	} else if st, err = openBolt(filepath.Join(dir, storeFile)); err != nil {
		return nil, err
	}
	if needMarker {
		if err := markDir(dir); err != nil {
			st.close()
			return nil, err
		}
	}
	if err := m.start(st); err != nil {
		st.close()
		return nil, err
	}
	return m, nil
}

// newManager recovers st and starts the manager on it.
func newManager(cfg Config, dir string, st store) (*Manager, error) {
	m, err := makeManager(cfg, dir)
	if err != nil {
		return nil, err
	}
	if err := m.start(st); err != nil {
		return nil, err
	}
	return m, nil
}

func makeManager(cfg Config, dir string) (*Manager, error) {
	blobs := cfg.Blobs
	if blobs == nil {
		var err error
		if blobs, err = NewDiskBlobs(dir); err != nil {
			return nil, err
		}
	}
	m := &Manager{
		cfg:       cfg,
		log:       cfg.Logger,
		dir:       dir,
		blobs:     blobs,
		link:      os.Link,
		stop:      make(chan struct{}),
		wake:      make(chan struct{}, 1),
		sweepStop: make(chan struct{}),
		sweepDone: make(chan struct{}),
		bgStop:    make(chan struct{}),
		hush:      make(chan struct{}),
		runs:      map[string]*run{},
		fetching:  map[string]context.CancelFunc{},
		fetchWake: make(chan struct{}, 1),
		changed:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	m.runCtx, m.stopRuns = context.WithCancelCause(context.Background())
	m.fetchCtx, m.stopFetches = context.WithCancel(context.Background())
	return m, nil
}

// start recovers st and starts the manager's goroutines on it: its own
// runners and fetchers on a local queue, River's workers on a shared
// store.
func (m *Manager) start(st store) error {
	m.store = &watchedStore{store: st}
	if err := m.recoverJobs(); err != nil {
		m.stopRuns(nil)
		m.stopFetches()
		return err
	}
	if m.pg != nil {
		if err := m.startShared(); err != nil {
			m.stopRuns(nil)
			m.stopFetches()
			return err
		}
	} else {
		m.runners.Add(m.cfg.Workers)
		for range m.cfg.Workers {
			go m.runner()
		}
		if m.cfg.Fetcher != nil {
			m.fetchers.Add(m.cfg.Fetchers)
			for range m.cfg.Fetchers {
				go m.fetcher()
			}
		}
	}
	go m.sweeper()
	m.signal()
	m.signalFetch()
	return nil
}

// use runs fn while the store is open, else returns ErrClosed.
func (m *Manager) use(fn func() error) error {
	m.life.RLock()
	defer m.life.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn()
}

// Dir returns the data directory, as an absolute path.
func (m *Manager) Dir() string { return m.dir }

// storeErr maps a store failure to ErrUnavailable, keeping the sentinels the
// store reports on purpose.
func storeErr(err error) error {
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrQueueFull) || errors.Is(err, errTransition) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (m *Manager) retention(r *record) time.Duration {
	if r.Request.Retention > 0 {
		return r.Request.Retention
	}
	return m.cfg.Retention
}

// signal wakes one idle runner.
func (m *Manager) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// notify wakes everyone waiting for a job to change.
func (m *Manager) notify() {
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Changed returns a channel that is closed at the next change of any job's
// state: a submission, start, end, cancel, deletion or re-queue (not at
// progress, which callers that show it poll). Take the channel before
// reading a job (Get), so that no change in between is missed. The channel
// is also closed when the manager closes.
func (m *Manager) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

const maxLabel = 1024

// validate checks and canonicalizes a request.
func (m *Manager) validate(req *Request, isURL bool) error {
	switch {
	case isURL && req.URL == "":
		return fmt.Errorf("%w: no URL", ErrInvalidRequest)
	case isURL && m.cfg.Fetcher == nil:
		return fmt.Errorf("%w: URL inputs are not enabled", ErrInvalidRequest)
	case !isURL && req.URL != "":
		return fmt.Errorf("%w: a URL with an uploaded input", ErrInvalidRequest)
	case req.Retention < 0:
		return fmt.Errorf("%w: negative retention", ErrInvalidRequest)
	case len(req.Name) > maxLabel || len(req.Owner) > maxLabel || len(req.URL) > 8*maxLabel:
		return fmt.Errorf("%w: name, owner or URL too long", ErrInvalidRequest)
	case len(req.Notify) > maxNotifyLen:
		return fmt.Errorf("%w: notification target over %d bytes", ErrInvalidRequest, maxNotifyLen)
	}
	f := extract.MP3
	if req.Options.Format != "" {
		var err error
		if f, err = extract.ParseFormat(string(req.Options.Format)); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	}
	req.Options.Format = f
	req.Options.Progress = nil
	return nil
}

// admit is the first step of every submission: the manager is open and the
// request valid. Room in the queue is the reservation's business.
func (m *Manager) admit(req *Request, isURL bool) error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	return m.validate(req, isURL)
}

func (m *Manager) checkOpen() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		return ErrClosed
	}
	return nil
}

// enqueue durably records a new job whose input (if any) is in place.
// The submission's place p is handed to the job in the same step, so no
// reservation made meanwhile sees the job counted both as queued and as
// still arriving.
func (m *Manager) enqueue(id string, req Request, n int64, p *place) (Job, error) {
	req.MoveInput = false // how the input was taken, not part of the job
	now := m.cfg.Now()
	r := &record{ID: id, CreatedAt: now, Request: req, InputBytes: n, HaveInput: req.URL == ""}
	err := m.use(func() error {
		m.resMu.Lock()
		defer m.resMu.Unlock()
		if err := m.store.enqueue(r, m.cfg.QueueSize); err != nil {
			return storeErr(err)
		}
		m.give(p)
		return nil
	})
	if err != nil {
		return Job{}, err
	}
	m.log.Info("job queued", "job", id, "input_bytes", n, "position", r.position)
	if r.needsFetch() {
		m.signalFetch()
	} else {
		m.signal()
	}
	m.notify()
	return m.view(r, now), nil
}

// SubmitFile submits the file at path as a job's input and returns once
// the job is durably queued. The caller's file is left where it is and as
// it is: the data directory gets a hard link to it when both are on one
// file system (instant, and no extra space), else a copy. The manager never
// writes to its input and removes only its own link or copy (when the job
// ends, is deleted or expires), so the caller's file outlives the job;
// the one thing a link shares is the file's content: a change made to the
// file in place before the job has read it is what the job reads. (Write a
// new file and rename it over the old one to keep a queued job's input
// apart.)
//
// With req.MoveInput the file itself is taken instead: moved into the data
// directory (copied, and the original removed, when path is on another file
// system), gone from path once SubmitFile has returned without error.
//
// path must name a non-empty regular file (a symlink to one is followed
// unless MoveInput is set); a directory, device, FIFO or socket fails with
// ErrInvalidRequest and is never opened for reading. On any error the file
// is left where it was and nothing is stored. (If the process dies during a
// move, before SubmitFile returned, the file may have been moved in
// already; the next start removes it with the other orphans.)
func (m *Manager) SubmitFile(ctx context.Context, path string, req Request) (Job, error) {
	return m.submit(&req, false, func(p *place) (Job, error) { return m.submitFile(ctx, path, req, p) })
}

// SubmitReader spools r into the data directory as a job's input and
// submits it. It returns once the job is durably queued; on error nothing
// of it is kept. Reading stops when ctx is done.
func (m *Manager) SubmitReader(ctx context.Context, r io.Reader, req Request) (Job, error) {
	return m.submit(&req, false, func(p *place) (Job, error) { return m.submitReader(ctx, r, req, p) })
}

// SubmitURL submits a job whose input Config.Fetcher downloads. It returns
// once the job is durably queued, at once: the download is a stage of its
// own (fetching, on Config.Fetchers downloads at a time), after which the
// input is stored through Config.Blobs and the job waits for a runner as an
// uploaded one does (queued, then running). A download never holds one of
// Config.Workers.
func (m *Manager) SubmitURL(ctx context.Context, req Request) (Job, error) {
	return m.submit(&req, true, func(p *place) (Job, error) { return m.enqueue(newID(), req, 0, p) })
}

// submit admits req, holds a place in the queue while fn stores the job, and
// gives the place back: the stored job now counts among the queued.
func (m *Manager) submit(req *Request, isURL bool, fn func(*place) (Job, error)) (Job, error) {
	if err := m.admit(req, isURL); err != nil {
		return Job{}, err
	}
	p, err := m.reserve(0)
	if err != nil {
		return Job{}, err
	}
	defer m.unreserve(p)
	return fn(p)
}

func (m *Manager) submitFile(ctx context.Context, path string, req Request, p *place) (Job, error) {
	id := newID()
	stage := m.tmpPath(id, tmpStaged)
	in, err := adopt(ctx, path, stage, m.tmpPath(id, tmpInCopied), req.MoveInput, m.link)
	if err != nil {
		return Job{}, err
	}
	job, err := m.enqueueWith(ctx, id, req, in.size, stage, p)
	if err != nil {
		in.undo()
		return Job{}, err
	}
	os.Remove(stage)
	in.done()
	return job, nil
}

func (m *Manager) submitReader(ctx context.Context, r io.Reader, req Request, p *place) (Job, error) {
	id := newID()
	tmp := m.tmpPath(id, tmpUpload)
	n, err := spool(ctx, tmp, r)
	if err != nil {
		return Job{}, err
	}
	defer os.Remove(tmp)
	if n == 0 {
		return Job{}, fmt.Errorf("%w: empty input", ErrInvalidRequest)
	}
	return m.enqueueWith(ctx, id, req, n, tmp, p)
}

// enqueueWith puts the input at path into the blobs and records the job.
// On error neither is left: a job is acknowledged only once both its input
// and its record are durable.
func (m *Manager) enqueueWith(ctx context.Context, id string, req Request, n int64, path string, p *place) (Job, error) {
	if err := m.blobs.Put(ctx, inputKey(id), path); err != nil {
		m.deleteBlob(inputKey(id))
		if ctx.Err() != nil {
			return Job{}, fmt.Errorf("jobs: store input: %w", ctx.Err())
		}
		return Job{}, fmt.Errorf("%w: store input: %w", ErrUnavailable, err)
	}
	job, err := m.enqueue(id, req, n, p)
	if err != nil {
		m.deleteBlob(inputKey(id))
		return Job{}, err
	}
	return job, nil
}

// blobTimeout bounds the blob operations that no caller's context bounds:
// deletions, and opening a result.
const blobTimeout = time.Minute

// deleteBlob removes a blob, logging a failure: what a deletion leaves
// behind, the next start's sweep of orphans removes.
func (m *Manager) deleteBlob(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	if err := m.blobs.Delete(ctx, key); err != nil {
		m.log.Error("deleting a blob failed", "key", key, "err", err)
	}
}

// deleteResults removes every result blob of a job.
func (m *Manager) deleteResults(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	bs, err := m.blobs.List(ctx, resultsKey(id))
	if err != nil {
		m.log.Error("listing a job's results failed", "job", id, "err", err)
		return
	}
	for _, b := range bs {
		m.deleteBlob(b.Key)
	}
}

// get reads a record that readers may still see.
func (m *Manager) get(id string, now time.Time) (*record, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	var r *record
	err := m.use(func() error {
		var err error
		r, err = m.store.get(id)
		return storeErr(err)
	})
	if err != nil {
		return nil, err
	}
	if r.forgotten(now, m.cfg.ExpiredGrace) {
		return nil, ErrNotFound
	}
	return r, nil
}

// Get returns a job's current state.
func (m *Manager) Get(id string) (Job, error) {
	now := m.cfg.Now()
	r, err := m.get(id, now)
	if err != nil {
		return Job{}, err
	}
	return m.view(r, now), nil
}

// List returns the jobs of owner ("" for all) in submission order.
func (m *Manager) List(owner string) ([]Job, error) {
	now := m.cfg.Now()
	var rs []*record
	err := m.use(func() error {
		var err error
		rs, err = m.store.list()
		return storeErr(err)
	})
	if err != nil {
		return nil, err
	}
	jobs := make([]Job, 0, len(rs))
	for _, r := range rs {
		if (owner == "" || r.Request.Owner == owner) && !r.forgotten(now, m.cfg.ExpiredGrace) {
			jobs = append(jobs, m.view(r, now))
		}
	}
	return jobs, nil
}

// view turns a record into the Job a caller sees at now.
func (m *Manager) view(r *record, now time.Time) Job {
	j := Job{
		ID:         r.ID,
		State:      r.stateAt(now),
		Attempts:   r.Attempts,
		CreatedAt:  r.CreatedAt,
		StartedAt:  r.StartedAt,
		FinishedAt: r.FinishedAt,
		ExpiresAt:  r.ExpiresAt,
		Request:    r.Request,
		InputBytes: r.InputBytes,
		Error:      r.Error,

		Notification: r.Notice.status(),
	}
	switch j.State {
	case StateQueued:
		j.Stage, j.QueuePosition = StageQueued, r.position
		if r.needsFetch() {
			j.Stage = StageFetching
		}
	case StateRunning:
		j.Stage = StageProbing
		if r.stage != "" {
			j.Stage, j.Progress = r.stage, r.progress // as its node reported them
		}
		m.mu.Lock()
		if run := m.runs[r.ID]; run != nil {
			j.Stage, j.Progress = run.status()
		}
		m.mu.Unlock()
	default:
		j.Stage = StageDone
	}
	if r.Result != nil {
		out := *r.Result
		j.Progress = 1
		if j.State == StateSucceeded {
			out.Path = localPath(m.blobs, resultKey(r.ID, resultName(out.Format)))
		}
		j.Result = &out
	}
	return j
}

// Cancel cancels a job. A queued job is canceled at once. A running job's
// context is canceled; it turns canceled when its extraction has returned
// (Wait for it), and its runner takes no other job until then. Canceling a
// final job changes nothing. Cancel returns the job as it is afterwards.
func (m *Manager) Cancel(id string) (Job, error) {
	now := m.cfg.Now()
	if _, err := m.get(id, now); err != nil {
		return Job{}, err
	}
	r, err := m.cancel(id, now)
	if err != nil {
		return Job{}, err
	}
	return m.view(r, now), nil
}

func (m *Manager) cancel(id string, now time.Time) (*record, error) {
	var r *record
	err := m.use(func() error {
		m.claimMu.Lock()
		defer m.claimMu.Unlock()
		// On a shared store another node may claim, end or re-queue the
		// job between the read and the change (claimMu is this node's
		// only): then look again.
		for {
			var err error
			if r, err = m.store.get(id); err != nil {
				return storeErr(err)
			}
			switch r.State {
			case StateQueued:
				r, err = m.store.update(id, func(r *record) error { return r.cancelQueued(now, m.retention(r)) })
				if errors.Is(err, errTransition) && m.pg != nil {
					continue
				}
				if err != nil {
					return storeErr(err)
				}
				m.mu.Lock()
				if stop := m.fetching[id]; stop != nil {
					stop()
				}
				m.mu.Unlock()
				m.deleteBlob(inputKey(id))
				m.log.Info("job canceled", "job", id, "state", StateQueued)
				m.notify()
				if m.pg != nil {
					m.cancelRiver(r.riverJob) // a fetch under way on another node
				}
			case StateRunning:
				m.mu.Lock()
				if run := m.runs[id]; run != nil {
					run.userCanceled.Store(true)
					run.cancel(context.Canceled)
				}
				m.mu.Unlock()
				if m.pg != nil {
					// Whichever node runs it: the row says canceled (for
					// the reaper, should that node die), and River cancels
					// the work's context there.
					riverJob, marked, err := m.pg.requestCancel(id)
					if err != nil {
						return storeErr(err)
					}
					if !marked {
						continue
					}
					m.cancelRiver(riverJob)
				}
			}
			return nil
		}
	})
	return r, err
}

// cancelRiver cancels a River job (0: none), logging a failure.
func (m *Manager) cancelRiver(riverJob int64) {
	if riverJob == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	if _, err := m.pg.river.JobCancel(ctx, riverJob); err != nil {
		m.log.Error("canceling a river job failed", "river_job", riverJob, "err", err)
	}
}

// Wait blocks until the job is final (or ctx is done, or the manager
// closes) and returns it. When it returns a final job, the runner that ran
// it is done with it: its input and temporary files are gone. (With a
// shared store, for a job another node ran, Wait returns at the commit of
// its outcome; the node deletes the input just after.)
func (m *Manager) Wait(ctx context.Context, id string) (Job, error) {
	for {
		ch := m.Changed()
		j, err := m.Get(id)
		if err != nil {
			return j, err
		}
		var runDone chan struct{}
		if j.State.Final() {
			m.mu.Lock()
			if run := m.runs[id]; run != nil {
				runDone = run.done
			}
			m.mu.Unlock()
			if runDone == nil {
				return j, nil
			}
			ch = runDone
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return j, ctx.Err()
		case <-m.done:
			return j, ErrClosed
		}
	}
}

// Delete removes a job, its record and its files. A running job is canceled
// first, and Delete returns once its extraction has returned.
func (m *Manager) Delete(id string) error {
	if !validID(id) {
		return ErrNotFound
	}
	r, err := m.cancel(id, m.cfg.Now())
	if err != nil {
		return err
	}
	if r.State == StateRunning {
		m.mu.Lock()
		run := m.runs[id]
		m.mu.Unlock()
		if run != nil {
			<-run.done
		} else if m.pg != nil {
			if err := m.awaitEnd(id); err != nil {
				return err
			}
		}
	}
	err = m.use(func() error { return storeErr(m.store.remove(id)) })
	if err != nil {
		return err
	}
	m.removeFiles(id)
	m.log.Info("job deleted", "job", id)
	m.notify()
	return nil
}

// awaitEnd waits until a job another node runs is no longer running (its
// node concluded it, or the reaper did for a dead node).
func (m *Manager) awaitEnd(id string) error {
	for {
		ch := m.Changed()
		var r *record
		err := m.use(func() error {
			var err error
			r, err = m.store.get(id)
			return storeErr(err)
		})
		if errors.Is(err, ErrNotFound) || (err == nil && r.State != StateRunning) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-time.After(time.Second): // a change the listener missed
		case <-m.done:
			return ErrClosed
		}
	}
}

func (m *Manager) removeFiles(id string) {
	m.deleteBlob(inputKey(id))
	m.deleteResults(id)
	for _, s := range []string{tmpUpload, tmpFetch, tmpOutput, tmpInCopied, tmpStaged, tmpSource} {
		os.Remove(m.tmpPath(id, s))
	}
}

// OpenResult opens a succeeded job's result for reading (and seeking: an
// HTTP server serves ranges of it). It fails with ErrExpired once the
// result has passed its retention, and ErrNotReady before the job
// succeeded (or when it failed). The result is read from Config.Blobs: on
// the default disk, through an os.Root on the data directory.
func (m *Manager) OpenResult(ctx context.Context, id string) (Blob, Job, error) {
	j, err := m.Get(id)
	if err != nil {
		return nil, Job{}, err
	}
	switch j.State {
	case StateSucceeded:
	case StateExpired:
		return nil, j, ErrExpired
	default:
		return nil, j, fmt.Errorf("%w: job is %s", ErrNotReady, j.State)
	}
	var f Blob
	err = m.use(func() error {
		var err error
		f, err = m.blobs.Open(ctx, resultKey(id, resultName(j.Result.Format)))
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		// Expired or deleted since Get.
		if j2, err2 := m.Get(id); err2 != nil {
			return nil, j, err2
		} else if j2.State == StateExpired {
			return nil, j2, ErrExpired
		}
	}
	if err != nil {
		return nil, j, fmt.Errorf("jobs: open result of %s: %w", id, err)
	}
	return f, j, nil
}

// beginClose refuses new submissions and stops runners from taking jobs.
func (m *Manager) beginClose() {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	m.stopped.Do(func() { close(m.stop) })
	// Downloads under way start again at the next start.
	m.stopFetches()
}

// Shutdown stops accepting jobs and waits for the running ones to finish.
// When ctx is done first, it cancels them instead; they go back to the
// queue (their attempt is not counted as a crash) and Shutdown returns
// ctx's error once their extractions have returned. Queued jobs stay queued
// in the store for the next manager on the data directory. Afterwards every
// method returns ErrClosed.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.beginClose()
	idle := make(chan struct{})
	go func() {
		m.runners.Wait()
		close(idle)
	}()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
		m.stopRuns(errShutdown)
		<-idle
	}
	if ferr := m.finish(); err == nil {
		err = ferr
	}
	return err
}

// Close stops the manager at once: running jobs are canceled and go back to
// the queue for the next start (not failed). It returns once their
// extractions have returned and the store is closed.
func (m *Manager) Close() error {
	m.beginClose()
	m.stopRuns(errShutdown)
	m.runners.Wait()
	return m.finish()
}

// finish stops the sweeper and closes the store, once.
func (m *Manager) finish() error {
	m.finishing.Do(func() {
		m.stopRuns(errShutdown)
		m.fetchers.Wait()
		close(m.sweepStop)
		<-m.sweepDone
		if m.pg != nil {
			m.stopShared()
		}
		m.life.Lock()
		m.closed = true
		m.finishErr = m.store.close()
		m.life.Unlock()
		close(m.done)
		m.notify()
		m.log.Info("job manager closed")
	})
	return m.finishErr
}

// Ready reports whether the manager can take jobs now, for a readiness
// check: it is open (else ErrClosed), its store can be read and, after a
// write to it failed, written (it probes with a write only then), its
// blobs answer (ErrUnavailable), and the data directory has more than
// Config.MinFreeBytes free (else ErrUnavailable wrapping syscall.ENOSPC).
func (m *Manager) Ready() error {
	if err := m.checkOpen(); err != nil {
		return err
	}
	return m.use(func() error {
		if _, err := m.store.queued(); err != nil {
			return storeErr(err)
		}
		if err := m.store.writable(); err != nil {
			return storeErr(err)
		}
		if err := m.blobsAnswer(); err != nil {
			return err
		}
		return m.roomFor(0)
	})
}

// readyKey is a key no blob has: asking for it is a round trip to the
// blobs that finds nothing when they are up.
const readyKey = ".ready"

// readyTimeout bounds that round trip: a readiness probe must answer soon,
// and blobs that take longer are not ready.
const readyTimeout = 5 * time.Second

func (m *Manager) blobsAnswer() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := m.blobs.Stat(ctx, readyKey); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: blobs: %w", ErrUnavailable, err)
	}
	return nil
}

// Stats is a snapshot of the manager's load. With a shared store, Queued
// counts the whole cluster's queue (which QueueSize bounds) and the rest
// this node: its reservations, its running jobs, its workers (0 with
// NoWorkers).
type Stats struct {
	Queued    int `json:"queued"`
	Reserved  int `json:"reserved"` // places held by uploads still arriving (Reservation)
	Running   int `json:"running"`
	Workers   int `json:"workers"`
	QueueSize int `json:"queue_size"`
}

// Stats reports the manager's load. It reads the store: an error
// (ErrUnavailable) means the store cannot be read.
func (m *Manager) Stats() (Stats, error) {
	s := Stats{Workers: max(m.cfg.Workers, 0), QueueSize: m.cfg.QueueSize}
	err := m.use(func() error {
		var err error
		s.Queued, err = m.store.queued()
		return storeErr(err)
	})
	m.mu.Lock()
	s.Running = len(m.runs)
	m.mu.Unlock()
	m.resMu.Lock()
	s.Reserved = m.reserved
	m.resMu.Unlock()
	return s, err
}
