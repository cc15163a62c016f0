//go:build race

package worker

// raceEnabled reports a -race build, whose runtime needs far more address
// space than any sensible RLIMIT_AS allows.
const raceEnabled = true
