//go:build race

package httpapi

// raceEnabled: memory bounds do not hold under the race detector.
const raceEnabled = true
