package extract

// How channels are mixed when FFmpeg's resampler cannot or would not do it
// well by itself, in pure Go (the FFmpeg calls are in layout.go). FFmpeg's
// resampler mixes only layouts in its native order, symmetric, with a front
// channel, and of the channels it knows how to fold (front, centre, LFE,
// side, back) it drops the rest (top, wide, ...) in a downmix. Everything
// else gets an explicit matrix from planRemix.

// chanID is a channel as FFmpeg numbers it (enum AVChannel).
type chanID int

const (
	chFL, chFR, chFC, chLFE, chBL, chBR, chFLC, chFRC, chBC, chSL, chSR chanID = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
	chTC, chTFL, chTFC, chTFR, chTBL, chTBC, chTBR                      chanID = 11, 12, 13, 14, 15, 16, 17
	chStereoL, chStereoR, chWL, chWR, chSDL, chSDR, chLFE2              chanID = 29, 30, 31, 32, 33, 34, 35
	chTSL, chTSR, chBFC, chBFL, chBFR, chSSL, chSSR, chTSuL, chTSuR     chanID = 36, 37, 38, 39, 40, 41, 42, 43, 44
)

// bedChannels are those FFmpeg's downmix rules place: the others are dropped
// from a downmix unless folded into one of these first.
const bedChannels = 1<<chFL | 1<<chFR | 1<<chFC | 1<<chLFE | 1<<chBL | 1<<chBR |
	1<<chFLC | 1<<chFRC | 1<<chBC | 1<<chSL | 1<<chSR

// foldTo is the bed channel nearest each other known channel.
var foldTo = map[chanID]chanID{
	chTC: chFC, chTFL: chFL, chTFC: chFC, chTFR: chFR, chTBL: chBL, chTBC: chBC, chTBR: chBR,
	chStereoL: chFL, chStereoR: chFR, chWL: chFL, chWR: chFR, chSDL: chSL, chSDR: chSR,
	chLFE2: chLFE, chTSL: chSL, chTSR: chSR, chBFC: chFC, chBFL: chFL, chBFR: chFR,
	chSSL: chSL, chSSR: chSR, chTSuL: chSL, chTSuR: chSR,
}

// defaultMasks are audex's layouts for channels of unknown positions, by
// count: WAVE's channel order (FL FR FC LFE, then back or side pairs), so
// that no front channel is taken for an LFE. FFmpeg's own default for three
// is 2.1, whose third channel a downmix drops.
var defaultMasks = map[int]uint64{
	1: 1 << chFC,
	2: 1<<chFL | 1<<chFR,
	3: 1<<chFL | 1<<chFR | 1<<chFC,                                                    // 3.0
	4: 1<<chFL | 1<<chFR | 1<<chBL | 1<<chBR,                                          // quad
	5: 1<<chFL | 1<<chFR | 1<<chFC | 1<<chSL | 1<<chSR,                                // 5.0(side)
	6: 1<<chFL | 1<<chFR | 1<<chFC | 1<<chLFE | 1<<chSL | 1<<chSR,                     // 5.1(side)
	7: 1<<chFL | 1<<chFR | 1<<chFC | 1<<chLFE | 1<<chBC | 1<<chSL | 1<<chSR,           // 6.1
	8: 1<<chFL | 1<<chFR | 1<<chFC | 1<<chLFE | 1<<chBL | 1<<chBR | 1<<chSL | 1<<chSR, // 7.1
	16: 1<<chFL | 1<<chFR | 1<<chFC | 1<<chBL | 1<<chBR | 1<<chBC | 1<<chSL | 1<<chSR | 1<<chTFL | // hexadecagonal
		1<<chTFC | 1<<chTFR | 1<<chTBL | 1<<chTBC | 1<<chTBR | 1<<chWL | 1<<chWR,
}

// maskChannels lists the channels of a native-order mask, in order.
func maskChannels(mask uint64) []chanID {
	var ids []chanID
	for c := chanID(0); c < 64; c++ {
		if mask&(1<<c) != 0 {
			ids = append(ids, c)
		}
	}
	return ids
}

// maskOf is the native mask of a list of channels, false when one is not a
// named channel below 64 or is there twice (a custom order FFmpeg cannot
// express natively).
func maskOf(ids []chanID) (uint64, bool) {
	var m uint64
	for _, c := range ids {
		if c < 0 || c >= 64 || m&(1<<c) != 0 {
			return 0, false
		}
		m |= 1 << c
	}
	return m, ids != nil
}

// needsFold reports whether a downmix by FFmpeg's rules would drop one of
// the in channels: it is neither a bed channel nor in out.
func needsFold(in, out []chanID) bool {
	outMask, _ := maskOf(out)
	for _, c := range in {
		if c >= 0 && c < 64 && (bedChannels|outMask)&(1<<c) != 0 {
			continue
		}
		return true
	}
	return false
}

// bedMixer returns FFmpeg's own downmix matrix from the native layout of
// bedMask to the output (rows: output channels; columns: the bed's channels
// in order), or false when it has none.
type bedMixer func(bedMask uint64) ([]float64, bool)

// planRemix is the matrix (nOut rows of len(in) or nIn columns) that mixes
// input channels in (nil: positions unknown) to out:
//   - every input channel is in the output: each goes to its place;
//   - positions known: channels FFmpeg's rules drop are folded into the
//     nearest bed channel, the bed is made symmetric (with a silent front
//     centre if it has no front), and FFmpeg's matrix for that bed is used;
//   - positions unknown: audex's layout for the count is assumed (see
//     defaultMasks), else the channels are dealt out in turn to the outputs
//     but an LFE (even to the left, odd to the right of a stereo output)
//     and averaged.
//
// No output row sums to more than 1, so nothing clips that did not before.
func planRemix(in []chanID, nIn int, out []chanID, bed bedMixer) []float64 {
	nOut := len(out)
	_, known := maskOf(in)
	if known {
		nIn = len(in)
	} else if d, ok := defaultMasks[nIn]; ok {
		in, known = maskChannels(d), true
	}
	m := make([]float64, nOut*nIn)
	outIndex := map[chanID]int{}
	for o, c := range out {
		outIndex[c] = o
	}
	if known {
		routed := true
		for _, c := range in {
			if _, ok := outIndex[c]; !ok {
				routed = false
			}
		}
		if routed {
			for i, c := range in {
				m[outIndex[c]*nIn+i] = 1
			}
			return m
		}
		folded := make([]chanID, nIn)
		var bedMask uint64
		for i, c := range in {
			f, ok := c, true
			if _, inOut := outIndex[c]; !inOut && bedChannels&(1<<c) == 0 {
				f, ok = foldTo[c]
			}
			if !ok {
				known = false // a channel with no place: mix as unknown
				break
			}
			folded[i] = f
			bedMask |= 1 << f
		}
		if known {
			for _, p := range [][2]chanID{{chFL, chFR}, {chSL, chSR}, {chBL, chBR}, {chFLC, chFRC}} {
				if bedMask&(1<<p[0]|1<<p[1]) != 0 {
					bedMask |= 1<<p[0] | 1<<p[1]
				}
			}
			if bedMask&(1<<chFL|1<<chFR|1<<chFC) == 0 {
				bedMask |= 1 << chFC
			}
			if bm, ok := bed(bedMask); ok {
				bedIDs := maskChannels(bedMask)
				col := map[chanID]int{}
				for j, c := range bedIDs {
					col[c] = j
				}
				for o := range nOut {
					for i, f := range folded {
						m[o*nIn+i] = bm[o*len(bedIDs)+col[f]]
					}
				}
				return normalizeRows(m, nOut, nIn)
			}
		}
		clear(m)
	}
	// Dealt out to every output but an LFE (which encoders low-pass).
	var to []int
	for o, c := range out {
		if c != chLFE && c != chLFE2 {
			to = append(to, o)
		}
	}
	if len(to) == 0 {
		for o := range nOut {
			to = append(to, o)
		}
	}
	count := make([]int, nOut)
	for i := range nIn {
		count[to[i%len(to)]]++
	}
	for i := range nIn {
		o := to[i%len(to)]
		m[o*nIn+i] = 1 / float64(count[o])
	}
	return m
}

// normalizeRows scales m down so that no row's weights sum to more than 1.
func normalizeRows(m []float64, rows, cols int) []float64 {
	worst := 0.0
	for o := range rows {
		s := 0.0
		for _, v := range m[o*cols : (o+1)*cols] {
			s += max(v, -v)
		}
		worst = max(worst, s)
	}
	if worst > 1 {
		for i := range m {
			m[i] /= worst
		}
	}
	return m
}
