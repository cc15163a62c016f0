package jobs

import "runtime"

// cores is the extract.Options.Parallelism of a job starting now (see
// attempt): see parallelism. Runs registered (m.runs) include this one.
func (m *Manager) cores() int {
	m.mu.Lock()
	running := len(m.runs)
	m.mu.Unlock()
	return parallelism(m.cfg.Workers, running, runtime.GOMAXPROCS(0))
}

// parallelism is how many encoders a job may use when running jobs of
// workers runners are running (itself included): its own, and one more
// for each idle runner, up to procs. A long output then takes the cores
// idle runners leave, and with every runner busy each job keeps to one
// encoder, so throughput at saturation is what it was. (A job that took
// idle cores keeps them when jobs arrive after it: for at most its own
// length the machine has a few encoders more than cores.)
func parallelism(workers, running, procs int) int {
	return max(min(1+workers-running, procs), 1)
}
