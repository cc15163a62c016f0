package jobs

import (
	"os"
	"path/filepath"
	"time"
)

// recoverJobs runs before the workers start: it settles the jobs that were
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
	queued := map[string]bool{}
	results := map[string]string{} // id -> result file name
	for _, r := range rs {
		switch {
		case r.State == StateQueued:
			queued[r.ID] = true
		case r.State == StateSucceeded && r.Result != nil:
			results[r.ID] = resultName(r.Result.Format)
		}
	}
	removed := 0
	remove := func(path string) {
		if err := os.RemoveAll(path); err != nil {
			m.log.Error("removing an orphaned file failed", "path", path, "err", err)
			return
		}
		removed++
	}
	for _, e := range readDir(filepath.Join(m.dir, tmpDir)) {
		remove(filepath.Join(m.dir, tmpDir, e.Name()))
	}
	for _, e := range readDir(filepath.Join(m.dir, inputsDir)) {
		if !queued[e.Name()] {
			remove(filepath.Join(m.dir, inputsDir, e.Name()))
		}
	}
	for _, e := range readDir(filepath.Join(m.dir, resultsDir)) {
		dir := filepath.Join(m.dir, resultsDir, e.Name())
		name, ok := results[e.Name()]
		if !ok || !e.IsDir() {
			remove(dir)
			continue
		}
		for _, f := range readDir(dir) {
			if f.Name() != name {
				remove(filepath.Join(dir, f.Name()))
			}
		}
	}
	m.log.Info("job manager started", "jobs", len(rs), "queued", len(queued), "orphans_removed", removed)
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
			os.RemoveAll(filepath.Join(m.dir, resultsDir, r.ID))
			m.log.Info("job expired", "job", r.ID)
		}
	}
}
