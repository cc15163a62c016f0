//go:build race

package isolate

// raceEnabled reports a -race build, whose runtime maps far more memory
// than any sensible memory cap allows.
const raceEnabled = true
