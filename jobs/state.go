package jobs

import "fmt"

// State is where a job is in its life.
type State string

// The job states. Queued and running jobs are live; the others are final.
const (
	// StateQueued: accepted and durably recorded, waiting for a runner (a
	// URL job: first for its input, stage fetching).
	StateQueued State = "queued"
	// StateRunning: a runner is extracting or storing it.
	StateRunning State = "running"
	// StateSucceeded: the result file is ready.
	StateSucceeded State = "succeeded"
	// StateFailed: the job ended with an error (see Job.Error).
	StateFailed State = "failed"
	// StateCanceled: canceled by Cancel or Delete.
	StateCanceled State = "canceled"
	// StateExpired: the job succeeded, but its result has passed its
	// retention and the file is (or is about to be) deleted.
	StateExpired State = "expired"
)

var states = []State{StateQueued, StateRunning, StateSucceeded, StateFailed, StateCanceled, StateExpired}

// String returns the state's name.
func (s State) String() string { return string(s) }

// ParseState parses a state name such as "running".
func ParseState(s string) (State, error) {
	for _, st := range states {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: unknown job state %q", ErrInvalidRequest, s)
}

// Final reports whether the state is one a job never leaves on its own:
// succeeded, failed, canceled or expired. (A succeeded job still turns
// expired when its retention ends.)
func (s State) Final() bool {
	switch s {
	case StateSucceeded, StateFailed, StateCanceled, StateExpired:
		return true
	}
	return false
}

// Stage is what a job is doing. Queued jobs are in StageFetching (URL jobs
// whose input is being downloaded) then StageQueued, running ones move
// through probing, extracting and storing, and final jobs are in StageDone.
type Stage string

// The job stages.
const (
	StageQueued     Stage = "queued"
	StageFetching   Stage = "fetching"
	StageProbing    Stage = "probing"
	StageExtracting Stage = "extracting"
	StageStoring    Stage = "storing"
	StageDone       Stage = "done"
)

// String returns the stage's name.
func (s Stage) String() string { return string(s) }
