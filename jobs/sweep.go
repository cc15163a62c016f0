package jobs

import (
	"context"
	"os"
	"path/filepath"
	"time"
)

// recoverJobs runs before the runners start: it settles the jobs that were
// running when the previous process died and removes every file no live
// job needs.
func (m *Manager) recoverJobs() error {
	now := m.cfg.Now()
	rs, err := m.store.list()
	if err != nil {
		return storeErr(err)
	}
	for i, r := range rs {
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
		rs[i] = rec
	}
	// One process owns the store: a claim on a notification is a claim of
	// the process that died. Release it rather than wait for it to run out.
	// (A store shared by many processes would leave claims to run out.)
	for i, r := range rs {
		if r.Notice == nil || r.Notice.State != NotificationPending || r.Notice.Claim == "" {
			continue
		}
		rec, err := m.store.update(r.ID, func(rec *record) error { return rec.releaseNotice("") })
		if err != nil {
			return storeErr(err)
		}
		m.log.Warn("recovered a notification attempt interrupted by a crash", "job", r.ID, "notification", r.Notice.ID)
		rs[i] = rec
	}
	live := map[string]bool{} // blob keys of live jobs
	queued := 0
	for _, r := range rs {
		switch {
		case r.State == StateQueued:
			live[inputKey(r.ID)] = true
			queued++
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
	// job needs is an orphan (a partial result, a deleted job's input).
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	for _, prefix := range []string{inputsDir + "/", resultsDir + "/"} {
		bs, err := m.blobs.List(ctx, prefix)
		if err != nil {
			m.log.Error("listing blobs failed; orphans stay until the next start", "prefix", prefix, "err", err)
			continue
		}
		for _, b := range bs {
			if live[b.Key] {
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
			m.sweep()
		}
	}
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
