package extract

import "time"

// SetSegments sets the segment length and the shortest output cut into
// segments, and caps every pre-roll at half a segment (so that a clip of
// a few seconds still has splices in every format); only before any
// extraction starts (TestMain).
func SetSegments(length, shortest time.Duration) {
	segmentLength, segmentMin = length, shortest
	for f, sp := range specs {
		sp.splice.preroll = min(sp.splice.preroll, length/2)
		specs[f] = sp
	}
}
