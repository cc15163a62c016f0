package jobs

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParallelism(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ workers, running, procs, want int }{
		{4, 1, 4, 4},  // alone on the machine: every core
		{4, 2, 4, 3},  // one other job: the idle runners' cores
		{4, 4, 4, 1},  // every runner busy: one encoder, as before
		{8, 1, 2, 2},  // more runners than cores: no more than the cores
		{2, 3, 2, 1},  // more runs than runners (a run still ending): one
		{-1, 1, 4, 1}, // NoWorkers (a River worker runs the job): one encoder
	} {
		assert.Equal(t, c.want, parallelism(c.workers, c.running, c.procs), "%+v", c)
	}
}

// TestCores: what a job's attempt passes as Parallelism counts the runs
// registered, its own included.
func TestCores(t *testing.T) {
	t.Parallel()
	procs := runtime.GOMAXPROCS(0)
	m := &Manager{cfg: Config{Workers: procs + 1}, runs: map[string]*run{"a": {}}}
	assert.Equal(t, procs, m.cores(), "alone: every core")
	for i := range procs {
		m.runs[string(rune('b'+i))] = &run{}
	}
	assert.Equal(t, 1, m.cores(), "every runner busy")
}
