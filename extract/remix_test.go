package extract

import (
	"testing"

	"github.com/asticode/go-astiav"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBed stands in for FFmpeg's matrix: each bed channel to the output
// channel of the same name, else to the first output; it records the bed
// it was asked for.
func fakeBed(out []chanID, asked *uint64) bedMixer {
	return func(bedMask uint64) ([]float64, bool) {
		*asked = bedMask
		bed := maskChannels(bedMask)
		m := make([]float64, len(out)*len(bed))
		for j, c := range bed {
			o := 0
			for k, oc := range out {
				if oc == c {
					o = k
				}
			}
			m[o*len(bed)+j] = 1
		}
		return m, true
	}
}

func TestPlanRemix(t *testing.T) {
	t.Parallel()
	stereo := []chanID{chFL, chFR}
	for _, c := range []struct {
		name string
		in   []chanID
		nIn  int
		out  []chanID
		want []float64 // rows: outputs
		bed  uint64    // the bed FFmpeg's matrix was asked for, 0: not asked
	}{
		{name: "custom order put in order", in: []chanID{chFR, chFL}, out: stereo,
			want: []float64{0, 1, 1, 0}},
		{name: "subset routed (upmix leaves the rest silent)", in: []chanID{chFC}, out: []chanID{chFL, chFR, chFC},
			want: []float64{0, 0, 1}},
		{name: "asymmetric: made symmetric for FFmpeg", in: []chanID{chFL, chFR, chSL}, out: stereo,
			want: []float64{.5, 0, .5, 0, .5, 0}, bed: 1<<chFL | 1<<chFR | 1<<chSL | 1<<chSR}, // rows scaled to sum to 1
		{name: "no front: a silent centre added", in: []chanID{chBL, chBR}, out: []chanID{chFC},
			want: []float64{.5, .5}, bed: 1<<chFC | 1<<chBL | 1<<chBR},
		{name: "top and wide channels folded into the bed", in: []chanID{chFL, chFR, chTFL, chWR}, out: []chanID{chFC},
			want: []float64{0.25, 0.25, 0.25, 0.25}, bed: 1<<chFL | 1<<chFR},
		{name: "unknown positions with a default layout", in: nil, nIn: 3, out: stereo,
			want: []float64{.5, 0, .5, 0, .5, 0}, bed: 1<<chFL | 1<<chFR | 1<<chFC},
		{name: "unknown positions dealt out", in: nil, nIn: 5 + 5, out: stereo,
			want: []float64{.2, 0, .2, 0, .2, 0, .2, 0, .2, 0, 0, .2, 0, .2, 0, .2, 0, .2, 0, .2}},
		{name: "unknown positions dealt out past the LFE", in: nil, nIn: 9, out: []chanID{chFL, chFR, chFC, chLFE},
			want: []float64{
				1. / 3, 0, 0, 1. / 3, 0, 0, 1. / 3, 0, 0,
				0, 1. / 3, 0, 0, 1. / 3, 0, 0, 1. / 3, 0,
				0, 0, 1. / 3, 0, 0, 1. / 3, 0, 0, 1. / 3,
				0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{name: "a channel FFmpeg does not name: all mixed as unknown", in: []chanID{chFL, 0x300}, nIn: 2, out: []chanID{chFC},
			want: []float64{.5, .5}, bed: 1<<chFL | 1<<chFR},
		{name: "fewer unknown channels than outputs", in: nil, nIn: 9, out: []chanID{chFC},
			want: []float64{1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9, 1. / 9}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var asked uint64
			got := planRemix(c.in, c.nIn, c.out, fakeBed(c.out, &asked))
			require.Len(t, got, len(c.want))
			assert.InDeltaSlice(t, c.want, got, 1e-9)
			assert.Equal(t, c.bed, asked, "bed asked for")
		})
	}
}

func TestNeedsFold(t *testing.T) {
	t.Parallel()
	assert.False(t, needsFold([]chanID{chFL, chFR, chFC, chLFE, chBL, chBR, chSL, chSR}, []chanID{chFL, chFR}))
	assert.True(t, needsFold([]chanID{chFL, chFR, chTFL, chTFR}, []chanID{chFL, chFR}), "tops would be dropped")
	assert.False(t, needsFold([]chanID{chFL, chFR, chTFL, chTFR}, []chanID{chFL, chFR, chTFL, chTFR}), "tops kept")
}

// TestLayoutPointers guards the go-astiav struct layouts layout.go reads
// through unsafe: a ChannelLayout and a SoftwareResampleContext hold their C
// pointer as their only field.
func TestLayoutPointers(t *testing.T) {
	t.Parallel()
	assert.True(t, nativeLayout(1<<chFL|1<<chFR).Equal(astiav.ChannelLayoutStereo))
	assert.Equal(t, []chanID{chFL, chFR, chFC, chLFE, chBL, chBR, chSL, chSR}, layoutChannels(astiav.ChannelLayout7Point1))
	assert.Nil(t, layoutChannels(unknownLayout(3)))
	assert.Equal(t, 3, unknownLayout(3).Channels())
	assert.Equal(t, "3.0", defaultLayout(3).String(), "no front channel taken for an LFE")
	assert.Equal(t, "hexadecagonal", defaultLayout(16).String())
	assert.False(t, defaultLayout(10).Valid())
	assert.Equal(t, "stereo", sourceLayout(astiav.ChannelLayout{}, 2).String(), "count only: the default")
	assert.Equal(t, "10 channels", sourceLayout(astiav.ChannelLayout{}, 10).String(), "no default: the count")
	s := astiav.AllocSoftwareResampleContext()
	require.NotNil(t, s)
	defer s.Free()
	assert.NotNil(t, swrPtr(s))
}
