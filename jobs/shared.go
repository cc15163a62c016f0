package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// A Manager on a shared store (Config.Store postgres://…) is one node of
// many. River dispatches the jobs: its workers (Config.Workers of them for
// the extract queue, Config.Fetchers for the fetch queue) call into the
// same execute path as the embedded store's runners, and fetchOne as its
// fetchers. Beside them each node runs:
//
//   - a heartbeat (audex_nodes, every Config.heartbeat), after which it
//     reaps: the jobs held by nodes silent for Config.deadAfter are settled
//     as a crash settles them on the embedded store (a running job is
//     re-queued with a new River job, or fails worker_crashed at its second
//     death; canceled if a Cancel was asked), and a URL job being fetched
//     there is fetched again. So a dead node's job runs again elsewhere
//     within about deadAfter + heartbeat, whatever its timeout.
//   - a reporter that writes its running jobs' stage and progress to their
//     rows every progressEvery (when they changed).
//   - a listener on audex_changed that wakes Changed (Wait, streams) at
//     every change any node commits.
//
// Shutdown and Close re-queue the runs they interrupt as on the embedded
// store, and the re-queue inserts the job's next River job in its own
// transaction; the interrupted River job then completes. (Snoozing the
// River job instead would leave the re-queued row waiting on a River job
// still marked running should the process die before River records the
// snooze, until River's rescuer, an hour later.) A River job that a
// stopping node gets before it has claimed anything is snoozed: River
// hands it out again.

// progressEvery is how often a node writes its running jobs' progress.
const progressEvery = 250 * time.Millisecond

// sharedOrphanAge is how old a blob no job refers to must be before the
// start-up sweep of a shared store deletes it. A blob is put before the
// record that refers to it commits (an input before its job is queued, a
// result before its job succeeds), on any node: a young unreferenced blob
// may be another node's in flight. An hour is far beyond the time between
// a put and its commit.
const sharedOrphanAge = time.Hour

// extractWorker and fetchWorker are River's workers for the two kinds.
type extractWorker struct {
	river.WorkerDefaults[extractArgs]
	m *Manager
}

func (w *extractWorker) Work(ctx context.Context, job *river.Job[extractArgs]) error {
	return w.m.workExtract(ctx, job.Args.ID, job.ID)
}

type fetchWorker struct {
	river.WorkerDefaults[fetchArgs]
	m *Manager
}

func (w *fetchWorker) Work(ctx context.Context, job *river.Job[fetchArgs]) error {
	return w.m.workFetch(ctx, job.Args.ID, job.ID)
}

// openShared opens the shared store, with River's workers bound to m
// (none with NoWorkers: an insert-only client).
func (m *Manager) openShared() (store, error) {
	rc := &river.Config{
		Logger: m.log,
		// audex bounds each attempt itself (Config.JobTimeout), and its
		// reaper re-runs a dead node's jobs: River's rescuer acts only on
		// River jobs left running long after any attempt's end, stale by
		// then.
		JobTimeout:           -1,
		RescueStuckJobsAfter: max(maxJobTimeout, m.cfg.JobTimeout) + time.Hour,
		// A node fetches new River jobs at most once per cooldown, and a
		// job queued within a cooldown of the last fetch (the one after
		// the previous job ended, say) waits for the next: with River's
		// 100 ms default that wait was most of a 2 s clip's extra time on
		// a shared store, and it tracks the cooldown (submit to start,
		// p50: 7.1 ms at 10 ms, 4.8 at 5, 1.3 at 2). 2 ms bounds a busy
		// node to 500 fetch queries a second per queue.
		FetchCooldown: 2 * time.Millisecond,
	}
	if m.cfg.Workers != NoWorkers {
		rc.Workers = river.NewWorkers()
		river.AddWorker(rc.Workers, &extractWorker{m: m})
		river.AddWorker(rc.Workers, &fetchWorker{m: m})
		rc.Queues = map[string]river.QueueConfig{kindExtract: {MaxWorkers: m.cfg.Workers}}
		if m.cfg.Fetcher != nil {
			rc.Queues[kindFetch] = river.QueueConfig{MaxWorkers: m.cfg.Fetchers}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	st, err := openPostgres(ctx, m.cfg.Store, m.cfg.Node, rc)
	if err != nil {
		return nil, err
	}
	m.pg = st
	return st, nil
}

// startShared starts River's workers and the node's background goroutines.
func (m *Manager) startShared() error {
	if err := m.store.ping(); err != nil {
		return storeErr(err)
	}
	if m.cfg.Workers != NoWorkers {
		if err := m.pg.river.Start(context.WithoutCancel(m.runCtx)); err != nil {
			return fmt.Errorf("jobs: start river: %w", err)
		}
		// River's workers count as the runners: Shutdown and Close wait
		// for them (River's Stop waits for the jobs being worked).
		m.runners.Add(1)
		go func() {
			defer m.runners.Done()
			<-m.stop
			if err := m.pg.river.Stop(context.Background()); err != nil {
				m.log.Error("stopping river failed", "err", err)
			}
		}()
		m.bg.Add(1)
		go m.reporter()
	}
	m.bg.Add(2)
	go m.heartbeat()
	go m.listener()
	m.log.Info("joined the shared store", "node", m.cfg.Node, "workers", max(m.cfg.Workers, 0))
	return nil
}

// stopShared ends the background goroutines and leaves the cluster; the
// store is closed after it.
func (m *Manager) stopShared() {
	close(m.bgStop)
	m.bg.Wait()
	if err := m.pg.leave(); err != nil {
		m.log.Error("removing the node's heartbeat failed", "err", err)
	}
}

// silence stops the node's heartbeat and reaper, as if it had died (tests).
func (m *Manager) silence() { close(m.hush) }

// workExtract is a River extract job: claim the job, run it through the
// shared execute path, and tell River how it ended: nil (succeeded,
// re-queued with a River job of its own, or nothing to do), JobCancel for
// an outcome that is final (failed, canceled: never retried by River), an
// error when the store could not be reached (River retries), JobSnooze
// when this node is stopping.
func (m *Manager) workExtract(ctx context.Context, id string, riverJob int64) error {
	r, err := m.claimShared(id, riverJob)
	switch {
	case errors.Is(err, ErrClosed):
		return river.JobSnooze(0)
	case err != nil:
		return err
	case r == nil:
		m.log.Debug("stale dispatch ignored", "job", id, "river_job", riverJob)
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), river.ErrJobCancelledRemotely) {
			r.userCanceled.Store(true)
			r.cancel(context.Canceled)
		}
	})
	defer stop()
	rec := m.execute(r)
	if rec != nil && (rec.State == StateFailed || rec.State == StateCanceled) {
		return river.JobCancel(rec.Error)
	}
	return nil
}

// claimShared starts a job for River job riverJob on this node and
// registers its run; nil when the row does not wait for that River job.
// It claims nothing once the manager is stopping (ErrClosed), as claim.
func (m *Manager) claimShared(id string, riverJob int64) (*run, error) {
	m.claimMu.Lock()
	defer m.claimMu.Unlock()
	select {
	case <-m.stop:
		return nil, ErrClosed
	default:
	}
	var rec *record
	err := m.use(func() error {
		var err error
		rec, err = m.pg.start(id, riverJob, m.cfg.Now())
		return storeErr(err)
	})
	if err != nil || rec == nil {
		return nil, err
	}
	return m.begin(rec), nil
}

// workFetch is a River fetch job: download the URL job's input on this
// node (fetchOne). A fetch cut by this node's shutdown is snoozed: River
// hands the same job to a node again.
func (m *Manager) workFetch(ctx context.Context, id string, riverJob int64) error {
	if m.fetchCtx.Err() != nil {
		return river.JobSnooze(0)
	}
	var rec *record
	err := m.use(func() error {
		var err error
		rec, err = m.pg.takeFetch(id, riverJob)
		return storeErr(err)
	})
	switch {
	case errors.Is(err, ErrClosed):
		return river.JobSnooze(0)
	case err != nil:
		return err
	case rec == nil:
		return nil
	}
	fctx, cancel := context.WithCancel(m.fetchCtx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel) // River's cancel (Cancel on another node)
	defer stop()
	m.mu.Lock()
	m.fetching[id] = cancel
	m.mu.Unlock()
	m.fetchOne(fctx, rec)
	if m.fetchCtx.Err() != nil {
		return river.JobSnooze(0)
	}
	return nil
}

// heartbeat says every Config.heartbeat that this node is alive, and then
// reaps the jobs of dead ones, until the manager closes (or is silenced).
func (m *Manager) heartbeat() {
	defer m.bg.Done()
	t := time.NewTicker(m.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-m.bgStop:
			return
		case <-m.hush:
			return
		case <-t.C:
		}
		if err := m.use(m.store.ping); err != nil {
			m.log.Error("heartbeat failed", "err", err)
			continue
		}
		m.reap("")
	}
}

// reap settles the jobs held by dead nodes, and those held under this
// node's own name when self is it (a previous process's, at start).
func (m *Manager) reap(self string) {
	var held map[string]string
	err := m.use(func() error {
		var err error
		held, err = m.pg.heldBy(m.cfg.deadAfter, self)
		return err
	})
	if err != nil {
		m.log.Error("looking for dead nodes' jobs failed", "err", err)
		return
	}
	for id, node := range held {
		now := m.cfg.Now()
		why := fmt.Sprintf("node %s stopped answering while the job ran", node)
		var rec *record
		err := m.use(func() error {
			var err error
			rec, err = m.pg.change(id, func(rec *record, row *pgRow) error {
				if row.node != node {
					return errStale // taken up meanwhile
				}
				switch {
				case rec.State == StateRunning && rec.cancelRequested:
					return rec.cancelRunning(now, m.retention(rec))
				case rec.State == StateRunning:
					return rec.crashed(now, m.retention(rec), why)
				}
				row.node, row.redispatch = "", true // a fetch: again, elsewhere
				return nil
			})
			return err
		})
		if errors.Is(err, errStale) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
			continue
		}
		if err != nil {
			m.log.Error("settling a dead node's job failed", "job", id, "node", node, "err", err)
			continue
		}
		if rec.State.Final() {
			m.deleteResults(id)
			m.deleteBlob(inputKey(id))
		}
		m.log.Warn("recovered a job from a dead node", "job", id, "node", node, "state", rec.State, "attempts", rec.Attempts, "crashes", rec.Crashes)
		m.notify()
	}
}

// reporter writes the stage and progress of this node's running jobs to
// their rows when they changed, every progressEvery.
func (m *Manager) reporter() {
	defer m.bg.Done()
	type status struct {
		stage    Stage
		progress float64
	}
	last := map[string]status{}
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-m.bgStop:
			return
		case <-t.C:
		}
		now := map[string]status{}
		m.mu.Lock()
		for id, r := range m.runs {
			st, p := r.status()
			now[id] = status{st, p}
		}
		m.mu.Unlock()
		for id, s := range now {
			if last[id] == s {
				continue
			}
			if err := m.use(func() error { return m.pg.report(id, s.stage, s.progress) }); err != nil {
				m.log.Warn("reporting progress failed", "job", id, "err", err)
				continue
			}
			last[id] = s
		}
		for id := range last {
			if _, ok := now[id]; !ok {
				delete(last, id)
			}
		}
	}
}

// listener wakes Changed at every change announced on audex_changed, until
// the manager closes. While it is not listening (the connection broke) it
// wakes Changed every second instead, so no waiter sleeps through a change.
func (m *Manager) listener() {
	defer m.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-m.bgStop
		cancel()
	}()
	for ctx.Err() == nil {
		err := m.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("listening for job changes failed; retrying", "err", err)
		m.notify()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (m *Manager) listen(ctx context.Context) error {
	conn, err := m.pg.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection LISTENs: it goes back to no one.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "LISTEN "+changedChannel); err != nil {
		return err
	}
	m.notify() // changes before LISTEN took effect
	for {
		if _, err := pc.WaitForNotification(ctx); err != nil {
			return err
		}
		m.notify()
	}
}
