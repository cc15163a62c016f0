package extract

//#cgo pkg-config: libswresample libavutil
//#include <math.h>
//#include <stdint.h>
//#include <libavutil/channel_layout.h>
//#include <libavutil/frame.h>
//#include <libavutil/mem.h>
//#include <libavutil/opt.h>
//#include <libswresample/swresample.h>
//
//static int audex_layout_order(const AVChannelLayout *l) { return l->order; }
//static int audex_layout_channel(const AVChannelLayout *l, int i) {
//	return av_channel_layout_channel_from_index(l, i);
//}
//static void audex_layout_from_mask(AVChannelLayout *l, uint64_t mask) {
//	av_channel_layout_from_mask(l, mask);
//}
//static void audex_layout_unspec(AVChannelLayout *l, int n) {
//	l->order = AV_CHANNEL_ORDER_UNSPEC;
//	l->nb_channels = n;
//}
//// FFmpeg's own downmix matrix from in to out (out rows of in->nb_channels
//// columns), or a negative error where its rules refuse the pair.
//// Normalized so that nothing clips. swr_build_matrix2 scales all 64x64
//// entries at its stride, so it gets a buffer of that size.
//static int audex_swr_matrix(const AVChannelLayout *in, const AVChannelLayout *out, double *m) {
//	int ni = in->nb_channels, no = out->nb_channels;
//	if (ni > 64 || no > 64) return AVERROR(EINVAL);
//	double *full = av_calloc(64 * 64, sizeof(double));
//	if (!full) return AVERROR(ENOMEM);
//	int ret = swr_build_matrix2(in, out, M_SQRT1_2, M_SQRT1_2, 0, 1.0, 1.0, full, 64,
//	                            AV_MATRIX_ENCODING_NONE, NULL);
//	if (ret >= 0 && m)
//		for (int o = 0; o < no; o++)
//			for (int i = 0; i < ni; i++)
//				m[o * ni + i] = full[o * 64 + i];
//	av_free(full);
//	return ret;
//}
//static int audex_swr_can_mix(const AVChannelLayout *in, const AVChannelLayout *out) {
//	return audex_swr_matrix(in, out, NULL) >= 0;
//}
//// Gives a resampler that is not initialized yet an explicit matrix from in
//// to out (out rows of in->nb_channels columns).
//static int audex_swr_set_matrix(SwrContext *s, const AVChannelLayout *in, const AVChannelLayout *out, const double *m) {
//	int ret;
//	if ((ret = av_opt_set_chlayout(s, "ichl", in, 0)) < 0) return ret;
//	if ((ret = av_opt_set_chlayout(s, "ochl", out, 0)) < 0) return ret;
//	return swr_set_matrix(s, m, in->nb_channels);
//}
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

// go-astiav v0.39.0 builds channel layouts only from its named constants and
// hands out no C pointers for them, for resamplers or for frames' layouts;
// its ChannelLayout and SoftwareResampleContext structs hold exactly the C
// pointer as their only field (TestLayoutPointers fails if that changes).

func layoutPtr(l astiav.ChannelLayout) *C.AVChannelLayout {
	return (*C.AVChannelLayout)(*(*unsafe.Pointer)(unsafe.Pointer(&l)))
}

func layoutOf(c *C.AVChannelLayout) astiav.ChannelLayout {
	var l astiav.ChannelLayout
	*(*unsafe.Pointer)(unsafe.Pointer(&l)) = unsafe.Pointer(c)
	return l
}

func swrPtr(s *astiav.SoftwareResampleContext) *C.SwrContext {
	return *(**C.SwrContext)(unsafe.Pointer(s))
}

// nativeLayout is the layout of the channels in mask, in FFmpeg's order.
func nativeLayout(mask uint64) astiav.ChannelLayout {
	c := new(C.AVChannelLayout)
	C.audex_layout_from_mask(c, C.uint64_t(mask))
	return layoutOf(c)
}

// unknownLayout is n channels of unknown positions.
func unknownLayout(n int) astiav.ChannelLayout {
	c := new(C.AVChannelLayout)
	C.audex_layout_unspec(c, C.int(n))
	return layoutOf(c)
}

// defaultLayout is audex's layout for n channels of unknown positions (see
// defaultMasks), or the zero (invalid) layout where there is none.
func defaultLayout(n int) astiav.ChannelLayout {
	if m, ok := defaultMasks[n]; ok {
		return nativeLayout(m)
	}
	return astiav.ChannelLayout{}
}

// layoutChannels lists l's channels, or nil when their positions are
// unknown (an unspecified order, or an invalid layout).
func layoutChannels(l astiav.ChannelLayout) []chanID {
	p := layoutPtr(l)
	if p == nil || !l.Valid() || C.audex_layout_order(p) == C.AV_CHANNEL_ORDER_UNSPEC {
		return nil
	}
	ids := make([]chanID, l.Channels())
	for i := range ids {
		ids[i] = chanID(C.audex_layout_channel(p, C.int(i)))
	}
	return ids
}

// sourceLayout is the layout a source's channels are taken to have: the
// channels FFmpeg names, in its native order (a custom order is put in
// order by the mix); where their positions are unknown, audex's default
// layout for the count, or the count alone. fallback is the count to
// assume when l has none.
func sourceLayout(l astiav.ChannelLayout, fallback int) astiav.ChannelLayout {
	n := l.Channels()
	if !l.Valid() || n == 0 {
		n = fallback
	} else if mask, ok := maskOf(layoutChannels(l)); ok {
		return nativeLayout(mask)
	}
	if d := defaultLayout(n); d.Valid() {
		return d
	}
	return unknownLayout(n)
}

// fixLayout gives a frame whose channels' positions are unknown audex's
// default layout for their count, where there is one (the resampler is
// then told the same as the encoder was).
func fixLayout(f *astiav.Frame) {
	l := f.ChannelLayout()
	if p := layoutPtr(l); p == nil || C.audex_layout_order(p) != C.AV_CHANNEL_ORDER_UNSPEC {
		return
	}
	if d := defaultLayout(l.Channels()); d.Valid() {
		f.SetChannelLayout(d)
	}
}

// prepareRemix gives a fresh resampler an explicit matrix (see planRemix)
// when FFmpeg's own rules cannot mix f's layout to out (a custom order, an
// asymmetric layout, no front channel, channels of unknown positions) or
// would drop some of its channels (top, wide, ...). Otherwise the resampler
// mixes by itself, as it always has.
func prepareRemix(s *astiav.SoftwareResampleContext, f *astiav.Frame, out astiav.ChannelLayout) error {
	in := f.ChannelLayout()
	if in.Equal(out) {
		return nil
	}
	inIDs, outIDs := layoutChannels(in), layoutChannels(out)
	if _, known := maskOf(inIDs); known && !needsFold(inIDs, outIDs) &&
		C.audex_swr_can_mix(layoutPtr(in), layoutPtr(out)) != 0 {
		return nil
	}
	if in.Channels() > 64 || out.Channels() > 64 {
		return fmt.Errorf("%w: %d channels (FFmpeg's resampler mixes at most 64)", ErrUnsupportedInput, in.Channels())
	}
	m := planRemix(inIDs, in.Channels(), outIDs, func(bedMask uint64) ([]float64, bool) {
		bed := nativeLayout(bedMask)
		bm := make([]float64, bed.Channels()*out.Channels())
		ok := C.audex_swr_matrix(layoutPtr(bed), layoutPtr(out), (*C.double)(unsafe.Pointer(&bm[0]))) >= 0
		return bm, ok
	})
	if err := avErr(int(C.audex_swr_set_matrix(swrPtr(s), layoutPtr(in), layoutPtr(out), (*C.double)(unsafe.Pointer(&m[0]))))); err != nil {
		return fmt.Errorf("resample: mixing %s to %s: %w", in, out, err)
	}
	return nil
}
