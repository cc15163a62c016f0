package jobs

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// recoverJobs runs before the runners start: it settles the jobs that were
// running when the previous process died and removes every file no live
// job needs. On a shared store the previous process is the one that ran
// under this node's name (the reaper settles other nodes' jobs), and only
// blobs older than sharedOrphanAge count as orphans.
func (m *Manager) recoverJobs() error {
	if m.pg != nil {
		m.reap(m.cfg.Node)
	} else if err := m.settleLocal(); err != nil {
		return err
	}
	rs, err := m.store.list()
	if err != nil {
		return storeErr(err)
	}
	live := map[string]bool{} // blob keys of live jobs
	queued := 0
	for _, r := range rs {
		switch {
		case r.State == StateQueued:
			live[inputKey(r.ID)] = true
			queued++
		case r.State == StateRunning: // on another node
			live[inputKey(r.ID)] = true
		case r.State == StateSucceeded && r.Result != nil:
			live[resultKey(r.ID, resultName(r.Result.Format))] = true
		}
	}
	removed := 0
	for _, e := range readDir(filepath.Join(m.dir, tmpDir)) {
		path := filepath.Join(m.dir, tmpDir, e.Name())
		if err := os.RemoveAll(path); err != nil {
			m.log.Error("removing an orphaned file failed", "path", path, "err", err)
			continue
		}
		removed++
	}
	// One process owns the blobs as it owns the store: every blob no live
	// job needs is an orphan (a partial result, a deleted job's input). On
	// a shared store, only an old one is: see sharedOrphanAge.
	var minAge time.Duration
	if m.pg != nil {
		minAge = sharedOrphanAge
	}
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	for _, prefix := range []string{inputsDir + "/", resultsDir + "/"} {
		bs, err := m.blobs.List(ctx, prefix)
		if err != nil {
			m.log.Error("listing blobs failed; orphans stay until the next start", "prefix", prefix, "err", err)
			continue
		}
		for _, b := range bs {
			if live[b.Key] || time.Since(b.ModTime) < minAge {
				continue
			}
			if err := m.blobs.Delete(ctx, b.Key); err != nil {
				m.log.Error("removing an orphaned blob failed", "key", b.Key, "err", err)
				continue
			}
			removed++
		}
	}
	if p, ok := m.blobs.(emptyPruner); ok {
		removed += p.pruneEmpty(resultsDir)
	}
	m.log.Info("job manager started", "jobs", len(rs), "queued", queued, "orphans_removed", removed)
	return nil
}

// settleLocal settles what a previous process that owned the embedded
// store left in flight: its running jobs crashed, its claims on
// notifications are released.
func (m *Manager) settleLocal() error {
	now := m.cfg.Now()
	rs, err := m.store.list()
	if err != nil {
		return storeErr(err)
	}
	for _, r := range rs {
		if r.State != StateRunning {
			continue
		}
		rec, err := m.store.update(r.ID, func(rec *record) error {
			return rec.crashed(now, m.retention(rec), "the process died while the job was running")
		})
		if err != nil {
			return storeErr(err)
		}
		m.log.Warn("recovered a job interrupted by a crash", "job", r.ID, "state", rec.State, "attempts", rec.Attempts)
	}
	// One process owns the store: a claim on a notification is a claim of
	// the process that died. Release it rather than wait for it to run out.
	// (On a shared store claims run out.)
	for _, r := range rs {
		if r.Notice == nil || r.Notice.State != NotificationPending || r.Notice.Claim == "" {
			continue
		}
		if _, err := m.store.update(r.ID, func(rec *record) error { return rec.releaseNotice("") }); err != nil {
			return storeErr(err)
		}
		m.log.Warn("recovered a notification attempt interrupted by a crash", "job", r.ID, "notification", r.Notice.ID)
	}
	return nil
}

func readDir(dir string) []os.DirEntry {
	es, _ := os.ReadDir(dir)
	return es
}

func (m *Manager) sweeper() {
	defer close(m.sweepDone)
	t := time.NewTicker(m.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-m.sweepStop:
			return
		case <-t.C:
			m.sweepTurn()
		}
	}
}

// sweepTurn sweeps, and reports whether it did: on a shared store one node
// sweeps at a time (a PostgreSQL advisory lock), and the others skip their
// turn.
func (m *Manager) sweepTurn() bool {
	if m.pg == nil {
		m.sweep()
		return true
	}
	swept, err := m.pg.alone(lockSweep, m.sweep)
	if err != nil {
		m.log.Error("sweep: taking the sweep lock failed", "err", err)
	}
	return swept
}

// sweep deletes the files of expired results and forgets records past their
// grace.
func (m *Manager) sweep() {
	now := m.cfg.Now()
	rs, err := m.store.list()
	if err != nil {
		m.log.Error("sweep: listing jobs failed", "err", err)
		return
	}
	for _, r := range rs {
		switch {
		case r.forgotten(now, m.cfg.ExpiredGrace):
			if err := m.store.remove(r.ID); err != nil {
				m.log.Error("sweep: removing a job failed", "job", r.ID, "err", err)
				continue
			}
			m.removeFiles(r.ID)
			m.log.Info("job forgotten", "job", r.ID)
		case r.stateAt(now) == StateExpired && r.State == StateSucceeded:
			if _, err := m.store.update(r.ID, func(rec *record) error { return rec.expire(now) }); err != nil {
				m.log.Error("sweep: expiring a job failed", "job", r.ID, "err", err)
				continue
			}
			m.deleteResults(r.ID)
			m.log.Info("job expired", "job", r.ID)
		}
	}
}
